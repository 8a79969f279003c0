/**
 * Revoking a peer's open sessions (sync/sessions.ts with serveSession), over in-memory channels: the
 * peer is told why and the session closes; nothing more is sent to it or merged from it; a peer that
 * ignores the error is cut off within the grace time.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Repository } from '../src/index.ts';
import type { FrameChannel } from '../src/sync/channel.ts';
import { runSession, type SessionResult } from '../src/sync/client.ts';
import { Gate } from '../src/sync/gate.ts';
import { decodeMessage, encodeMessage, PROTOCOL_VERSION, ProtocolError, type Message } from '../src/sync/messages.ts';
import { serveSession } from '../src/sync/server.ts';
import { Sessions, SessionRevokedError } from '../src/sync/sessions.ts';
import { framePair } from '../src/transport/memory.ts';
import { Server } from '../src/peer/server.ts';
import { SYNC_PROTOCOL } from '../src/sync/protocol.ts';
import { createNode } from '../src/transport/p2p/node.ts';
import { tempDir } from './support/cli.ts';
import { notesRepo } from './support/notes.ts';

const writer = new Gate(() => ({ read: 'all', write: 'all' }));
const ids = (r: Repository): string[] => r.db.prepare('SELECT id FROM notes ORDER BY id').all().map((x) => (x as { id: string }).id);

async function pair(): Promise<{ alice: Repository; bob: Repository; close(): void }> {
  const dir = tempDir();
  const alice = await notesRepo(dir, 'alice');
  const bob = await notesRepo(dir, 'bob');
  return { alice, bob, close: () => (alice.close(), bob.close()) };
}

/** Bob follows the server at the other end of `channel`, merging what it sends; `first` resolves once he has caught up. */
function follow(channel: FrameChannel, bob: Repository): { following: Promise<SessionResult>; first: Promise<void> } {
  let caughtUp!: () => void;
  const first = new Promise<void>((r) => (caughtUp = r));
  const following = runSession(channel, {
    siteId: bob.engine.siteId,
    proof: bob.siteProof(),
    schema: bob.engine.crrs(),
    follow: true,
    pull: { from: () => ({ since: 0, held: [] }), welcome: () => {}, batch: (b) => bob.engine.applyChanges(b.changes), caughtUp: () => caughtUp() },
  });
  return { following, first };
}

/** Alice serving over libp2p on 127.0.0.1 (letting bob in); `follow` dials her from a node with bob's key. */
async function libp2pPair(alice: Repository, bob: Repository, log?: (line: string) => void) {
  alice.allow(bob.address);
  const server = await Server.start(alice, { listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, dht: false, log });
  const node = await createNode({ privateKey: bob.identity.privateKey, listen: [], mdns: false, dht: false });
  return {
    server,
    follow: async () => follow(await node.open(server.addresses()[0]!, SYNC_PROTOCOL), bob),
    stop: async () => {
      await node.stop();
      await server.stop();
    },
  };
}

/** Changes alice's repository through another handle, as another process would: her server isn't told. */
function elsewhere(alice: Repository, change: (other: Repository) => void): void {
  const other = Repository.open(alice.root);
  try {
    change(other);
  } finally {
    other.close();
  }
}

describe('revoking open sessions', () => {
  it('Sessions: revoke aborts only that peer’s sessions with the reason; ended sessions are forgotten', () => {
    const sessions = new Sessions();
    const parent = new AbortController();
    const a1 = sessions.open('alice', parent.signal);
    const a2 = sessions.open('alice');
    const b = sessions.open('bob', parent.signal, 'grant-b');
    assert.equal(sessions.count(), 3);
    assert.equal(sessions.revoke('alice', 'gone'), 2);
    assert.ok(a1.signal.reason instanceof SessionRevokedError);
    assert.equal((a1.signal.reason as SessionRevokedError).message, 'gone');
    assert.equal((a2.signal.reason as SessionRevokedError).code, 'denied');
    assert.equal(b.signal.aborted, false);
    // recheck sees what each session was granted
    const seen: unknown[] = [];
    const cut = sessions.recheck((peer, grant) => (seen.push([peer, grant]), grant === 'grant-b' ? 'policy changed' : undefined));
    assert.deepEqual(seen, [['bob', 'grant-b']]); // alice's are cut already
    assert.deepEqual([...cut], [['bob', { reason: 'policy changed', sessions: 1 }]]);
    a1.end();
    a2.end();
    b.end();
    assert.equal(sessions.count(), 0);
    assert.deepEqual(sessions.peers(), []);
    // a server stopping aborts its sessions with its own reason (not a revocation)
    const c = sessions.open('carol', parent.signal);
    parent.abort();
    assert.ok(c.signal.aborted && !(c.signal.reason instanceof SessionRevokedError));
  });

  it('a following client is told why and its session ends; it gets nothing committed after', async () => {
    const { alice, bob, close } = await pair();
    alice.db.exec("INSERT INTO notes VALUES ('a1', 'x')");
    const feed = alice.feed();
    feed.start();
    const sessions = new Sessions();
    try {
      const [server, client] = framePair();
      const session = sessions.open('bob');
      const served = serveSession(server, feed, feed, { peer: 'bob', proof: alice.siteProof(), signal: session.signal, gate: writer }).finally(() => session.end());
      const { following, first } = follow(client, bob);
      await first;
      assert.equal(sessions.revoke('bob', 'peer bob is denied by this database'), 1);
      alice.db.exec("INSERT INTO notes VALUES ('a2', 'x')");
      await assert.rejects(following, (err: Error) => err instanceof ProtocolError && err.code === 'denied' && /the peer ended the session: peer bob is denied by this database/.test(err.message));
      await served;
      assert.equal(sessions.count('bob'), 0);
      assert.deepEqual(ids(bob), ['a1']);
    } finally {
      feed.stop();
      close();
    }
  });

  it('pushes that arrive after the revocation are not merged; a peer that ignores the error is cut off', async () => {
    const { alice, bob, close } = await pair();
    bob.db.exec("INSERT INTO notes VALUES ('b1', 'x')");
    const feed = alice.feed();
    const sessions = new Sessions();
    try {
      const [server, client] = framePair();
      const session = sessions.open('bob');
      const started = Date.now();
      const served = serveSession(server, feed, feed, { peer: 'bob', proof: alice.siteProof(), signal: session.signal, gate: writer, revokeGraceMs: 100 });
      const it = client[Symbol.asyncIterator]();
      const read = async (): Promise<Message> => decodeMessage((await it.next()).value as Uint8Array);
      await client.send(encodeMessage({ type: 'hello', protocol: PROTOCOL_VERSION, siteId: bob.engine.siteId, proof: bob.siteProof(), schema: bob.engine.crrs(), since: 0, held: [], follow: true, pull: false, push: true }));
      const welcome = await read();
      assert.equal(welcome.type, 'welcome');
      sessions.revoke('bob', 'credential revoked');
      await client.send(encodeMessage({ type: 'batch', version: bob.engine.dbVersion(), complete: true, changes: [...bob.engine.changesSince(0)] }));
      const m = await read();
      assert.deepEqual(m.type === 'error' && [m.code, m.message], ['denied', 'credential revoked']);
      // the client neither hangs up nor reads: the server tears the session down anyway
      await served;
      assert.ok(Date.now() - started < 5000);
      assert.deepEqual(ids(alice), []);
    } finally {
      feed.stop();
      close();
    }
  });

  it('Server.revoke cuts a peer following over libp2p with the reason given (the hook for revoked credentials)', async () => {
    const { alice, bob, close } = await pair();
    alice.db.exec("INSERT INTO notes VALUES ('a1', 'x')");
    const p2p = await libp2pPair(alice, bob);
    try {
      assert.equal(p2p.server.revoke(bob.address, 'nobody here'), 0);
      const { following, first } = await p2p.follow();
      await first;
      assert.equal(p2p.server.revoke(bob.address, 'the credential of bob was revoked'), 1);
      await assert.rejects(following, /the peer ended the session: the credential of bob was revoked/);
      assert.deepEqual(ids(bob), ['a1']);
    } finally {
      await p2p.stop();
      close();
    }
  });

  it('a serve notices a deny written by another process (its config watch) and cuts the session', async () => {
    const { alice, bob, close } = await pair();
    alice.db.exec("INSERT INTO notes VALUES ('a1', 'x')");
    const logs: string[] = [];
    const p2p = await libp2pPair(alice, bob, (l) => logs.push(l));
    try {
      const { following, first } = await p2p.follow();
      await first;
      elsewhere(alice, (other) => other.deny(bob.address));
      await assert.rejects(following, /the peer ended the session: peer \S+ is denied by this database/);
      assert.ok(logs.some((l) => l.startsWith(`cut 1 open session of ${bob.address}`)), logs.join('\n'));
    } finally {
      await p2p.stop();
      close();
    }
  });

  it('a removed folder remote is no longer followed: later commits there stay there, and the server stops cleanly', async () => {
    const { alice, bob, close } = await pair();
    bob.db.exec("INSERT INTO notes VALUES ('b1', 'x')");
    alice.addRemote('bob', bob.root);
    const logs: string[] = [];
    const server = await Server.start(alice, { listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, dht: false, log: (l) => logs.push(l) });
    try {
      await until(() => ids(alice).includes('b1'));
      elsewhere(alice, (other) => other.removeRemote('bob'));
      await until(() => logs.includes('stopped following bob: removed'));
      bob.db.exec("INSERT INTO notes VALUES ('b2', 'x')");
      // were it still followed, b2 would arrive within the feed's watch interval; a later change
      // from a remote still followed shows the server is alive and merging
      const carol = await notesRepo(tempDir(), 'carol');
      carol.db.exec("INSERT INTO notes VALUES ('c1', 'x')");
      alice.addRemote('carol', carol.root);
      server.followRemote('carol', carol.root);
      await until(() => ids(alice).includes('c1'));
      assert.deepEqual(ids(alice), ['b1', 'c1']);
      carol.close();
    } finally {
      await server.stop();
      close();
    }
  });
});

async function until(check: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}
