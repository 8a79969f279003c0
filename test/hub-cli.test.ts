/**
 * The hub from the command line, as the README's quick start runs it: `ddcp hub serve` with app
 * credentials from `ddcp hub credentials create`, a backend minting user tokens, two repositories
 * that `hub login`, `remote add origin ws://…/notes`, push and pull — and one of them under a live
 * `ddcp serve` receiving the other's push through the hub — then SIGTERM stopping the hub cleanly.
 * The hub, the live serve and `hub login` with its token piped in are real processes; the other
 * commands run in this process (test/support/cli.ts), which serves nothing itself, so blocking on
 * them is safe.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import { signAdminRequest } from '../src/hub/auth/hmac.ts';
import { BIN, ddcp, ddcpAsync, initRepo, tempDir } from './support/cli.ts';
import { cliNoteIds as cliNoteIdsOf } from './support/notes.ts';

const SCHEMA = "CREATE TABLE notes(id TEXT PRIMARY KEY NOT NULL, body TEXT); SELECT crsql_as_crr('notes');";

function start(cwd: string, args: string[]): ChildProcessWithoutNullStreams {
  return spawn(process.execPath, [BIN, ...args], { cwd, stdio: ['pipe', 'pipe', 'pipe'] });
}

/**
 * Resolves with the first match of `re` on the child's standard output, and keeps draining it (a
 * reader that stopped would close the pipe under the child).
 */
function line(child: ChildProcessWithoutNullStreams, re: RegExp): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let out = '';
    const onData = (chunk: Buffer): void => {
      out += String(chunk);
      const m = re.exec(out);
      if (!m) return;
      child.stdout.off('data', onData);
      child.stdout.resume();
      child.off('exit', onExit);
      resolve(m);
    };
    const onExit = (): void => reject(new Error(`exited without printing ${re}: ${out}`));
    child.stdout.on('data', onData);
    child.once('exit', onExit);
  });
}

const cli = async (cwd: string, args: string[]): Promise<string> => {
  const r = ddcp(cwd, args);
  assert.equal(r.code, 0, `ddcp ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
};

describe('ddcp hub from the command line', () => {
  const children: ChildProcessWithoutNullStreams[] = [];
  after(() => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  });

  it('hub serve, credentials, login, remote add ws://…, push, pull, live serve; SIGTERM stops it', async () => {
    const dir = tempDir();
    const app = JSON.parse(await cli(dir, ['hub', 'credentials', 'create', '--name', 'notes', '--data', 'hub', '--json'])) as { key: string; secret: string };
    const hub = start(dir, ['hub', 'serve', '--data', 'hub', '--listen', '127.0.0.1:0']);
    children.push(hub);
    const url = (await line(hub, /hub listening on (ws:\/\/\S+)/))[1]!;
    const token = async (email: string): Promise<string> => {
      const body = JSON.stringify({ ttl_seconds: 600 });
      const res = await fetch(`${url.replace(/^ws/, 'http')}/auth/token`, { method: 'POST', body, headers: { 'content-type': 'application/json', ...signAdminRequest({ apiKey: app.key, secret: app.secret, email, body }) } });
      assert.equal(res.status, 200, await res.clone().text());
      return ((await res.json()) as { token: string }).token;
    };
    const alice = initRepo(dir, 'alice', SCHEMA + " INSERT INTO notes VALUES ('a1', 'from alice');");
    const alice2 = initRepo(dir, 'alice2', SCHEMA);
    const aliceToken = await token('alice@example.com');
    for (const repo of [alice, alice2]) {
      const login = await ddcpAsync(repo, ['hub', 'login', url], aliceToken);
      assert.equal(login.code, 0, `ddcp hub login: ${login.stderr}`);
      await cli(repo, ['remote', 'add', 'origin', `${url}/notes`]);
    }
    assert.match(await cli(alice, ['push', 'origin']), /1|pushed/);
    await cli(alice2, ['pull', 'origin']);
    assert.deepEqual(cliNoteIdsOf(alice2), ['a1']);
    // alice2 served live: alice's next push reaches it through the hub without a pull
    const serve = start(alice2, ['serve', '--no-mdns', '--listen', '/ip4/127.0.0.1/tcp/0']);
    children.push(serve);
    serve.stderr.resume();
    await line(serve, /listening/i);
    await sleep(300);
    await cli(alice, ['shell', '-c', "INSERT INTO notes VALUES ('a2', 'live')"]);
    await cli(alice, ['push', 'origin']);
    for (let i = 0; i < 500 && !cliNoteIdsOf(alice2).includes('a2'); i++) await sleep(20);
    assert.deepEqual(cliNoteIdsOf(alice2), ['a1', 'a2']);
    serve.kill('SIGTERM');
    await once(serve, 'exit');
    // another user of the app is refused alice's database
    const bob = initRepo(dir, 'bob', SCHEMA);
    await cli(bob, ['hub', 'login', url, '--token', await token('bob@example.com')]);
    await cli(bob, ['remote', 'add', 'origin', `${url}/notes`]);
    const refused = ddcp(bob, ['pull', 'origin']);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /not yours and not shared with you/);
    // ...until alice shares it
    await cli(alice, ['hub', 'share', `${url}/notes`, 'bob@example.com', '--read', '*']);
    await cli(bob, ['pull', 'origin']);
    assert.deepEqual(cliNoteIdsOf(bob), ['a1', 'a2']);
    const metrics = await (await fetch(`${url.replace(/^ws/, 'http')}/metrics`)).text();
    assert.match(metrics, /ddcp_hub_refusals_total\{reason="forbidden"\} 1/);
    hub.kill('SIGTERM');
    const [code] = (await once(hub, 'exit')) as [number];
    assert.equal(code, 0);
  });
});
