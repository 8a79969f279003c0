/**
 * A push that fails inside a group commit fails alone, in both stores: the other origins' pushes of
 * the same group land, are acknowledged with their versions and reach followers, and nothing of the
 * failed push is stored — not even the rows its merge wrote before it failed. (The embedded store
 * merges a group's origins straight in one transaction, without a savepoint each; when one throws,
 * it undoes the group and merges it again origin by origin: sqlite/feed.ts commitGroup.)
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Engine, openDatabase, unpackColumns, type Change } from '../src/engine/index.ts';
import { fanoutOf } from '../src/hub/fanout.ts';
import type { HubDatabase, HubStore } from '../src/hub/storage/port.ts';
import { PgHubStore } from '../src/hub/storage/postgres/store.ts';
import type { HostedFeed } from '../src/hub/storage/sqlite/feed.ts';
import { SqliteHubStore } from '../src/hub/storage/sqlite/store.ts';
import type { Batch } from '../src/sync/batches.ts';
import type { FrameChannel, SendOptions } from '../src/sync/channel.ts';
import { Gate } from '../src/sync/gate.ts';
import { decodeMessage } from '../src/sync/messages.ts';
import type { PushOrigin, Received } from '../src/sync/ports.ts';
import { tempDir } from './support/cli.ts';
import { dropSchema, PG_URL, testClient, testSchema } from './support/postgres.ts';

const sql = testClient();
after(() => sql.end());

const OWNER = { app: 'test-app', user: 'alice' };
const ALL = new Gate(() => ({ read: 'all', write: 'all' }));
const NOTES = { name: 'notes', pks: ['id'], columns: ['body'] };
const NOBODY = new Uint8Array(16);

/** A client that wrote `rows` new rows (ids `<prefix><i>`) in each of `txs` transactions: its site and one batch per transaction. */
function writer(prefix: string, txs: number, rows = 1): { siteId: Uint8Array; batches: Batch[] } {
  const engine = Engine.open(openDatabase(':memory:'));
  engine.db.exec('CREATE TABLE notes (id NOT NULL PRIMARY KEY, body)');
  engine.asCrr('notes');
  const batches: Batch[] = [];
  let n = 0;
  for (let t = 1; t <= txs; t++) {
    const v = engine.dbVersion();
    for (let r = 0; r < rows; r++, n++) engine.db.prepare('INSERT INTO notes VALUES (?, ?)').run(`${prefix}${n}`, `body ${n}`);
    engine.seal();
    batches.push({ changes: [...engine.changesSince(v)], version: engine.dbVersion(), complete: true });
  }
  const siteId = engine.siteId;
  engine.db.close();
  return { siteId, batches };
}

/** The batch with its last value change moved to a column the database does not have (it fails there, after the rest merged). */
function failingAtEnd(b: Batch): Batch {
  const last = b.changes.findLastIndex((c) => c.cid === 'body');
  return { ...b, changes: b.changes.map((c, i) => (i === last ? { ...c, cid: 'nope' } : c)) };
}

const idOf = (pk: Uint8Array): string => String(unpackColumns(pk)[0]);

/** The row ids stored, each once. */
async function rowIds(db: HubDatabase): Promise<string[]> {
  const ids = new Set<string>();
  for await (const b of db.feed.batches(0, { exceptSite: NOBODY })) for (const c of b.changes as Change[]) ids.add(idOf(c.pk));
  return [...ids].sort();
}

/** A follower's channel: the row ids of every change sent to it, in order (duplicates kept). */
class Follower implements FrameChannel {
  readonly ids: string[] = [];
  send(frame: Uint8Array, _options?: SendOptions): Promise<void> {
    const m = decodeMessage(frame);
    if (m.type === 'batch') for (const c of m.changes) if (c.cid === 'body') this.ids.push(idOf(c.pk));
    return Promise.resolve();
  }
  async close(): Promise<void> {}
  abort(): void {}
  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {}
}

const ids = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

const stores: { name: string; open: () => Promise<{ store: HubStore; done: () => Promise<void> }> }[] = [
  { name: 'SQLite', open: async () => ({ store: new SqliteHubStore(`${tempDir()}/hub`), done: async () => {} }) },
  {
    name: 'PostgreSQL',
    open: async () => {
      const schema = testSchema();
      const store = await PgHubStore.open({ url: PG_URL, schema });
      return { store, done: () => dropSchema(sql, schema) };
    },
  },
];

for (const kind of stores) {
  describe(`hub: a failing push in a group commit (${kind.name} store)`, () => {
    for (const at of [0, 1, 2]) {
      it(`fails alone (the failing origin ${['first', 'in the middle', 'last'][at]}): the others land, acknowledged, and reach followers; nothing of it is stored`, async () => {
        const { store, done } = await kind.open();
        const stop = new AbortController();
        try {
          const db = (await store.open('notes', OWNER))!;
          await db.declare([NOTES]);
          const follower = new Follower();
          void fanoutOf(db).send(follower, await db.feed.version(), { exceptSite: NOBODY, follow: true, signal: stop.signal });
          await sleep(20);
          // Two good origins of two pushes each, and one whose single push of 300 rows (more than a
          // merge's chunk: its first rows are written before the last change fails) does not fit.
          const a = writer('a', 3);
          const c = writer('c', 3);
          const b = writer('b', 2, 300);
          const origin = (w: { siteId: Uint8Array }, source: string): PushOrigin => ({ siteId: w.siteId, peer: 'alice', source, gate: ALL });
          const [oa, ob, oc] = [origin(a, 'a'), origin(b, 'b'), origin(c, 'c')];
          for (const o of [oa, ob, oc]) await db.sink.dropIncomplete(o); // as each session starts
          const commits = (db.feed as HostedFeed).commits;
          const pushes: [PushOrigin, Batch][] = [
            [oa, a.batches[0]!],
            [oa, a.batches[1]!],
            [oc, c.batches[0]!],
            [oc, c.batches[1]!],
          ];
          pushes.splice(at * 2, 0, [ob, failingAtEnd(b.batches[0]!)]);
          // Handed over in one turn: one group commit.
          const answers = await Promise.allSettled(pushes.map(([o, batch]) => db.sink.receive(batch, o)));
          if (kind.name === 'SQLite') assert.equal((db.feed as HostedFeed).commits, commits + 1, 'one group commit');
          answers.forEach((r, i) => {
            const [o, batch] = pushes[i]!;
            if (o === ob) {
              assert.equal(r.status, 'rejected', 'the failing push is refused');
              return;
            }
            assert.equal(r.status, 'fulfilled', `push of ${o.source} at ${batch.version} acknowledged`);
            assert.equal((r as PromiseFulfilledResult<Received | undefined>).value?.version, batch.version);
          });
          assert.deepEqual(await rowIds(db), [...ids('a', 2), ...ids('c', 2)].sort(), "the good origins' rows, none of the failing one's");
          assert.equal(await db.sink.trackedVersion(a.siteId), a.batches[1]!.version);
          assert.equal(await db.sink.trackedVersion(c.siteId), c.batches[1]!.version);
          assert.equal(await db.sink.trackedVersion(b.siteId), 0, "the failing origin's version is not recorded");
          assert.equal(await db.feed.version(), 2, "one version per good origin's merge, none for the failed one");
          for (let i = 0; follower.ids.length < 4 && i < 500; i++) await sleep(2);
          assert.deepEqual([...follower.ids].sort(), [...ids('a', 2), ...ids('c', 2)].sort(), 'the follower got each landed row once, nothing of the failed push');

          // After it: the good origin's next push lands (and reaches the follower); the failed origin's does not.
          const [next, failed] = await Promise.allSettled([db.sink.receive(a.batches[2]!, oa), db.sink.receive(b.batches[1]!, ob)]);
          assert.equal(next!.status, 'fulfilled');
          assert.equal(failed!.status, 'rejected', "none of the failed origin's later pushes is merged");
          await db.sink.caughtUp(a.batches[2]!.version, oa);
          assert.equal(await db.sink.trackedVersion(a.siteId), a.batches[2]!.version);
          assert.deepEqual(await rowIds(db), [...ids('a', 3), ...ids('c', 2)].sort());
          for (let i = 0; follower.ids.length < 5 && i < 500; i++) await sleep(2);
          assert.deepEqual([...follower.ids].sort(), [...ids('a', 3), ...ids('c', 2)].sort());
          db.release?.();
        } finally {
          stop.abort();
          await store.close();
          await done();
        }
      });
    }

    it('a push refused in part by its write policy, between good ones in one group: the refused transaction leaves nothing, the rest lands', async () => {
      const { store, done } = await kind.open();
      try {
        const db = (await store.open('notes', OWNER))!;
        await db.declare([NOTES]);
        const a = writer('a', 1);
        const c = writer('c', 1);
        const r = writer('r', 3);
        // r's pusher may not write its second row: that transaction is refused whole, the others apply.
        const guarded = new Gate(() => ({ read: 'all', write: [{ table: 'notes', where: "id IS NOT 'r1'" }] }));
        const oa: PushOrigin = { siteId: a.siteId, peer: 'alice', source: 'a', gate: ALL };
        const oc: PushOrigin = { siteId: c.siteId, peer: 'alice', source: 'c', gate: ALL };
        const or: PushOrigin = { siteId: r.siteId, peer: 'bob', source: 'r', gate: guarded };
        for (const o of [oa, oc, or]) await db.sink.dropIncomplete(o);
        const commits = (db.feed as HostedFeed).commits;
        const answers = await Promise.all([db.sink.receive(a.batches[0]!, oa), ...r.batches.map((b) => db.sink.receive(b, or)), db.sink.receive(c.batches[0]!, oc)]);
        if (kind.name === 'SQLite') assert.equal((db.feed as HostedFeed).commits, commits + 1, 'one group commit');
        const last = answers[3]!;
        assert.deepEqual(last.refused.map((x) => x.version), [r.batches[1]!.version], "r's second transaction refused");
        assert.ok(answers[0]!.applied > 0 && answers[4]!.applied > 0);
        assert.deepEqual(await rowIds(db), ['a0', 'c0', 'r0', 'r2']);
        assert.equal(await db.sink.trackedVersion(a.siteId), a.batches[0]!.version);
        assert.equal(await db.sink.trackedVersion(c.siteId), c.batches[0]!.version);
        db.release?.();
      } finally {
        await store.close();
        await done();
      }
    });
  });
}
