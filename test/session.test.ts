import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Repository } from '../src/index.ts';
import { Publisher } from '../src/repo/publisher.ts';
import type { Batch } from '../src/sync/batches.ts';
import { encodeMessage, ProtocolError } from '../src/sync/messages.ts';
import { openSession, serveSession } from '../src/sync/session.ts';
import { framePair } from '../src/transport/memory.ts';
import { cutAfter } from './support/channels.ts';
import { tempDir } from './support/cli.ts';

async function repo(name: string, schema = 'CREATE TABLE notes(id TEXT PRIMARY KEY NOT NULL, body TEXT)'): Promise<Repository> {
  const r = await Repository.init(join(tempDir(), name));
  r.db.exec(schema);
  for (const t of r.engine.crrs()) void t;
  r.engine.asCrr('notes');
  return r;
}

const rows = (r: Repository): unknown[] => r.db.prepare('SELECT id, body FROM notes ORDER BY id').all().map((x) => ({ ...(x as object) }));

/** Applies a session's batches the way a follower does: complete batches are merged. */
async function consume(r: Repository, peer: Uint8Array, messages: AsyncGenerator<{ type: string } & Partial<Batch>>, until: (caughtUp: number) => boolean): Promise<void> {
  let pending: Batch['changes'] = [];
  for await (const m of messages) {
    if (m.type === 'batch') {
      pending.push(...m.changes!);
      if (m.complete) {
        r.engine.applyChanges(pending, { trackPeer: { siteId: peer, version: m.version! } });
        pending = [];
      }
    } else if (m.type === 'caught-up' && until(m.version!)) return;
  }
}

describe('sync sessions over an in-memory channel', () => {
  it('fetches everything since the tracked version, never the client own changes, then ends', async () => {
    const alice = await repo('alice');
    const bob = await repo('bob');
    alice.db.exec("INSERT INTO notes VALUES ('a1', 'one'), ('a2', 'two')");
    bob.db.exec("INSERT INTO notes VALUES ('b1', 'bob')");
    const pub = new Publisher(alice);
    try {
      const [server, client] = framePair();
      const ac = new AbortController();
      const served = serveSession(server, pub, { peer: 'bob', signal: ac.signal });
      const s = await openSession(client, { siteId: bob.engine.siteId, schema: bob.engine.crrs(), since: 0, follow: false });
      assert.deepEqual(s.welcome.siteId, alice.engine.siteId);
      await consume(bob, s.welcome.siteId, s.messages as never, () => false);
      await served;
      assert.deepEqual(rows(bob), [{ id: 'a1', body: 'one' }, { id: 'a2', body: 'two' }, { id: 'b1', body: 'bob' }]);
      // bob's changes relayed back to alice would be echoed; a second session from bob gets nothing
      const [server2, client2] = framePair();
      const served2 = serveSession(server2, pub, { peer: 'bob', signal: ac.signal });
      const s2 = await openSession(client2, { siteId: bob.engine.siteId, schema: bob.engine.crrs(), since: bob.engine.trackedVersion(alice.engine.siteId), follow: false });
      const got = [];
      for await (const m of s2.messages) if (m.type === 'batch') got.push(...m.changes);
      await served2;
      assert.equal(got.length, 0);
    } finally {
      pub.stop();
      alice.close();
      bob.close();
    }
  });

  it('following pushes commits made by another connection without being asked', async () => {
    const alice = await repo('alice');
    const bob = await repo('bob');
    const pub = new Publisher(alice);
    pub.start();
    const ac = new AbortController();
    try {
      const [server, client] = framePair();
      const served = serveSession(server, pub, { peer: 'bob', signal: ac.signal });
      const s = await openSession(client, { siteId: bob.engine.siteId, schema: bob.engine.crrs(), since: 0, follow: true });
      let caught = 0;
      const following = consume(bob, s.welcome.siteId, s.messages as never, (v) => ++caught >= 2 && v > 0);
      // another connection (as an app would) commits a write
      const app = new (await import('node:sqlite')).DatabaseSync(alice.dbPath, { timeout: 5000 });
      const t0 = Date.now();
      app.exec("INSERT INTO notes VALUES ('live', 'pushed')");
      app.close();
      await following;
      assert.ok(Date.now() - t0 < 1000, `arrived after ${Date.now() - t0} ms`);
      assert.deepEqual(rows(bob), [{ id: 'live', body: 'pushed' }]);
      ac.abort();
      await served;
    } finally {
      pub.stop();
      alice.close();
      bob.close();
    }
  });

  it('refuses a client whose schema lacks a column, a denied peer, and a wrong protocol version — clearly', async () => {
    const alice = await repo('alice', 'CREATE TABLE notes(id TEXT PRIMARY KEY NOT NULL, body TEXT, tag TEXT)');
    const bob = await repo('bob');
    const pub = new Publisher(alice);
    const ac = new AbortController();
    try {
      const warnings: string[] = [];
      const [server, client] = framePair();
      const served = serveSession(server, pub, { peer: 'bob', signal: ac.signal, log: (_l, m) => warnings.push(m) });
      await assert.rejects(openSession(client, { siteId: bob.engine.siteId, schema: bob.engine.crrs(), since: 0, follow: false }), (e: ProtocolError) => e.code === 'schema' && /notes lacks column tag/.test(e.message));
      await served;
      assert.match(warnings.join('\n'), /schemas differ/);

      const [server2, client2] = framePair();
      const served2 = serveSession(server2, pub, { peer: 'mallory', signal: ac.signal, authorize: () => 'peer mallory is not allowed; ddcp allow KEY' });
      await assert.rejects(openSession(client2, { siteId: bob.engine.siteId, schema: alice.engine.crrs(), since: 0, follow: false }), (e: ProtocolError) => e.code === 'denied' && /not allowed/.test(e.message));
      await served2;

      const [server3, client3] = framePair();
      const served3 = serveSession(server3, pub, { peer: 'old', signal: ac.signal });
      await client3.send(new TextEncoder().encode('\u0001' + JSON.stringify({ protocol: 99, site_id: '00'.repeat(16), schema: [], since: 0, follow: false })));
      const answer = await client3[Symbol.asyncIterator]().next();
      assert.match(new TextDecoder().decode((answer.value as Uint8Array).subarray(1)), /protocol version 99 is not supported/);
      await served3;
    } finally {
      pub.stop();
      alice.close();
      bob.close();
    }
  });

  it('survives garbage and protocol violations, leaving the database unchanged', async () => {
    const alice = await repo('alice');
    alice.db.exec("INSERT INTO notes VALUES ('keep', 'me')");
    const pub = new Publisher(alice);
    const ac = new AbortController();
    try {
      const before = rows(alice);
      for (const frames of [
        [new Uint8Array([0xff, 1, 2, 3])],
        [new Uint8Array(0)],
        [new TextEncoder().encode('\u0001{not json')],
        [encodeMessage({ type: 'caught-up', version: 1 })],
        [encodeMessage({ type: 'batch', version: 1, complete: true, changes: [] })],
        [new Uint8Array([3, 0x80])],
      ]) {
        const warnings: string[] = [];
        const [server, client] = framePair();
        const served = serveSession(server, pub, { peer: 'fuzz', signal: ac.signal, log: (_l, m) => warnings.push(m) });
        for (const f of frames) await client.send(f);
        await client.close();
        await served;
        assert.ok(warnings.length > 0, 'the reason is logged');
      }
      assert.deepEqual(rows(alice), before);
    } finally {
      pub.stop();
      alice.close();
    }
  });

  it('a following session that stays idle repeats caught-up as a keep-alive', async () => {
    const alice = await repo('alice');
    const bob = await repo('bob');
    const pub = new Publisher(alice);
    const ac = new AbortController();
    try {
      const [server, client] = framePair();
      const served = serveSession(server, pub, { peer: 'bob', signal: ac.signal, keepAliveMs: 30 });
      const s = await openSession(client, { siteId: bob.engine.siteId, schema: bob.engine.crrs(), since: 0, follow: true });
      let caughtUp = 0;
      for await (const m of s.messages) if (m.type === 'caught-up' && ++caughtUp === 4) break;
      assert.equal(caughtUp, 4);
      ac.abort();
      await served;
    } finally {
      pub.stop();
      alice.close();
      bob.close();
    }
  });

  it('a session cut in the middle of a large transfer resumes after the last complete batch: nothing lost or applied twice', async () => {
    const alice = await repo('alice');
    const bob = await repo('bob');
    // many versions, so there are many complete batches
    const ins = alice.db.prepare('INSERT INTO notes VALUES (?, ?)');
    for (let v = 0; v < 40; v++) {
      alice.db.exec('BEGIN');
      for (let i = 0; i < 500; i++) ins.run(`r${v}-${i}`, `body ${v} ${i}`);
      alice.db.exec('COMMIT');
      alice.engine.seal();
    }
    bob.addRemote('alice', alice.root);
    const pub = new Publisher(alice);
    const ac = new AbortController();
    let connections = 0;
    let applied = 0;
    let received = 0;
    try {
      const done = bob.follow(
        'alice',
        async (signal) => {
          const [server, client] = framePair();
          void serveSession(server, pub, { peer: 'bob', signal });
          // the first connection dies after three frames (welcome and two batches)
          return ++connections > 1 ? client : cutAfter(client, 3);
        },
        {
          signal: ac.signal,
          retryMs: 10,
          onEvent: (e) => {
            if (e.type === 'merged') {
              applied += e.outcome.applied;
              received += e.outcome.received;
            }
            if (e.type === 'caught-up' && connections > 1) ac.abort();
          },
        },
      );
      await done;
      assert.equal(connections, 2);
      assert.equal((bob.db.prepare('SELECT count(*) AS n FROM notes').get() as { n: number }).n, 20_000);
      assert.deepEqual(rows(bob), rows(alice));
      // 20,000 rows x 1 column: every change arrived once and changed something once
      assert.equal(applied, 20_000);
      assert.equal(received, 20_000);
    } finally {
      pub.stop();
      alice.close();
      bob.close();
    }
  });
});
