/**
 * Taking access away takes effect on open sessions at once, between real `ddcp serve` processes on
 * 127.0.0.1 (mDNS off): `deny` cuts a following peer's session with a reason and refuses it after,
 * a peer that is only a remote can be denied (both ways: the serve stops following it too), and
 * `remote remove` stops following that remote. The other commands (allow, deny, remote, pull) run
 * in this process (test/support/cli.ts): they reach the serves through their control sockets and
 * the network as a process of their own would, and nothing in this process has to keep serving
 * while one runs.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, describe, it } from 'node:test';
import { ddcp, tempDir } from './support/cli.ts';
import { cliNoteIds, notesRepo } from './support/notes.ts';
import { serve } from './support/serve.ts';

const LOCAL = '/ip4/127.0.0.1/tcp/0';
const cleanup: (() => Promise<unknown>)[] = [];
// Every serve stopped (SIGTERM, then its exit) and node closed at once: each waits only for itself.
after(async () => {
  await Promise.all(cleanup.map((c) => c()));
});

async function repo(dir: string, name: string, rows: string[] = []): Promise<{ root: string; address: string }> {
  const r = await notesRepo(dir, name);
  for (const id of rows) r.db.prepare('INSERT INTO notes VALUES (?, ?)').run(id, `from ${name}`);
  const out = { root: r.root, address: r.address };
  r.close();
  return out;
}

function insert(root: string, id: string): void {
  const db = new DatabaseSync(join(root, 'ddcp.db'), { timeout: 5000 });
  db.prepare('INSERT INTO notes VALUES (?, ?)').run(id, 'later');
  db.close();
}

async function run(cwd: string, args: string[]): Promise<string> {
  const r = ddcp(cwd, args);
  assert.equal(r.code, 0, `ddcp ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** A TCP port on 127.0.0.1 nothing listens on now. */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('revoking access on open sessions (real CLI, 127.0.0.1)', { timeout: 120_000 }, () => {
  it('deny cuts an allowed follower at once and refuses it after; a peer that is only a remote can be denied, and is no longer followed', async () => {
    const dir = tempDir();
    const alice = await repo(dir, 'alice', ['a1']);
    const bob = await repo(dir, 'bob');
    const carol = await repo(dir, 'carol');
    const carolAt = `/ip4/127.0.0.1/tcp/${await freePort()}`;
    await run(alice.root, ['allow', bob.address]);
    // carol is only a remote of alice: let in as one, never allowed
    await run(alice.root, ['remote', 'add', 'carol', `${carolAt}/p2p/${carol.address}`, '--no-check']);
    const a = await serve(alice.root, ['--listen', LOCAL], cleanup);
    await run(bob.root, ['remote', 'add', 'alice', a.address()]);
    await run(carol.root, ['remote', 'add', 'alice', a.address()]);
    // two processes starting: at once (each waits for its own banner)
    const [b, c] = await Promise.all([serve(bob.root, ['--listen', LOCAL], cleanup), serve(carol.root, ['--listen', carolAt], cleanup)]);
    let bAt = await b.waitFor(/merged 1 change from alice/);
    let cAt = await c.waitFor(/merged 1 change from alice/);
    await a.waitFor(/following carol/);
    insert(alice.root, 'a2');
    bAt = await b.waitFor(/merged 1 change from alice/, bAt); // live
    cAt = await c.waitFor(/merged 1 change from alice/, cAt);

    const denied = await run(alice.root, ['deny', bob.address]);
    assert.match(denied, new RegExp(`^denied ${bob.address}\\b`));
    assert.match(denied, /the running serve cut 1 open session/);
    // bob hears why at once, and is refused when it comes back
    await b.waitFor(/lost alice: the peer ended the session: .*denied/, bAt);
    const aAt = a.output().length;
    insert(alice.root, 'a3');
    await a.waitFor(new RegExp(`refused ${bob.address}: .*denied`), aAt);
    cAt = await c.waitFor(/merged 1 change from alice/, cAt); // carol still follows

    // carol is only a remote: deny works, is recorded and listed, and the serve stops following her
    const deniedCarol = await run(alice.root, ['deny', carol.address]);
    assert.match(deniedCarol, new RegExp(`^denied ${carol.address}\\b`));
    assert.match(await run(alice.root, ['allow', '--list']), new RegExp(`^${carol.address}  read: none  write: none`, 'm'));
    await a.waitFor(/stopped following carol: .*denied/, aAt);
    // nor is anything exchanged with her on request
    const pulled = ddcp(alice.root, ['pull', 'carol']);
    assert.equal(pulled.code, 1);
    assert.match(pulled.stderr, /^ddcp: error: carol: remote carol is denied here \(ddcp allow \S+ to sync with it again, or ddcp remote remove carol\)\n$/);
    await c.waitFor(/lost alice: the peer ended the session: .*denied/, cAt);
    await a.waitFor(new RegExp(`refused ${carol.address}: .*denied`), aAt);
    insert(alice.root, 'a4'); // neither has a session that could carry it
    assert.deepEqual(cliNoteIds(bob.root), ['a1', 'a2']);
    assert.deepEqual(cliNoteIds(carol.root), ['a1', 'a2', 'a3']);

    // allowed again, bob catches up (pulling now rather than at its next retry)
    await run(alice.root, ['allow', bob.address]);
    await run(bob.root, ['pull', 'alice']);
    assert.deepEqual(cliNoteIds(bob.root), ['a1', 'a2', 'a3', 'a4']);
  });

  it('remote remove stops following that remote at once', async () => {
    const dir = tempDir();
    const alice = await repo(dir, 'alice');
    const bob = await repo(dir, 'bob', ['b1']);
    await run(bob.root, ['allow', alice.address]);
    const b = await serve(bob.root, ['--listen', LOCAL], cleanup);
    await run(alice.root, ['remote', 'add', 'bob', b.address()]);
    const a = await serve(alice.root, ['--listen', LOCAL], cleanup);
    const aAt = await a.waitFor(/merged 1 change from bob/);
    const bAt = b.output().length;
    const removed = await run(alice.root, ['remote', 'remove', 'bob']);
    assert.match(removed, /the running serve stopped following bob/);
    await a.waitFor(/stopped following bob: removed/, aAt);
    await b.waitFor(new RegExp(`${alice.address} disconnected`), bAt);
    assert.deepEqual(cliNoteIds(alice.root), ['b1']);
  });
});
