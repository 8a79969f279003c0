/**
 * The hub's fan-out (src/hub/fanout.ts) over both stores: many followers of a database cost one
 * store read and one encoding per merge, all sent the same frame; a pusher is never sent its own
 * changes back; a read filter is a group of its own; a follower that stops reading stalls nobody;
 * a follower from before the frames kept reads the store, then joins.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Engine, openDatabase, type ReadFilter } from '../src/engine/index.ts';
import { FANOUT_LOG_CHANGES, fanoutOf } from '../src/hub/fanout.ts';
import type { HubDatabase, HubStore } from '../src/hub/storage/port.ts';
import { PgHubStore } from '../src/hub/storage/postgres/store.ts';
import { SqliteHubStore } from '../src/hub/storage/sqlite/store.ts';
import { readBatches } from '../src/repo/feed.ts';
import { BATCH_CHANGES } from '../src/sync/batches.ts';
import type { FrameChannel, SendOptions } from '../src/sync/channel.ts';
import { Gate } from '../src/sync/gate.ts';
import { FEATURE_BATCH_CAUGHT_UP } from '../src/sync/features.ts';
import { decodeMessage } from '../src/sync/messages.ts';
import { tempDir } from './support/cli.ts';
import { dropSchema, testClient } from './support/postgres.ts';

/** A channel that keeps what is sent to it (optionally never finishing a send: a peer that stopped reading). */
class Collect implements FrameChannel {
  frames: { frame: Uint8Array; shared: boolean }[] = [];
  stuckAfter = Infinity;
  send(frame: Uint8Array, options?: SendOptions): Promise<void> {
    this.frames.push({ frame, shared: options?.shared === true });
    if (this.frames.length > this.stuckAfter) return new Promise((_resolve, reject) => options?.signal?.addEventListener('abort', () => reject(new Error('aborted'))));
    return Promise.resolve();
  }
  async close(): Promise<void> {}
  abort(): void {}
  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {}
  /** The decoded batches' changes, as `cid=value@version`. */
  changes(): string[] {
    return this.frames.flatMap((f) => {
      const m = decodeMessage(f.frame);
      return m.type === 'batch' ? m.changes.map((c) => `${c.cid}=${String(c.val)}@${c.dbVersion}`) : [];
    });
  }
  batchFrames(): Uint8Array[] {
    return this.frames.filter((f) => decodeMessage(f.frame).type === 'batch').map((f) => f.frame);
  }
  caughtUp(): number {
    return Math.max(-1, ...this.frames.map((f) => decodeMessage(f.frame)).flatMap((m) => (m.type === 'caught-up' ? [m.version] : [])));
  }
}

const T_BATCH = 3;
const T_CAUGHT_UP = 4;
const T_BATCH_CAUGHT_UP = 8;

async function until(check: () => boolean): Promise<void> {
  while (!check()) await sleep(5);
}

/**
 * Hosted database `name` holding the CRR `notes`, the client engine on `db` that writes it, and `push`:
 * that engine's changes not yet pushed, received by the hub under an allow-all policy.
 */
async function notesDatabase(store: HubStore, name: string, db: ReturnType<typeof openDatabase>) {
  const hosted = (await store.open(name, { app: 'a', user: 'u' })) as HubDatabase;
  const engine = Engine.open(db);
  db.exec('CREATE TABLE notes(id TEXT PRIMARY KEY NOT NULL, body TEXT)');
  engine.asCrr('notes');
  await hosted.declare(engine.crrs());
  const gate = new Gate(() => ({ read: 'all', write: 'all' }));
  let pushed = 0;
  const push = async (): Promise<void> => {
    for (const b of readBatches(engine, pushed, { exceptSite: new Uint8Array(16) })) {
      if (b.changes.length) await hosted.sink.receive(b, { siteId: engine.siteId, peer: 'u', source: 'u', gate });
      pushed = b.version;
    }
  };
  return { hosted, engine, push };
}

function fanoutSuite(kind: string, open: () => Promise<{ store: HubStore; cleanup: () => Promise<void> }>): void {
  describe(`hub fan-out (${kind})`, () => {
    it('one read and one encoding per merge for fifty followers; the same frame to each; never a pusher its own changes', async () => {
      const { store, cleanup } = await open();
      const db = openDatabase(':memory:');
      const stop = new AbortController();
      try {
        const { hosted, engine, push } = await notesDatabase(store, 'notes', db);
        const fanout = fanoutOf(hosted);
        assert.equal(fanoutOf(hosted), fanout, 'one fan-out per database');
        const v0 = await hosted.feed.version();
        const follow = (exceptSite: Uint8Array, read?: ReadFilter): Collect => {
          const c = new Collect();
          fanout.send(c, v0, { exceptSite, follow: true, signal: stop.signal, ...(read ? { read } : {}) }).catch(() => {}); // the stuck one's send is aborted
          return c;
        };
        const others = Array.from({ length: 50 }, () => follow(randomBytes(16)));
        const pusher = follow(engine.siteId);
        const filtered = follow(randomBytes(16), { rules: [{ table: 'notes', where: "body = 'one'", label: 'r' }], params: {} });
        const stuck = follow(randomBytes(16));
        stuck.stuckAfter = 1; // takes its first caught-up, then never finishes a send
        const all = [...others, pusher, filtered, stuck];
        await until(() => all.every((c) => c.frames.length >= 1));
        const before = { ...fanout.stats };

        db.exec("INSERT INTO notes VALUES ('a', 'one'), ('b', 'two')");
        engine.seal();
        await push();
        const v1 = await hosted.feed.version();
        await until(() => [...others, pusher, filtered].every((c) => c.caughtUp() >= v1));
        for (const o of others) assert.deepEqual(o.changes().sort(), [`body=one@${v1}`, `body=two@${v1}`]);
        const frame = others[0]!.batchFrames()[0]!;
        for (const o of others) {
          assert.equal(o.batchFrames().length, 1);
          assert.equal(o.batchFrames()[0], frame, 'the very same frame, encoded once');
          assert.ok(o.frames.every((f) => f.shared), 'sent as shared: the transport does not copy it');
        }
        assert.deepEqual(pusher.changes(), [], 'never the pusher its own changes back');
        assert.deepEqual(filtered.changes(), [`body=one@${v1}`], 'a read filter is its own group');
        assert.equal(fanout.stats.followerReads - before.followerReads, 0, 'no follower read the store itself');
        // one read per group (the unfiltered one and the filtered one); a second wake by the same
        // merge (PostgreSQL: the local wake and the notification) reads nothing new
        assert.ok(fanout.stats.groupReads - before.groupReads <= 4, `group reads: ${fanout.stats.groupReads - before.groupReads}`);
        assert.equal(fanout.stats.encoded - before.encoded, 2, 'one encoding per group');

        // the stuck follower stalls nobody: the next merge reaches the others
        db.exec("UPDATE notes SET body = 'three' WHERE id = 'a'");
        engine.seal();
        await push();
        const v2 = await hosted.feed.version();
        await until(() => others.every((c) => c.caughtUp() >= v2));
        for (const o of others) assert.ok(o.changes().includes(`body=three@${v2}`));
        assert.equal(stuck.frames.length, 2, 'the stuck follower got its next frame, and waits on it');

        // a follower from before the frames kept reads the store itself, then follows with the group
        const rows = Math.ceil(FANOUT_LOG_CHANGES / 1000) + 1;
        for (let i = 0; i < rows; i++) {
          const ins = db.prepare('INSERT INTO notes VALUES (?, ?)');
          for (let j = 0; j < 1000; j++) ins.run(`r${i}-${j}`, 'x');
          engine.seal();
          await push();
        }
        const v3 = await hosted.feed.version();
        await until(() => others.every((c) => c.caughtUp() >= v3));
        const late = new Collect();
        const reads = fanout.stats.followerReads;
        void fanout.send(late, 0, { exceptSite: randomBytes(16), follow: true, signal: stop.signal });
        await until(() => late.caughtUp() >= v3);
        assert.equal(fanout.stats.followerReads - reads, 1);
        assert.equal(late.changes().length, 2 + rows * 1000);
        db.exec("UPDATE notes SET body = 'four' WHERE id = 'b'");
        engine.seal();
        await push();
        const v4 = await hosted.feed.version();
        await until(() => late.caughtUp() >= v4);
        assert.ok(late.changes().includes(`body=four@${v4}`));
        assert.equal(fanout.stats.followerReads - reads, 1, 'then it follows with the group');
      } finally {
        stop.abort();
        db.close();
        await store.close();
        await cleanup();
      }
    });

    it('a follower catching up from the store that negotiated batch-caught-up gets its last batch paired with the caught-up, no separate caught-up; one that did not gets batches then caught-up, as before; an empty read ends with a plain caught-up', async () => {
      const { store, cleanup } = await open();
      const db = openDatabase(':memory:');
      const stop = new AbortController();
      try {
        const { hosted, engine, push } = await notesDatabase(store, 'behind', db);
        const commit = async (sql: string): Promise<void> => {
          db.exec(sql);
          engine.seal();
          await push();
        };
        // History in the store before anyone follows: several versions, more changes than one batch holds.
        const rows = Math.ceil((2 * BATCH_CHANGES) / 4) + 1;
        for (let k = 1; k <= 4; k++) await commit(Array.from({ length: rows }, (_, j) => `INSERT INTO notes VALUES ('r${k}-${j}', 'v${k}');`).join('\n'));
        const v1 = await hosted.feed.version();
        const fanout = fanoutOf(hosted);
        const reads = fanout.stats.followerReads;
        const types = (c: Collect): number[] => c.frames.map((f) => f.frame[0]!);
        /** Each frame as its batch's changes (`cid=value@version`) and its caught-up version, whichever it holds. */
        const decoded = (c: Collect) =>
          c.frames.map((f) => {
            const m = decodeMessage(f.frame);
            const b = m.type === 'batch' ? m : m.type === 'batch-caught-up' ? m.batch : undefined;
            return { changes: b?.changes.map((ch) => `${ch.cid}=${String(ch.val)}@${ch.dbVersion}`) ?? [], batch: b && { version: b.version, complete: b.complete }, caughtUp: m.type === 'caught-up' || m.type === 'batch-caught-up' ? m.version : undefined };
          });
        const paired = new Collect();
        const legacy = new Collect();
        const sentPaired = fanout.send(paired, 0, { exceptSite: randomBytes(16), follow: false, signal: stop.signal, features: [FEATURE_BATCH_CAUGHT_UP] });
        const sentLegacy = fanout.send(legacy, 0, { exceptSite: randomBytes(16), follow: false, signal: stop.signal });
        assert.equal(await sentPaired, v1);
        assert.equal(await sentLegacy, v1, 'both end at the same version');
        assert.equal(fanout.stats.followerReads - reads, 2, 'both read the store (behind the group)');
        const n = legacy.frames.length - 1;
        assert.ok(n >= 2, `several batches (${n})`);
        assert.deepEqual(types(legacy), [...new Array(n).fill(T_BATCH), T_CAUGHT_UP], 'no feature: batches, then a caught-up, as before');
        assert.deepEqual(types(paired), [...new Array(n - 1).fill(T_BATCH), T_BATCH_CAUGHT_UP], 'the feature: the same batches, the last paired, no separate caught-up');
        const p = decoded(paired);
        const l = decoded(legacy);
        assert.deepEqual(p.map((f) => f.changes), l.slice(0, n).map((f) => f.changes), 'the same changes in the same batches');
        assert.deepEqual(p.map((f) => f.batch), l.slice(0, n).map((f) => f.batch));
        assert.equal(p.at(-1)!.caughtUp, l.at(-1)!.caughtUp, 'the caught-up version that went alone');
        assert.equal(p.at(-1)!.caughtUp, v1);
        assert.equal(l.flatMap((f) => f.changes).length, 4 * rows);

        // An empty read (everything after `since` is the follower's own): a plain caught-up, paired or not.
        const own = new Collect();
        assert.equal(await fanout.send(own, 0, { exceptSite: engine.siteId, follow: false, signal: stop.signal, features: [FEATURE_BATCH_CAUGHT_UP] }), v1);
        assert.deepEqual(types(own), [T_CAUGHT_UP]);
        assert.equal(decodeMessage(own.frames[0]!.frame).type === 'caught-up' && (decodeMessage(own.frames[0]!.frame) as { version: number }).version, v1);

        // Following from behind: the catch-up as above, then each wake with the group (paired or not).
        const follower = new Collect();
        const old = new Collect();
        void fanout.send(follower, 0, { exceptSite: randomBytes(16), follow: true, signal: stop.signal, features: [FEATURE_BATCH_CAUGHT_UP] });
        void fanout.send(old, 0, { exceptSite: randomBytes(16), follow: true, signal: stop.signal });
        const last = (c: Collect): number => decoded(c).reduce((v, f) => Math.max(v, f.caughtUp ?? -1), -1);
        await until(() => last(follower) >= v1 && last(old) >= v1);
        await commit("UPDATE notes SET body = 'w' WHERE id = 'r1-0'");
        const v2 = await hosted.feed.version();
        await until(() => last(follower) >= v2 && last(old) >= v2);
        assert.deepEqual(types(follower), [...new Array(n - 1).fill(T_BATCH), T_BATCH_CAUGHT_UP, T_BATCH_CAUGHT_UP]);
        assert.deepEqual(types(old), [...new Array(n).fill(T_BATCH), T_CAUGHT_UP, T_BATCH, T_CAUGHT_UP]);
        assert.deepEqual(decoded(follower).flatMap((f) => f.changes), decoded(old).flatMap((f) => f.changes), 'the same changes');
        assert.deepEqual(decoded(follower).flatMap((f) => (f.caughtUp === undefined ? [] : [f.caughtUp])), [v1, v2]);
        assert.deepEqual(decoded(old).flatMap((f) => (f.caughtUp === undefined ? [] : [f.caughtUp])), [v1, v2]);
      } finally {
        stop.abort();
        db.close();
        await store.close();
        await cleanup();
      }
    });

    it('an idle follower is sent caught-up every keep-alive period, before and after a change; it ends when aborted', async () => {
      const { store, cleanup } = await open();
      const db = openDatabase(':memory:');
      const stop = new AbortController();
      try {
        const { hosted, engine, push } = await notesDatabase(store, 'idle', db);
        const c = new Collect();
        const caughtUps = (): number => c.frames.filter((f) => decodeMessage(f.frame).type === 'caught-up').length;
        const sent = fanoutOf(hosted).send(c, await hosted.feed.version(), { exceptSite: randomBytes(16), follow: true, signal: stop.signal, keepAliveMs: 20 });
        await until(() => caughtUps() >= 3); // the first, then two keep-alives: the timer re-arms
        db.exec("INSERT INTO notes VALUES ('a', 'one')");
        engine.seal();
        await push();
        await until(() => c.changes().length === 1);
        const after = caughtUps();
        await until(() => caughtUps() >= after + 2); // and again after a change woke it
        stop.abort();
        assert.equal(await sent, await hosted.feed.version(), 'ends at the version it sent');
      } finally {
        stop.abort();
        db.close();
        await store.close();
        await cleanup();
      }
    });
  });
}

fanoutSuite('SQLite', async () => {
  const dir = tempDir();
  return { store: new SqliteHubStore(dir), cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
});

const sql = testClient(10);
after(() => sql.end());
fanoutSuite('PostgreSQL', async () => {
  const schema = `t_hubfan_${randomBytes(4).toString('hex')}`;
  return { store: await PgHubStore.open({ url: sql, schema }), cleanup: () => dropSchema(sql, schema) };
});
