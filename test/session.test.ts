import assert from 'node:assert/strict';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { Repository } from '../src/index.ts';
import type { RepoFeed } from '../src/repo/feed.ts';
import type { Batch } from '../src/sync/batches.ts';
import { runSession, type PullTarget } from '../src/sync/client.ts';
import type { FrameChannel } from '../src/sync/channel.ts';
import { decodeMessage, encodeMessage, ProtocolError, type Message, type Welcome } from '../src/sync/messages.ts';
import { Gate } from '../src/sync/gate.ts';
import { serveSession, type ServeOptions } from '../src/sync/server.ts';
import { framePair } from '../src/transport/memory.ts';
import { cutAfter } from './support/channels.ts';
import { tempDir } from './support/cli.ts';
import { toHex } from '../src/base/hex.ts';
import type { SiteProof } from '../src/sync/proof.ts';

/** Each test repository's proof of its site id, by site id (hex): a served feed answers with it. */
const proofs = new Map<string, SiteProof>();

/** What the running test opened, undone after it in reverse order: feeds stop before their repositories close. */
const opened: (() => void)[] = [];
afterEach(() => {
  for (const undo of opened.splice(0).reverse()) undo();
});

/** `r`'s change feed, stopped after the test. */
function feedOf(r: Repository): RepoFeed {
  const feed = r.feed();
  opened.push(() => feed.stop());
  return feed;
}

/** A new repository with a `notes` CRR, closed after the test. */
async function repo(name: string, schema = 'CREATE TABLE notes(id TEXT PRIMARY KEY NOT NULL, body TEXT)'): Promise<Repository> {
  const r = await Repository.init(join(tempDir(), name));
  opened.push(() => r.close());
  proofs.set(toHex(r.engine.siteId), r.siteProof());
  r.db.exec(schema);
  for (const t of r.engine.crrs()) void t;
  r.engine.asCrr('notes');
  return r;
}

const rows = (r: Repository): unknown[] => r.db.prepare('SELECT id, body FROM notes ORDER BY id').all().map((x) => ({ ...(x as object) }));

/** A pull target that merges the way a follower does: complete batches are merged. */
function merging(r: Repository, onCaughtUp: (version: number) => void = () => {}): PullTarget & { siteId?: Uint8Array } {
  let pending: Batch['changes'] = [];
  const t: PullTarget & { siteId?: Uint8Array } = {
    from: () => ({ since: 0, held: [] }),
    welcome: (w: Welcome) => {
      t.siteId = w.siteId;
    },
    batch: (b) => {
      pending.push(...b.changes);
      if (b.complete) {
        r.engine.applyChanges(pending, { trackPeer: { siteId: t.siteId!, version: b.version } });
        pending = [];
      }
    },
    caughtUp: onCaughtUp,
  };
  return t;
}

/** Serves `feed` (also as the sink) on one end of a fresh pair; returns the other end and the session. */
function served(feed: RepoFeed, options: Omit<ServeOptions, 'proof'>): { client: ReturnType<typeof framePair>[1]; done: Promise<void> } {
  const [server, client] = framePair();
  return { client, done: serveSession(server, feed, feed, { proof: proofs.get(toHex(feed.siteId))!, ...options }) };
}

/** A gate that lets every peer read and write everything. */
const writer = new Gate(() => ({ read: 'all', write: 'all' }));

const as = (r: Repository) => ({ siteId: r.engine.siteId, proof: r.siteProof(), schema: r.engine.crrs() });

describe('sync sessions over an in-memory channel', () => {
  it('lets the transport free a batch frame once the target has it, only for a target that copies batches', async () => {
    const alice = await repo('alice');
    alice.db.exec("INSERT INTO notes VALUES ('a1', 'one'), ('a2', 'two')");
    const feed = feedOf(alice);
    for (const copies of [true, false]) {
      const bob = await repo(`bob-${copies}`);
      const ac = new AbortController();
      const s = served(feed, { peer: 'bob', signal: ac.signal });
      const received: Uint8Array[] = [];
      const released: Uint8Array[] = [];
      let inBatch = false;
      // the client's end of the pair, recording what it receives and what the session releases
      const channel: FrameChannel = {
        send: (f, o) => s.client.send(f, o),
        close: (o) => s.client.close(o),
        abort: (e) => s.client.abort(e),
        release: (f) => {
          assert.equal(inBatch, false, 'released while the target still had the batch');
          released.push(f);
        },
        async *[Symbol.asyncIterator]() {
          for await (const f of s.client) {
            received.push(f);
            yield f;
          }
        },
      };
      const target = merging(bob);
      const inner = target.batch;
      const counting: PullTarget = {
        ...target,
        welcome: (w) => target.welcome(w),
        batch: (b) => {
          inBatch = true;
          inner(b);
          inBatch = false;
        },
        ...(copies ? { copiesBatches: true } : {}),
      };
      await runSession(channel, { ...as(bob), pull: counting });
      await s.done;
      assert.deepEqual(rows(bob), rows(alice));
      // frames carrying a batch: alone, or with its caught-up where the session negotiated that frame
      const batches = received.filter((f) => ['batch', 'batch-caught-up'].includes(decodeMessage(f).type));
      assert.ok(batches.length > 0);
      assert.deepEqual(released, copies ? batches : []);
      bob.close();
    }
  });

  it('fetches everything since the tracked version, never the client own changes, then ends', async () => {
    const alice = await repo('alice');
    const bob = await repo('bob');
    alice.db.exec("INSERT INTO notes VALUES ('a1', 'one'), ('a2', 'two')");
    bob.db.exec("INSERT INTO notes VALUES ('b1', 'bob')");
    const feed = feedOf(alice);
    const ac = new AbortController();
    const s = served(feed, { peer: 'bob', signal: ac.signal });
    const r = await runSession(s.client, { ...as(bob), pull: merging(bob) });
    assert.deepEqual(r.welcome.siteId, alice.engine.siteId);
    await s.done;
    assert.deepEqual(rows(bob), [{ id: 'a1', body: 'one' }, { id: 'a2', body: 'two' }, { id: 'b1', body: 'bob' }]);
    // bob's changes relayed back to alice would be echoed; a second session from bob gets nothing
    const s2 = served(feed, { peer: 'bob', signal: ac.signal });
    const got: unknown[] = [];
    const since = bob.engine.trackedVersion(alice.engine.siteId);
    await runSession(s2.client, { ...as(bob), pull: { from: () => ({ since, expect: alice.engine.siteId, held: [] }), welcome: () => {}, batch: (b) => got.push(...b.changes), caughtUp: () => {} } });
    await s2.done;
    assert.equal(got.length, 0);
  });

  it('following sends commits made by another connection without being asked', async () => {
    const alice = await repo('alice');
    const bob = await repo('bob');
    const feed = feedOf(alice);
    const ac = new AbortController();
    const s = served(feed, { peer: 'bob', signal: ac.signal });
    let caught = 0;
    const stop = new AbortController();
    const following = runSession(s.client, { ...as(bob), follow: true, signal: stop.signal, pull: merging(bob, (v) => ++caught >= 2 && v > 0 && stop.abort()) });
    while (caught === 0) await new Promise((r) => setTimeout(r, 5));
    // another connection (as an app would) commits a write
    const app = new (await import('node:sqlite')).DatabaseSync(alice.dbPath, { timeout: 5000 });
    const t0 = Date.now();
    app.exec("INSERT INTO notes VALUES ('live', 'pushed')");
    app.close();
    await following;
    assert.ok(Date.now() - t0 < 1000, `arrived after ${Date.now() - t0} ms`);
    assert.deepEqual(rows(bob), [{ id: 'live', body: 'pushed' }]);
    ac.abort();
    await s.done;
  });

  it('logs a push it merged with the count in words: "merged 1 change", not "1 changes"', async () => {
    const alice = await repo('alice');
    const bob = await repo('bob');
    bob.db.exec("INSERT INTO notes VALUES ('b1', 'one')");
    const lines: string[] = [];
    const ac = new AbortController();
    const s = served(feedOf(alice), { peer: 'bob', signal: ac.signal, gate: writer, log: (level, line) => lines.push(`${level}: ${line}`) });
    await runSession(s.client, { ...as(bob), push: feedOf(bob) });
    await s.done;
    assert.ok(lines.includes('info: merged 1 change pushed by bob'), lines.join('\n'));
    ac.abort();
  });

  it('a follower that hangs up is one log line of the server, not one for each direction', async () => {
    const alice = await repo('alice');
    const bob = await repo('bob');
    alice.db.exec("INSERT INTO notes VALUES ('a1', 'one')");
    const feed = feedOf(alice);
    const lines: string[] = [];
    const ac = new AbortController();
    const s = served(feed, { peer: 'bob', signal: ac.signal, gate: writer, log: (level, line) => lines.push(`${level}: ${line}`) });
    const stop = new AbortController();
    // bob follows both ways (as a serve does) and stops once caught up: it hangs up at once
    await runSession(s.client, { ...as(bob), follow: true, push: feedOf(bob), signal: stop.signal, pull: merging(bob, () => stop.abort()) });
    await s.done;
    await new Promise((r) => setTimeout(r, 20)); // what the server reports after the session returned
    const ended = lines.filter((l) => l.startsWith('warn:'));
    assert.equal(ended.length, 1, lines.join('\n'));
    assert.match(ended[0]!, /^warn: session with bob( failed)?: .*reset the stream/);
    ac.abort();
  });

  it('refuses changes that do not fit the receiver, a denied peer, and a wrong protocol version — clearly', async () => {
    const alice = await repo('alice', 'CREATE TABLE notes(id TEXT PRIMARY KEY NOT NULL, body TEXT, tag TEXT)');
    alice.db.exec("INSERT INTO notes VALUES ('t', 'tagged', 'x')");
    const bob = await repo('bob');
    bob.addRemote('alice', alice.root);
    const feed = feedOf(alice);
    const ac = new AbortController();
    const s = served(feed, { peer: 'bob', signal: ac.signal });
    await assert.rejects(bob.fetch('alice', { connect: async () => s.client }), /column notes\.tag, which this database lacks \(schemas differ\); nothing was fetched/);
    await s.done;
    assert.deepEqual(bob.remoteStatus()[0]!.staged, 0);

    const s2 = served(feed, { peer: 'mallory', signal: ac.signal, authorize: () => 'peer mallory is not allowed; ddcp allow KEY' });
    await assert.rejects(runSession(s2.client, { siteId: bob.engine.siteId, proof: bob.siteProof(), schema: alice.engine.crrs(), pull: merging(bob) }), (e: ProtocolError) => e.code === 'denied' && /not allowed/.test(e.message));
    await s2.done;

    for (const old of [1, 99]) {
      const s3 = served(feed, { peer: 'old', signal: ac.signal });
      await s3.client.send(new TextEncoder().encode('\u0001' + JSON.stringify({ protocol: old, site_id: '00'.repeat(16), schema: [], since: 0, follow: false })));
      const answer = await s3.client[Symbol.asyncIterator]().next();
      assert.match(new TextDecoder().decode((answer.value as Uint8Array).subarray(1)), new RegExp(`protocol version ${old} is not supported \\(this peer speaks 3\\)`));
      await s3.done;
    }
  });

  it('survives garbage and protocol violations, leaving the database unchanged', async () => {
    const alice = await repo('alice');
    alice.db.exec("INSERT INTO notes VALUES ('keep', 'me')");
    const feed = feedOf(alice);
    const ac = new AbortController();
    const before = rows(alice);
    const fuzzer = await repo('fuzzer');
    const hello = (push: boolean) => encodeMessage({ type: 'hello', protocol: 3, siteId: fuzzer.engine.siteId, proof: fuzzer.siteProof(), schema: alice.engine.crrs(), since: 0, held: [], follow: false, pull: false, push });
    for (const frames of [
      [new Uint8Array([0xff, 1, 2, 3])],
      [new Uint8Array(0)],
      [new TextEncoder().encode('\u0001{not json')],
      [new TextEncoder().encode('\u0001' + JSON.stringify({ protocol: 2, site_id: '00'.repeat(16), schema: [], since: 0, follow: false }))],
      [encodeMessage({ type: 'caught-up', version: 1 })],
      [encodeMessage({ type: 'batch', version: 1, complete: true, changes: [] })],
      [new Uint8Array([3, 0x80])],
      // a client that may not write pushes anyway; one that did not say it pushes sends a batch
      [hello(true), encodeMessage({ type: 'batch', version: 1, complete: true, changes: [] })],
      [hello(false), encodeMessage({ type: 'caught-up', version: 1 })],
      [hello(false), encodeMessage({ type: 'ack', version: 1 })],
    ]) {
      const warnings: string[] = [];
      const s = served(feed, { peer: 'fuzz', signal: ac.signal, log: (_l, m) => warnings.push(m), gate: new Gate(() => ({ read: 'all', write: 'none' })) });
      for (const f of frames) await s.client.send(f);
      await s.client.close();
      await s.done;
      assert.ok(warnings.some((w) => /refused|unexpected|malformed|may not/.test(w)), `the reason is logged: ${warnings.join('; ')}`);
    }
    assert.deepEqual(rows(alice), before);
  });

  it('a following session that stays idle repeats caught-up as a keep-alive', async () => {
    const alice = await repo('alice');
    const bob = await repo('bob');
    const feed = feedOf(alice);
    const ac = new AbortController();
    const s = served(feed, { peer: 'bob', signal: ac.signal, keepAliveMs: 30 });
    const stop = new AbortController();
    let caughtUp = 0;
    await runSession(s.client, { ...as(bob), follow: true, signal: stop.signal, pull: merging(bob, () => ++caughtUp === 4 && stop.abort()) });
    assert.equal(caughtUp, 4);
    ac.abort();
    await s.done;
  });

  it('every inbound door passes Gate.admit: a received push under the pusher as peer, a pulled merge for schema fit only', async () => {
    const alice = await repo('alice');
    const bob = await repo('bob');
    alice.db.exec("INSERT INTO notes VALUES ('a1', 'alice')");
    bob.db.exec("INSERT INTO notes VALUES ('b1', 'bob')");
    bob.addRemote('alice', alice.root);
    /** A gate that records who each admit was for (undefined: our own input, no peer policy). */
    const recording = (calls: (string | undefined)[]): Gate =>
      new (class extends Gate {
        override admit(...args: Parameters<Gate['admit']>): ReturnType<Gate['admit']> {
          calls.push(args[2]?.peer);
          return super.admit(...args);
        }
      })(() => ({ read: 'all', write: 'all' }));
    const pushes: (string | undefined)[] = [];
    const pulls: (string | undefined)[] = [];
    Object.defineProperty(bob, 'gate', { value: recording(pulls) });
    const feed = feedOf(alice);
    const bobFeed = feedOf(bob);
    const ac = new AbortController();
    const s = served(feed, { peer: 'bob', signal: ac.signal, gate: recording(pushes) });
    await runSession(s.client, { ...as(bob), push: bobFeed });
    await s.done;
    assert.deepEqual(pushes, ['bob'], 'the push was merged through the gate, under bob\'s policy');
    const s2 = served(feed, { peer: 'bob', signal: ac.signal, gate: writer });
    await bob.pull('alice', { connect: async () => s2.client });
    await s2.done;
    assert.deepEqual(pulls, [undefined], 'the pulled merge went through the gate, schema fit only');
    assert.deepEqual(rows(alice), rows(bob));
  });

  it('transactions sealed together share one db_version and are judged as one source transaction by the write guard', async () => {
    const alice = await repo('alice');
    const bob = await repo('bob');
    // two SQLite transactions, one seal: the allowed one is refused with the forbidden one
    bob.db.exec("INSERT INTO notes VALUES ('ok1', 'allowed')");
    bob.db.exec("INSERT INTO notes VALUES ('bad', 'forbidden')");
    bob.engine.seal();
    // sealed on its own: judged on its own
    bob.db.exec("INSERT INTO notes VALUES ('ok2', 'allowed')");
    bob.engine.seal();
    const feed = feedOf(alice);
    const bobFeed = feedOf(bob);
    const ac = new AbortController();
    const s = served(feed, { peer: 'bob', signal: ac.signal, gate: new Gate(() => ({ read: 'all', write: [{ table: 'notes', where: "id LIKE 'ok%'" }] })) });
    const r = await runSession(s.client, { ...as(bob), push: bobFeed });
    await s.done;
    assert.equal(r.pushed.refused.length, 1);
    assert.deepEqual(rows(alice), [{ id: 'ok2', body: 'allowed' }]);
  });

  it('the welcome tells a pushing client whether it may write, and the version of its own the server holds', async () => {
    const alice = await repo('alice');
    const bob = await repo('bob');
    bob.db.exec("INSERT INTO notes VALUES ('b1', 'bob')");
    const feed = feedOf(alice);
    const bobFeed = feedOf(bob);
    const ac = new AbortController();
    const denied = served(feed, { peer: 'bob', signal: ac.signal, gate: new Gate(() => ({ read: 'all', write: 'none' })) });
    await assert.rejects(runSession(denied.client, { ...as(bob), push: bobFeed }), (e: ProtocolError) => e.code === 'denied' && /does not take our changes/.test(e.message));
    await denied.done;
    assert.deepEqual(rows(alice), []);
    const ok = served(feed, { peer: 'bob', signal: ac.signal, gate: writer });
    const r = await runSession(ok.client, { ...as(bob), push: bobFeed });
    await ok.done;
    assert.equal(r.welcome.yours, 0);
    assert.equal(r.pushed.changes, 1);
    assert.equal(r.pushed.version, bob.engine.dbVersion());
    assert.deepEqual(rows(alice), [{ id: 'b1', body: 'bob' }]);
    assert.equal(alice.engine.trackedVersion(bob.engine.siteId), bob.engine.dbVersion());
    // the next push starts after what alice holds: nothing is sent again
    const again = served(feed, { peer: 'bob', signal: ac.signal, gate: writer });
    const r2 = await runSession(again.client, { ...as(bob), push: bobFeed });
    await again.done;
    assert.deepEqual([r2.welcome.yours, r2.pushed.changes], [bob.engine.dbVersion(), 0]);
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
    const feed = feedOf(alice);
    const ac = new AbortController();
    let connections = 0;
    let applied = 0;
    let received = 0;
    const done = bob.follow(
      'alice',
      async (signal) => {
        const [server, client] = framePair();
        void serveSession(server, feed, feed, { peer: 'bob', proof: alice.siteProof(), signal: signal! });
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
  });
});

describe('protocol v3 messages', () => {
  it('round-trip hello, welcome, ack and refused, and reject v3 messages missing their fields', () => {
    const siteId = new Uint8Array(16).fill(1);
    const proof = { address: '12D3KooWCFyXrCNVjxa1sxhqVk68LezMTtduDonVnzdYAuL6r9Sv', signature: new Uint8Array(64).fill(9) };
    for (const m of [
      { type: 'hello', protocol: 3, siteId, proof, schema: [], since: 3, expect: siteId, held: [{ siteId, version: 2 }], follow: true, pull: false, push: true },
      { type: 'welcome', protocol: 3, siteId, proof, schema: [], version: 9, yours: 4, push: true },
      { type: 'ack', version: 5 },
      { type: 'refused', version: 6, message: 'no' },
    ] as Message[]) {
      assert.deepEqual(decodeMessage(encodeMessage(m)), m);
    }
    const frame = (type: number, body: object) => new Uint8Array([type, ...new TextEncoder().encode(JSON.stringify(body))]);
    const signed = { address: proof.address, proof: '09'.repeat(64) };
    for (const bad of [
      frame(2, { protocol: 3, site_id: '01'.repeat(16), ...signed, schema: [], version: 1, push: true }),
      frame(2, { protocol: 3, site_id: '01'.repeat(16), ...signed, schema: [], version: 1, yours: 0 }),
      frame(6, { version: -1 }),
      frame(7, { version: 1 }),
      frame(1, { protocol: 3, site_id: '01'.repeat(16), ...signed, schema: [], since: 0, held: [], follow: false, pull: 'yes', push: false }),
      // the site proof: missing, not an address, a signature of the wrong length
      frame(1, { protocol: 3, site_id: '01'.repeat(16), schema: [], since: 0, held: [], follow: false, pull: true, push: false }),
      frame(1, { protocol: 3, site_id: '01'.repeat(16), ...signed, address: 'bob', schema: [], since: 0, held: [], follow: false, pull: true, push: false }),
      frame(2, { protocol: 3, site_id: '01'.repeat(16), ...signed, proof: '09'.repeat(63), schema: [], version: 1, yours: 0, push: true }),
    ]) {
      assert.throws(() => decodeMessage(bad), (e: ProtocolError) => e.code === 'malformed');
    }
  });
});
