/**
 * The PostgreSQL store hands the fan-out what its merges stored instead of it reading that back
 * (PgHubDatabase.takeStored): exactly what a read gives — the same changes, values and clocks, in
 * the same order, the same direct versions — and never when another hub process merged a version
 * after them (that one is only in PostgreSQL: the fan-out must read), nor when a merge's answer was
 * lost. A merge's own notification wakes nobody in its process; another process's does.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Engine, openDatabase, type Change } from '../src/engine/index.ts';
import type { PgHubDatabase } from '../src/hub/storage/postgres/database.ts';
import { PgHubStore } from '../src/hub/storage/postgres/store.ts';
import type { Batch } from '../src/sync/batches.ts';
import { Gate } from '../src/sync/gate.ts';
import { dropSchema, PG_URL, testClient, testSchema } from './support/postgres.ts';

const sql = testClient();
after(() => sql.end());
const OWNER = { app: 'test', user: 'alice' };
const ALL = new Gate(() => ({ read: 'all', write: 'all' }));
const NOBODY = new Uint8Array(16);

function client(): Engine {
  const engine = Engine.open(openDatabase(':memory:'));
  engine.db.exec('CREATE TABLE notes (id TEXT PRIMARY KEY NOT NULL, body TEXT, n INTEGER)');
  engine.asCrr('notes');
  return engine;
}

/** Pushes what `engine` has after `since`, one batch per version (as a session pushes), without awaiting the acks. */
function push(db: PgHubDatabase, engine: Engine, since: number): Promise<unknown>[] {
  const out: Promise<unknown>[] = [];
  for (let v = since + 1; v <= engine.dbVersion(); v++) {
    const changes = [...engine.changesSince(v - 1)].filter((c) => Number(c.dbVersion) === v);
    out.push(db.sink.receive({ changes, version: v, complete: true }, { siteId: engine.siteId, peer: 'alice', source: `s${engine.siteId[0]}`, gate: ALL }) as Promise<unknown>);
  }
  return out;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const text = (batches: readonly Batch[]): string[] =>
  batches.map((b) =>
    JSON.stringify([b.version, b.complete, b.changes.map((c: Change) => [c.table, hex(c.pk), c.cid, typeof c.val === 'bigint' ? `${c.val}n` : c.val, String(c.colVersion), String(c.dbVersion), hex(c.siteId), String(c.seq), String(c.cl)])]),
  );

async function read(db: PgHubDatabase, since: number): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const b of db.feed.batches(since, { exceptSite: NOBODY })) out.push(b);
  return out;
}

/** Resolves once `db`'s followers in its process are woken (or not within `ms`: false). */
async function woken(db: PgHubDatabase, ms: number): Promise<boolean> {
  const stop = new AbortController();
  const timer = setTimeout(() => stop.abort(), ms);
  let woke = false;
  await db.feed.changed(stop.signal).then(() => void (woke = !stop.signal.aborted));
  clearTimeout(timer);
  stop.abort();
  return woke;
}

describe('hub PostgreSQL store: the fan-out takes what merges stored', () => {
  it('is exactly what a read gives (new rows, updates, deletes, two sites in one group); direct versions too', async () => {
    const schema = testSchema();
    const store = await PgHubStore.open({ url: sql, schema });
    const [a, b] = [client(), client()];
    try {
      const db = (await store.open('h', OWNER)) as PgHubDatabase;
      await db.declare(a.crrs());
      const v0 = await db.version();
      assert.equal(db.takeStored(v0), undefined, 'nothing merged yet');
      // Something follows it here all along (as a fan-out waits again after each wake).
      const follow = new AbortController();
      const waits = (): Promise<void> => db.feed.changed(follow.signal).then(() => (follow.signal.aborted ? undefined : void waits()));
      const waiting = db.feed.changed(follow.signal);
      void waits();
      a.db.exec("INSERT INTO notes VALUES ('x', 'a1', 1)");
      a.db.exec("INSERT INTO notes VALUES ('y', 'a2', 2)");
      b.db.exec("INSERT INTO notes VALUES ('x', 'b1', 3)");
      b.db.exec("INSERT INTO notes VALUES ('z', 'b2', 4)");
      a.db.exec("UPDATE notes SET body = 'a3' WHERE id = 'y'");
      b.db.exec("DELETE FROM notes WHERE id = 'z'");
      await Promise.all([...push(db, a, 0), ...push(db, b, 0)]);
      await waiting;
      const handed = db.takeStored(v0);
      assert.ok(handed, 'the merges handed what they stored over');
      assert.deepEqual(text(handed), text(await read(db, v0)), 'as a read gives it');
      const end = await db.version();
      const direct = await db.directVersions(v0, end); // of what was handed: from memory
      const stored = await sql.unsafe<{ v: number; site: Buffer }[]>(`SELECT db_version::float8 AS v, site FROM ${schema}.direct_versions WHERE db = $1`, [db.id]);
      assert.deepEqual([...direct].map(([v, s]) => [v, hex(s)]).sort(), stored.map((r) => [Number(r.v), r.site.toString('hex')]).sort(), 'the direct versions PostgreSQL holds');
      assert.equal(db.takeStored(end), undefined, 'taken once');

      // Later merges continue it; a follower part-way through (a read started by a notification) gets the rest.
      const [av, bv] = [a.dbVersion(), b.dbVersion()];
      a.db.exec("UPDATE notes SET body = 'a4', n = 5 WHERE id = 'x'");
      b.db.exec("INSERT INTO notes VALUES ('w', 'b5', 6)");
      await Promise.all([...push(db, a, av), ...push(db, b, bv)]);
      assert.equal(await db.version(), end + 2);
      const mid = end + 1;
      const rest = db.takeStored(mid);
      assert.ok(rest, 'handed from within what was kept');
      assert.deepEqual(text(rest), text(await read(db, mid)));
      follow.abort();
      // Nobody follows it here now: its merges keep nothing in memory.
      const last = await db.version();
      a.db.exec("UPDATE notes SET body = 'a6' WHERE id = 'x'");
      await Promise.all(push(db, a, a.dbVersion() - 1));
      assert.equal(db.takeStored(last), undefined, 'nothing kept');
    } finally {
      await store.close();
      await dropSchema(sql, schema);
    }
  });

  it('another hub process merging after them: the fan-out reads (its change is only in PostgreSQL); its own notification wakes nobody', async () => {
    const schema = testSchema();
    const [one, two] = await Promise.all([PgHubStore.open({ url: PG_URL, schema, max: 3 }), PgHubStore.open({ url: PG_URL, schema, max: 3 })]);
    const [a, b] = [client(), client()];
    try {
      const here = (await one.open('h', OWNER)) as PgHubDatabase;
      await here.declare(a.crrs());
      const there = (await two.open('h')) as PgHubDatabase;
      const v0 = await here.version();
      // Something follows it here all along (as a fan-out waits again after each wake).
      const follow = new AbortController();
      const waits = (): Promise<void> => here.feed.changed(follow.signal).then(() => (follow.signal.aborted ? undefined : void waits()));
      void waits();

      a.db.exec("INSERT INTO notes VALUES ('x', 'a1', 1)");
      const wokeHere = woken(here, 5_000);
      await Promise.all(push(here, a, 0));
      assert.ok(await wokeHere, 'its merge wakes its followers');
      // Its notification comes back: nobody here is woken again for it.
      assert.equal(await woken(here, 300), false, 'its own notification wakes nobody');

      // Before the fan-out takes it, the other process merges the next version, and it is heard of here.
      const wokeByOther = woken(here, 5_000);
      b.db.exec("INSERT INTO notes VALUES ('y', 'b1', 2)");
      await Promise.all(push(there, b, 0));
      assert.ok(await wokeByOther, "the other process's notification wakes followers here");
      assert.equal(here.takeStored(v0), undefined, 'not handed over: the other merge is only in PostgreSQL');
      const all = await read(here, v0);
      assert.deepEqual(all.flatMap((x) => x.changes).filter((c) => c.cid === 'body').map((c) => c.val).sort(), ['a1', 'b1'], 'a read has both');

      // Its next merge is handed over again, from where the read ended.
      const at = await here.version();
      a.db.exec("UPDATE notes SET body = 'a2' WHERE id = 'x'");
      await Promise.all(push(here, a, 1));
      const next = here.takeStored(at);
      assert.ok(next, 'handed over again');
      assert.deepEqual(text(next), text(await read(here, at)));
      follow.abort();
    } finally {
      await Promise.all([one.close(), two.close()]);
      await dropSchema(sql, schema);
    }
  });
});
