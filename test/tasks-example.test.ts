/**
 * The task-manager example (examples/tasks) as a user meets it: two instances, each in its own
 * terminal (tmux panes on a private tmux server), sync directly as peers over 127.0.0.1. A task made
 * in one shows in the other; one goes offline, both edit, it comes back, and both show the same list.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { Repository } from '../src/index.ts';
import { tempDir } from './support/cli.ts';
import { editWhileApart, freePort, hasTmux, killTmuxServer, shows, Terminal } from './support/terminal.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MAIN = join(ROOT, 'examples/tasks/main.ts');
const SOCKET = `ddcp-tasks-test-${process.pid}`;

/** One task manager in its own terminal. */
const taskManager = (name: string, args: string[]): Terminal => new Terminal(SOCKET, name, ROOT, [process.execPath, '--disable-warning=ExperimentalWarning', MAIN, ...args]);

describe('the task-manager example\'s command line', () => {
  const run = (args: string[]) => spawnSync(process.execPath, ['--disable-warning=ExperimentalWarning', MAIN, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });

  it('--help (and -h) prints the usage on standard output, exit 0; without DIR it is a usage error, exit 2', () => {
    for (const flag of ['--help', '-h']) {
      const r = run([flag]);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /^usage: node examples\/tasks\/main\.ts DIR .*--author NAME/);
      assert.equal(r.stderr, '');
    }
    const bare = run([]);
    assert.equal(bare.status, 2);
    assert.equal(bare.stdout, '');
    assert.match(bare.stderr, /^usage: node examples\/tasks\/main\.ts DIR /);
  });
});

describe('the task-manager example', { skip: hasTmux ? false : 'tmux is not installed' }, () => {
  after(() => {
    killTmuxServer(SOCKET); // ends both programs
  });

  it('two instances sync as peers, live; one goes offline, both edit, and they converge', async () => {
    const root = tempDir('ddcp-tasks-');
    const dirs = { ann: join(root, 'ann'), bob: join(root, 'bob') };
    const ids: Record<string, string> = {};
    for (const [who, dir] of Object.entries(dirs)) {
      const repo = await Repository.init(dir);
      ids[who] = repo.address;
      repo.close();
    }
    const ports = { ann: await freePort(), bob: await freePort() };
    const at = (who: 'ann' | 'bob'): string => `/ip4/127.0.0.1/tcp/${ports[who]}/p2p/${ids[who]}`;
    const ann = taskManager('ann', [dirs.ann, '--listen', `/ip4/127.0.0.1/tcp/${ports.ann}`, '--peer', at('bob')]);
    const bob = taskManager('bob', [dirs.bob, '--listen', `/ip4/127.0.0.1/tcp/${ports.bob}`, '--peer', at('ann')]);
    await ann.until(shows('online · 1 peer', 'press a', 'peer1: online'), 'ann online with bob');
    await bob.until(shows('online · 1 peer', 'press a', 'peer1: online'), 'bob online with ann');

    // made in one, live in the other
    await ann.addTask('Buy milk', { description: 'two litres', tags: 'home, shop' });
    await ann.until(shows('[ ] !!  Buy milk #home #shop'), 'the task in ann');
    await bob.until(shows('[ ] !!  Buy milk #home #shop'), 'the task arriving at bob');

    // bob goes offline and edits; ann edits the same task (another field) and adds one
    bob.keys('o');
    await bob.until(shows('○ offline'), 'bob offline');
    await ann.until(shows('online · 0 peers', 'peer1: reconnecting'), 'ann seeing bob gone');
    await editWhileApart(ann, bob);

    // back online: both edits of the one task survive, both new tasks arrive, the lists are equal
    bob.keys('o');
    const converged = shows('[~] !!! Buy milk #home #shop', '[ ] !!  Offline task', '[ ] !!  From ann');
    await bob.until(converged, 'bob converged');
    await ann.until(converged, 'ann converged');
    await ann.until(shows('peer1: online'), 'ann following bob again');
    assert.deepEqual(ann.list(), bob.list());
    assert.equal(ann.list().length, 3);

    ann.keys('q');
    bob.keys('q');
    await ann.until(shows('EXITED 0'), 'ann quitting cleanly');
    await bob.until(shows('EXITED 0'), 'bob quitting cleanly');
  });
});
