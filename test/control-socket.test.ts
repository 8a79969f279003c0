/**
 * The control socket of `ddcp serve` (.ddcp/serve.sock) is created 0600 whatever the umask, and
 * another user cannot connect to it even where the folders on the way let them through. Tests run as
 * root, which file modes don't bind: the other user is `nobody`, through runuser.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, closeSync, openSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { BIN, ok, tempDir } from './support/cli.ts';
import { notesRepo } from './support/notes.ts';
import { until } from './support/serve.ts';

const cleanup: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

/** Starts `ddcp serve` with umask 000 (every file it creates would be open to all) and waits for its banner. */
async function serveWithOpenUmask(root: string): Promise<() => string> {
  const log = join(root, 'serve.log');
  const fd = openSync(log, 'w');
  const child = spawn('/bin/sh', ['-c', `umask 000 && exec "${process.execPath}" "${BIN}" serve --no-mdns --listen /ip4/127.0.0.1/tcp/0`], { cwd: root, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  let done = false;
  void exited.then(() => (done = true));
  cleanup.push(async () => {
    if (!done) child.kill('SIGTERM');
    await exited;
  });
  const output = (): string => readFileSync(log, 'utf8');
  await until('serve to print its banner', () => done || /^allowed: /m.test(output()));
  assert.ok(!done, output());
  return output;
}

/** Connects to `path` as user `nobody` and asks for the status; prints what happened. */
function connectAsNobody(path: string): string {
  const script = `const c = require('node:net').createConnection(${JSON.stringify(path)});
c.on('connect', () => c.write('{"cmd":"status"}\\n'));
let got = ''; c.on('data', (d) => (got += d));
c.on('end', () => console.log('answered ' + got.trim()));
c.on('error', (e) => console.log('error ' + e.code));`;
  const r = spawnSync('runuser', ['-u', 'nobody', '--', process.execPath, '-e', script], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

describe('the control socket', { timeout: 60_000 }, () => {
  it('is created 0600 under any umask, and refuses another user even where the folders let it through', async () => {
    const dir = tempDir();
    const r = await notesRepo(dir, 'alice');
    const root = r.root;
    r.close();
    const output = await serveWithOpenUmask(root);
    const sock = join(root, '.ddcp', 'serve.sock');
    assert.equal((statSync(sock).mode & 0o777).toString(8), '600', output());
    // only the socket's own mode stands in the way now
    for (let d = join(root, '.ddcp'); d !== dirname(dir); d = dirname(d)) chmodSync(d, 0o755);
    assert.equal(connectAsNobody(sock), 'error EACCES');
    // its owner still talks to it: a command that asks the running serve
    const bob = await notesRepo(dir, 'bob');
    bob.close();
    assert.match(ok(root, ['remote', 'add', 'bob', bob.root]), /the running serve now follows bob/);
  });
});
