/**
 * One embedded-SQLite hub per data folder, from the command line: a second `ddcp hub serve --data DIR`
 * while one runs there is refused in one line naming the first's pid; once the first stopped — or was
 * killed with -9, leaving its lock behind — the folder can be served again. Another folder is free.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ddcpAsync, tempDir } from './support/cli.ts';
import { serveHub } from './support/hub-serve.ts';

/** `ddcp hub serve --data DATA` on a free port, once it says it listens. */
const serve = async (cwd: string, data: string) => (await serveHub(cwd, ['--data', data])).child;

describe('ddcp hub serve: one hub per data folder', () => {
  it('a second hub on a folder in use is refused in one line naming the first; another folder is free', async () => {
    const dir = tempDir();
    const first = await serve(dir, 'hub');
    const second = await ddcpAsync(dir, ['hub', 'serve', '--data', 'hub', '--listen', '127.0.0.1:0']);
    assert.notEqual(second.code, 0);
    const lines = second.stderr.trim().split('\n');
    assert.equal(lines.length, 1, second.stderr);
    assert.match(lines[0]!, new RegExp(`another hub \\(pid ${first.pid}\\) is serving ${join(dir, 'hub').replaceAll('/', '\\/')}`));
    // the first is untouched: it still answers
    const other = await serve(dir, 'other');
    other.kill('SIGTERM');
    await once(other, 'exit');
    first.kill('SIGTERM');
    assert.deepEqual(await once(first, 'exit'), [0, null]);
    assert.equal(existsSync(join(dir, 'hub', 'hub.lock')), false, 'a stopped hub releases its folder');
    const again = await serve(dir, 'hub');
    again.kill('SIGTERM');
    await once(again, 'exit');
  });

  it('the lock of a hub killed with -9 is taken over by the next one', async () => {
    const dir = tempDir();
    const killed = await serve(dir, 'hub');
    killed.kill('SIGKILL');
    await once(killed, 'exit');
    assert.ok(existsSync(join(dir, 'hub', 'hub.lock')), 'left behind');
    const next = await serve(dir, 'hub');
    const refused = await ddcpAsync(dir, ['hub', 'serve', '--data', 'hub', '--listen', '127.0.0.1:0']);
    assert.match(refused.stderr, new RegExp(`another hub \\(pid ${next.pid}\\)`));
    next.kill('SIGTERM');
    await once(next, 'exit');
  });
});
