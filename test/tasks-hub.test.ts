/**
 * The task-manager example (examples/tasks) through a real hub, as a user meets it: a `ddcp hub serve`
 * process, and two instances — ann's and bob's, each with a user token the app's backend minted —
 * in their own terminals (tmux), both with `--peer ws://HUB/tasks`. A task made in one shows in the
 * other; one goes offline, both edit, it comes back; then the hub itself stops, both edit, the hub
 * restarts on the same port, and both converge and show the same list.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { signAdminRequest } from '../src/hub/auth/hmac.ts';
import { ddcpAsync, tempDir } from './support/cli.ts';
import { serveHub } from './support/hub-serve.ts';
import { editWhileApart, freePort, hasTmux, killTmuxServer, shows, Terminal } from './support/terminal.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MAIN = join(ROOT, 'examples/tasks/main.ts');
const SOCKET = `ddcp-tasks-hub-test-${process.pid}`;

/** `ddcp hub serve` on `port` with the data folder `hub` in `dir`, once it listens. */
const hubServe = async (dir: string, port: number) => (await serveHub(dir, ['--data', 'hub'], { listen: `127.0.0.1:${port}` })).child;

describe('the task-manager example through a hub', { skip: hasTmux ? false : 'tmux is not installed' }, () => {
  after(() => {
    killTmuxServer(SOCKET); // ends both programs
  });

  it('two instances sync through a real hub, live; one goes offline, then the hub restarts; both converge', async () => {
    const root = tempDir('ddcp-tasks-hub-');
    const created = await ddcpAsync(root, ['hub', 'credentials', 'create', '--name', 'tasks', '--data', 'hub', '--json']);
    assert.equal(created.code, 0, created.stderr);
    const app = JSON.parse(created.stdout) as { key: string; secret: string };
    const port = await freePort();
    let hub = await hubServe(root, port);
    const http = `http://127.0.0.1:${port}`;
    const db = `ws://127.0.0.1:${port}/tasks`;
    /** A user token for `email`, as the app's backend gets one (a signed admin call). */
    const tokenOf = async (email: string): Promise<string> => {
      const res = await fetch(`${http}/auth/token`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json', ...signAdminRequest({ apiKey: app.key, secret: app.secret, email, body: '{}' }) } });
      assert.equal(res.status, 200, await res.clone().text());
      return ((await res.json()) as { token: string }).token;
    };
    const tokens = { ann: await tokenOf('ann'), bob: await tokenOf('bob') };
    const instance = (who: 'ann' | 'bob'): Terminal =>
      new Terminal(SOCKET, who, ROOT, [process.execPath, '--disable-warning=ExperimentalWarning', MAIN, join(root, who), '--listen', '/ip4/127.0.0.1/tcp/0', '--peer', db, '--token', tokens[who]]);

    // ann's session creates the database (hers: it pushes); she shares it with bob
    const ann = instance('ann');
    await ann.until(shows('online · 1 peer', 'press a'), 'ann online with the hub');
    const shared = await fetch(`${http}/v1/databases/tasks/shares/bob`, { method: 'PUT', headers: { authorization: `Bearer ${tokens.ann}` }, body: JSON.stringify({ read: 'all', write: 'all' }) });
    assert.equal(shared.status, 200, await shared.text());
    const bob = instance('bob');
    await bob.until(shows('online · 1 peer', 'press a'), 'bob online with the hub');

    // made in one, live in the other
    await ann.addTask('Buy milk', { description: 'two litres', tags: 'home, shop' });
    await ann.until(shows('[ ] !!  Buy milk #home #shop'), 'the task in ann');
    await bob.until(shows('[ ] !!  Buy milk #home #shop'), 'the task arriving at bob through the hub');

    // bob goes offline and edits; ann edits the same task (another field) and adds one
    bob.keys('o');
    await bob.until(shows('○ offline'), 'bob offline');
    await editWhileApart(ann, bob);

    // back online: both edits of the one task survive, both new tasks arrive, the lists are equal
    bob.keys('o');
    const converged = shows('[~] !!! Buy milk #home #shop', '[ ] !!  Offline task', '[ ] !!  From ann');
    await bob.until(converged, 'bob converged');
    await ann.until(converged, 'ann converged');
    assert.deepEqual(ann.list(), bob.list());

    // the hub goes away: both keep working, and edit
    hub.kill('SIGTERM');
    assert.deepEqual(await once(hub, 'exit'), [0, null]);
    await ann.until(shows('online · 0 peers'), 'ann seeing the hub gone');
    await bob.until(shows('online · 0 peers'), 'bob seeing the hub gone');
    await ann.addTask('While the hub was down');
    bob.keys('Space'); // the selected task (the first, "Buy milk") done
    await bob.until(shows('[x] !!! Buy milk'), "bob's done mark made without the hub");

    // the hub is back on the same port (its data kept): both reconnect and converge
    hub = await hubServe(root, port);
    const again = shows('[x] !!! Buy milk #home #shop', '[ ] !!  Offline task', '[ ] !!  From ann', '[ ] !!  While the hub was down');
    await ann.until(again, 'ann converged after the hub came back');
    await bob.until(again, 'bob converged after the hub came back');
    assert.deepEqual(ann.list(), bob.list());
    assert.equal(ann.list().length, 4);

    ann.keys('q');
    bob.keys('q');
    await ann.until(shows('EXITED 0'), 'ann quitting cleanly');
    await bob.until(shows('EXITED 0'), 'bob quitting cleanly');
    hub.kill('SIGTERM');
    await once(hub, 'exit');
  });
});
