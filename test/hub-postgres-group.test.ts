/**
 * The PostgreSQL hub store's group commit: pushes into one database that arrive while a merge runs
 * are merged together in one transaction, each at its own version in order of arrival. Pushed all
 * at once they must give exactly what the same pushes give one by one (every change, clock, version
 * and seq), every pusher tracked; a push that fails in a group fails alone, the others land.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Engine, openDatabase, type Change } from '../src/engine/index.ts';
import type { HubDatabase } from '../src/hub/storage/port.ts';
import { PgHubStore } from '../src/hub/storage/postgres/store.ts';
import type { Batch } from '../src/sync/batches.ts';
import { Gate } from '../src/sync/gate.ts';
import { dropSchema, testClient, testSchema } from './support/postgres.ts';

const sql = testClient();
after(() => sql.end());

const OWNER = { app: 'test', user: 'alice' };
const ALL = new Gate(() => ({ read: 'all', write: 'all' }));
const NOTES = { name: 'notes', pks: ['id'], columns: ['body'] };
const ZERO = new Uint8Array(16);

/** A client that wrote `n` transactions, some on rows the other clients write too. */
function client(i: number, n: number): { engine: Engine; batches: Batch[] } {
  const engine = Engine.open(openDatabase(':memory:'));
  engine.db.exec('CREATE TABLE notes (id NOT NULL PRIMARY KEY, body)');
  engine.asCrr('notes');
  const batches: Batch[] = [];
  for (let t = 0; t < n; t++) {
    const v = engine.dbVersion();
    engine.db.prepare('INSERT INTO notes VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET body = excluded.body').run(`own-${i}-${t}`, `c${i} t${t}`);
    engine.db.prepare('INSERT INTO notes VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET body = excluded.body').run(`shared-${t % 3}`, `c${i} t${t}`);
    if (t % 4 === 3) engine.db.prepare('DELETE FROM notes WHERE id = ?').run(`shared-${t % 3}`);
    engine.seal();
    batches.push({ changes: [...engine.changesSince(v)], version: engine.dbVersion(), complete: true });
  }
  return { engine, batches };
}

const feedOf = async (db: HubDatabase): Promise<string[]> => {
  const out: string[] = [];
  for await (const b of db.feed.batches(0, { exceptSite: ZERO })) {
    for (const c of b.changes as Change[]) out.push(`${c.dbVersion}/${c.seq} ${c.table} ${Buffer.from(c.pk).toString('hex')} ${c.cid}=${String(c.val)} v${c.colVersion} cl${c.cl} @${Buffer.from(c.siteId).toString('hex')}`);
  }
  return out;
};

describe('PostgreSQL hub store: group commit', () => {
  it('pushes arriving together give exactly what the same pushes give one by one, each tracked', async () => {
    const schema = testSchema();
    const [grouped, single] = await Promise.all([PgHubStore.open({ url: sql, schema }), PgHubStore.open({ url: sql, schema: `${schema}_1`, maxGroup: 1 })]);
    try {
      const clients = Array.from({ length: 12 }, (_, i) => client(i, 4));
      const a = (await grouped.open('g', OWNER))!;
      const b = (await single.open('g', OWNER))!;
      await a.declare([NOTES]);
      await b.declare([NOTES]);
      // Round by round, every client's next transaction at once (the order of the calls is the order of arrival).
      for (let t = 0; t < 4; t++) {
        const from = (c: (typeof clients)[number]) => ({ siteId: c.engine.siteId, peer: 'alice', source: 'test', gate: ALL });
        const together = await Promise.all(clients.map((c) => a.sink.receive(c.batches[t]!, from(c))));
        const oneByOne = [];
        for (const c of clients) oneByOne.push(await b.sink.receive(c.batches[t]!, from(c)));
        assert.deepEqual(together, oneByOne);
      }
      // Each round's pushes, though the first arrived alone, went in one transaction (the group
      // starts after the turn of the event loop they arrived in): one per round.
      const [row] = await sql.unsafe<{ n: number }[]>(`SELECT count(DISTINCT xmin::text)::int AS n FROM ${schema}.direct_versions`);
      assert.equal(row?.n, 4, 'one transaction per round');
      const feed = await feedOf(a);
      assert.ok(feed.length > 0);
      assert.deepEqual(feed, await feedOf(b), 'the same changes, clocks, versions and seqs');
      assert.equal(await a.feed.version(), await b.feed.version());
      for (const c of clients) assert.equal(await a.sink.trackedVersion(c.engine.siteId), c.engine.dbVersion());
      // Each pusher's own changes are left out for it only (its versions were recorded as direct).
      const own = clients[5]!;
      const hexOf = (x: Uint8Array): string => Buffer.from(x).toString('hex');
      const notOwn: string[] = [];
      for await (const batch of a.feed.batches(0, { exceptSite: own.engine.siteId })) for (const c of batch.changes) notOwn.push(hexOf(c.siteId));
      assert.ok(notOwn.length > 0 && !notOwn.includes(hexOf(own.engine.siteId)));
    } finally {
      await Promise.all([grouped.close(), single.close()]);
      await dropSchema(sql, schema);
      await dropSchema(sql, `${schema}_1`);
    }
  });

  it('pushes that arrive while their database waits for a merge slot go in the group it then merges', async () => {
    const schema = testSchema();
    // A pool of 3: one merge slot (two connections stay free for short statements).
    const own = testClient(3);
    const store = await PgHubStore.open({ url: own, schema });
    try {
      const [a, b] = [(await store.open('a', OWNER))!, (await store.open('b', OWNER))!];
      await a.declare([NOTES]);
      await b.declare([NOTES]);
      const clients = Array.from({ length: 3 }, (_, i) => client(i, 2));
      const origins = clients.map((c) => ({ siteId: c.engine.siteId, peer: 'alice', source: 'test', gate: ALL })); // one session each
      const from = (c: (typeof clients)[number]) => origins[clients.indexOf(c)]!;
      // a's merge takes the slot (its turn is handed out at the turn's setImmediate); b's first push,
      // a turn later, waits for it, and the pushes of a later turn of the event loop (a's transaction
      // still runs: it needs PostgreSQL's answers) arrive meanwhile.
      const pushes = [a.sink.receive(clients[0]!.batches[0]!, from(clients[0]!))];
      await new Promise<void>((resolve) => setImmediate(resolve));
      pushes.push(b.sink.receive(clients[1]!.batches[0]!, from(clients[1]!)));
      await new Promise<void>((resolve) => setImmediate(resolve));
      await new Promise<void>((resolve) => setImmediate(resolve));
      pushes.push(b.sink.receive(clients[2]!.batches[0]!, from(clients[2]!)), b.sink.receive(clients[1]!.batches[1]!, from(clients[1]!)));
      await Promise.all(pushes);
      assert.equal(await b.feed.version(), 2);
      const [row] = await own.unsafe<{ n: number; v: number }[]>(
        `SELECT count(DISTINCT d.xmin::text)::int AS n, count(*)::int AS v FROM ${schema}.direct_versions d JOIN ${schema}.databases x ON x.id = d.db WHERE x.name = 'b'`,
      );
      assert.deepEqual(row, { n: 1, v: 2 }, "b's three pushes (two sites) in one transaction, a version per site");
    } finally {
      await store.close();
      await dropSchema(own, schema);
      await own.end();
    }
  });

  it('databases waiting for a merge slot share the transaction of the one that gets it; a faulty push there fails alone', async () => {
    const schema = testSchema();
    const own = testClient(3); // one merge slot
    const store = await PgHubStore.open({ url: own, schema });
    try {
      const names = ['a', 'b', 'c', 'd'];
      const dbs = await Promise.all(names.map(async (n) => (await store.open(n, OWNER))!));
      for (const db of dbs) await db.declare([NOTES]);
      const clients = Array.from({ length: 7 }, (_, i) => client(i, 2));
      const origins = clients.map((c) => ({ siteId: c.engine.siteId, peer: 'alice', source: 'test', gate: ALL }));
      const push = (d: number, c: number, batch?: Batch) => dbs[d]!.sink.receive(batch ?? clients[c]!.batches[0]!, origins[c]!);
      const txOf = async (): Promise<Map<string, string[]>> => {
        const rows = await own.unsafe<{ name: string; tx: string }[]>(
          `SELECT x.name, d.xmin::text AS tx FROM ${schema}.direct_versions d JOIN ${schema}.databases x ON x.id = d.db ORDER BY x.name, d.db_version`,
        );
        const out = new Map<string, string[]>();
        for (const r of rows) out.set(r.name, [...(out.get(r.name) ?? []), r.tx]);
        return out;
      };
      // a takes the slot; b, c and d, pushed a turn of the event loop later, wait for it and go in
      // one transaction when a is done.
      const a0 = push(0, 0);
      await new Promise<void>((resolve) => setImmediate(resolve));
      await Promise.all([a0, push(1, 1), push(2, 2), push(2, 3), push(3, 5)]);
      const first = await txOf();
      assert.deepEqual(
        names.map((n) => first.get(n)!.length),
        [1, 1, 2, 1],
        'a version per push',
      );
      const shared = first.get('b')![0]!;
      assert.deepEqual([first.get('c'), first.get('d')], [[shared, shared], [shared]], 'b, c and d committed together');
      assert.notEqual(first.get('a')![0], shared);
      // Again, with a faulty push in d: the shared transaction fails, each group is merged again on
      // its own, and only the faulty push fails.
      const bad = clients[4]!;
      const badBatch: Batch = { ...bad.batches[0]!, changes: bad.batches[0]!.changes.map((c) => (c.cid === 'body' ? { ...c, cid: 'nope' } : c)) };
      const c2 = (c: number) => clients[c]!.batches[1]!;
      const results = await Promise.allSettled([push(0, 0, c2(0)), push(1, 1, c2(1)), push(2, 2, c2(2)), push(3, 4, badBatch), push(3, 5, c2(5))]);
      results.forEach((r, i) => {
        if (i === 3) assert.ok(r.status === 'rejected' && /nope/.test(String((r.reason as Error).message)), String(r.status === 'rejected' ? r.reason : 'landed'));
        else assert.ok(r.status === 'fulfilled' && r.value!.applied > 0, `push ${i}: ${r.status === 'rejected' ? String(r.reason) : 'applied 0'}`);
      });
      assert.deepEqual(await Promise.all(dbs.map((db) => db.feed.version())), [2, 2, 3, 2], 'a version per push that landed');
      for (const [i, db] of dbs.entries()) assert.ok((await feedOf(db)).length > 0, names[i]);
    } finally {
      await store.close();
      await dropSchema(own, schema);
      await own.end();
    }
  });

  it('databases pushed to in one turn of the event loop share one transaction though merge slots are free', async () => {
    const schema = testSchema();
    const store = await PgHubStore.open({ url: sql, schema }); // a pool of 4: two merge slots, free
    try {
      const names = ['a', 'b', 'c'];
      const dbs = await Promise.all(names.map(async (n) => (await store.open(n, OWNER))!));
      for (const db of dbs) await db.declare([NOTES]);
      const clients = Array.from({ length: 4 }, (_, i) => client(i, 2));
      const origin = (c: number) => ({ siteId: clients[c]!.engine.siteId, peer: 'alice', source: 'test', gate: ALL });
      const push = (d: number, c: number, t = 0) => dbs[d]!.sink.receive(clients[c]!.batches[t]!, origin(c));
      // As a hub reads several sockets in one poll: a push into each database within one turn.
      const got = await Promise.all([push(0, 0), push(1, 1), push(2, 2), push(2, 3)]);
      assert.deepEqual(got.map((r) => r!.applied), [2, 2, 2, 2]);
      const txOf = async (): Promise<string[]> =>
        (await sql.unsafe<{ tx: string }[]>(`SELECT DISTINCT d.xmin::text AS tx FROM ${schema}.direct_versions d`)).map((r) => r.tx);
      assert.equal((await txOf()).length, 1, 'the three databases committed in one transaction');
      // A push in a later turn, while nothing else waits, gets a transaction of its own at once.
      assert.equal((await push(1, 1, 1))!.applied, 2);
      assert.equal((await txOf()).length, 2);
      assert.deepEqual(await Promise.all(dbs.map((db) => db.feed.version())), [1, 2, 2], 'a version per push');
    } finally {
      await store.close();
      await dropSchema(sql, schema);
    }
  });

  it('a hub runs two merge transactions at once at most: databases pushed to meanwhile share the next one', async () => {
    const schema = testSchema();
    const own = testClient(10); // room for eight merge transactions besides the short statements
    const store = await PgHubStore.open({ url: own, schema });
    try {
      const names = ['a', 'b', 'c', 'd'];
      const dbs = await Promise.all(names.map(async (n) => (await store.open(n, OWNER))!));
      for (const db of dbs) await db.declare([NOTES]);
      const clients = Array.from({ length: 4 }, (_, i) => client(i, 1));
      const push = (d: number) => dbs[d]!.sink.receive(clients[d]!.batches[0]!, { siteId: clients[d]!.engine.siteId, peer: 'alice', source: 'test', gate: ALL });
      // Each a turn of the event loop after the other: a's and b's transactions still run (each
      // needs PostgreSQL's answers and a WAL flush) when c and d ask.
      const pushes: unknown[] = [];
      for (let d = 0; d < 4; d++) {
        pushes.push(push(d));
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      await Promise.all(pushes);
      const rows = await own.unsafe<{ name: string; tx: string }[]>(
        `SELECT x.name, d.xmin::text AS tx FROM ${schema}.direct_versions d JOIN ${schema}.databases x ON x.id = d.db ORDER BY x.name`,
      );
      const tx = Object.fromEntries(rows.map((r) => [r.name, r.tx]));
      assert.equal(new Set([tx.a, tx.b, tx.c]).size, 3, 'a, b and c: one transaction each');
      assert.equal(tx.d, tx.c, 'c and d waited for a slot and went in one transaction');
    } finally {
      await store.close();
      await dropSchema(own, schema);
      await own.end();
    }
  });

  it("a group under a write guard does not share a transaction: its savepoints' rollbacks take nothing of others", async () => {
    const schema = testSchema();
    const own = testClient(3); // one merge slot
    const store = await PgHubStore.open({ url: own, schema });
    try {
      const names = ['a', 'b', 'c', 'd', 'e'];
      const dbs = await Promise.all(names.map(async (n) => (await store.open(n, OWNER))!));
      for (const db of dbs) await db.declare([NOTES]);
      const clients = Array.from({ length: 8 }, (_, i) => client(i, 1));
      // b's and e's pushers may write their own rows only: each transaction (which writes a shared row too) is refused.
      const guard = new Gate(() => ({ read: 'all', write: [{ table: 'notes', where: "id LIKE 'own-%'" }] }));
      const origin = (c: number, gate = ALL) => ({ siteId: clients[c]!.engine.siteId, peer: 'alice', source: 'test', gate });
      const push = (d: number, c: number, gate = ALL) => dbs[d]!.sink.receive(clients[c]!.batches[0]!, origin(c, gate));
      const got = await Promise.all([push(0, 0), push(2, 2), push(1, 1, guard), push(4, 6, guard), push(3, 3), push(1, 4, guard), push(3, 5), push(4, 7, guard)]);
      assert.deepEqual(
        got.map((r) => [r!.applied, r!.refused.length]),
        [
          [2, 0],
          [2, 0],
          [0, 1],
          [0, 1],
          [2, 0],
          [0, 1],
          [2, 0],
          [0, 1],
        ],
      );
      assert.deepEqual(await Promise.all(dbs.map((db) => db.feed.version())), [1, 0, 1, 2, 0]);
      const rows = async (db: HubDatabase): Promise<number> => (await feedOf(db)).length;
      assert.deepEqual(await Promise.all(dbs.map(rows)), [2, 0, 2, 3, 0], "every cell of the pushes that applied is there (c's and d's too)");
    } finally {
      await store.close();
      await dropSchema(own, schema);
      await own.end();
    }
  });

  it('a push that fails in a group fails alone; the others of its group land', async () => {
    const schema = testSchema();
    const store = await PgHubStore.open({ url: sql, schema });
    try {
      const db = (await store.open('g', OWNER))!;
      await db.declare([NOTES]);
      const clients = Array.from({ length: 8 }, (_, i) => client(i, 1));
      const bad = clients[4]!;
      const badBatch: Batch = { ...bad.batches[0]!, changes: bad.batches[0]!.changes.map((c) => (c.cid === 'body' ? { ...c, cid: 'nope' } : c)) };
      const results = await Promise.allSettled(
        clients.map((c) => db.sink.receive(c === bad ? badBatch : c.batches[0]!, { siteId: c.engine.siteId, peer: 'alice', source: 'test', gate: ALL })),
      );
      results.forEach((r, i) => {
        if (i === 4) assert.ok(r.status === 'rejected' && /nope/.test(String((r.reason as Error).message)), String(r.status === 'rejected' ? r.reason : 'landed'));
        else assert.ok(r.status === "fulfilled" && r.value!.applied > 0, `push ${i}: ${r.status === "rejected" ? String(r.reason) : "applied 0"}`);
      });
      const ids = new Set((await feedOf(db)).map((l) => l.split(' ')[2]));
      for (const [i, c] of clients.entries()) {
        const id = Buffer.from(c.batches[0]!.changes.find((x) => x.cid === 'body')!.pk).toString('hex');
        assert.equal(ids.has(id), i !== 4, `client ${i}'s row`);
      }
      assert.equal(await db.feed.version(), 7, 'one version per push that landed');
    } finally {
      await store.close();
      await dropSchema(sql, schema);
    }
  });
});
