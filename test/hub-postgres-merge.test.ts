/**
 * The PostgreSQL hub store merges exactly as the SQLite engine does. Sites make random writes (with
 * concurrent edits of the same cells, deletes, re-inserts, syncs among themselves); their change
 * sets — whole, or deltas after a random version — are pushed in a random order with duplicates
 * both into a SQLite engine set up as the hub's SQLite store sets up a hosted database and into a
 * PostgreSQL hosted database. After every push both feeds must read the same: every change since 0
 * (table, key, column, value with its type, col_version, db_version, origin site, seq, causal
 * length), a delta since an earlier version, and a read through a row-predicate read filter; under a
 * write policy both must refuse the same transactions.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Engine, ident, openDatabase, type Change, type ReadFilter, type SqlValue, type TableInfo } from '../src/engine/index.ts';
import type { HubDatabase } from '../src/hub/storage/port.ts';
import { Gate, refusalText } from '../src/sync/gate.ts';
import type { PeerPolicy } from '../src/sync/policy.ts';
import { freshCopy } from './support/fresh-copy.ts';
import { storeInOwnSchema } from './support/postgres.ts';
import { engineFromImage } from './support/fixed-site.ts';

const TABLES: TableInfo[] = [
  { name: 'items', pks: ['id'], columns: ['a', 'b'] },
  { name: 'tags', pks: ['g', 'n'], columns: [] },
];
const OWNER = { app: 'test', user: 'alice' };
const ZERO = new Uint8Array(16);

/**
 * A hosted database in SQLite, made as the hub's SQLite store makes one: untyped columns. Built once
 * and copied with a random site id of its own (fresh-copy.ts), as each run's reference.
 */
function sqliteHosted(): Engine {
  return Engine.open(
    freshCopy('pg-merge-hosted', (db, engine) => {
      for (const t of TABLES) {
        const cols = [...t.pks.map((c) => `${ident(c)} NOT NULL`), ...t.columns.map(ident)];
        db.exec(`CREATE TABLE ${ident(t.name)} (${cols.join(', ')}, PRIMARY KEY (${t.pks.map(ident).join(', ')}))`);
        engine.asCrr(t.name);
      }
    }),
  );
}

/** A site with a chosen site id (ordered by n, so ties between sites are reproducible). */
function site(n: number): Engine {
  const id = new Uint8Array(16).fill(n);
  id[0] = 0x40 + n;
  // A copy of one made once (engineFromImage).
  return engineFromImage('hub-postgres-merge site', id, (db, engine) => {
    db.exec('CREATE TABLE items (id NOT NULL PRIMARY KEY, a, b); CREATE TABLE tags (g NOT NULL, n NOT NULL, PRIMARY KEY (g, n))');
    engine.asCrr('items');
    engine.asCrr('tags');
  }).engine;
}

// Few keys and values, so sites collide on cells, values and versions.
const valueArb = fc.constantFrom<SqlValue>(null, 1n, 2n, 2.0, 'x', 'y', 'é', new Uint8Array([1]));
const idArb = fc.constantFrom<SqlValue>(1n, 2n, 3n, 'k');
const tagArb = fc.tuple(fc.constantFrom('a', 'b'), fc.constantFrom(1n, 2n));
type Op =
  | { k: 'put'; s: number; id: SqlValue; a: SqlValue; b: SqlValue }
  | { k: 'set'; s: number; id: SqlValue; col: 'a' | 'b'; v: SqlValue }
  | { k: 'del'; s: number; id: SqlValue }
  | { k: 'tag'; s: number; t: [string, bigint]; on: boolean }
  | { k: 'sync'; s: number; from: number }
  | { k: 'snap'; s: number; since: number };
const SITES = 3;
const s = fc.nat(SITES - 1);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ k: fc.constant('put' as const), s, id: idArb, a: valueArb, b: valueArb }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constant('set' as const), s, id: idArb, col: fc.constantFrom<'a' | 'b'>('a', 'b'), v: valueArb }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('del' as const), s, id: idArb }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('tag' as const), s, t: tagArb, on: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('sync' as const), s, from: s }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('snap' as const), s, since: fc.nat(6) }) },
);

/** Plays the ops on fresh sites; returns the change sets taken (plus every site's whole feed). */
function changeSets(ops: readonly Op[]): Change[][] {
  const sites = Array.from({ length: SITES }, (_, i) => site(i + 1));
  const sets: Change[][] = [];
  const run = (e: Engine, sql: string, ...p: SqlValue[]): void => {
    e.db.prepare(sql).run(...p);
    e.seal();
  };
  for (const op of ops) {
    const e = sites[op.s]!;
    if (op.k === 'put') run(e, 'INSERT OR REPLACE INTO items VALUES (?, ?, ?)', op.id, op.a, op.b);
    else if (op.k === 'set') run(e, `UPDATE items SET ${op.col} = ? WHERE id = ?`, op.v, op.id);
    else if (op.k === 'del') run(e, 'DELETE FROM items WHERE id = ?', op.id);
    else if (op.k === 'tag') run(e, op.on ? 'INSERT OR IGNORE INTO tags VALUES (?, ?)' : 'DELETE FROM tags WHERE g = ? AND n = ?', ...op.t);
    else if (op.k === 'sync') {
      if (op.from !== op.s) e.applyChanges([...sites[op.from]!.changesSince(0)]);
    } else {
      const set = [...e.changesSince(Math.min(op.since, e.dbVersion()))];
      if (set.length > 0) sets.push(set);
    }
  }
  for (const e of sites) {
    const all = [...e.changesSince(0)];
    if (all.length > 0) sets.push(all);
    e.db.close();
  }
  return sets;
}

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
function repr(v: SqlValue): string {
  if (v === null) return 'NULL';
  if (typeof v === 'bigint') return `int ${v}`;
  if (typeof v === 'number') return `real ${Object.is(v, -0) ? '-0' : String(v)}`;
  if (typeof v === 'string') return `text ${JSON.stringify(v)}`;
  return `blob ${hex(v)}`;
}
/** A change as text; the reading database's own site id (a revived row's reset cells) as LOCAL. */
const line = (c: Change, local: Uint8Array): string =>
  `${c.table} ${hex(c.pk)} ${c.cid}=${repr(c.val)} cv${c.colVersion} v${c.dbVersion} ${hex(c.siteId) === hex(local) ? 'LOCAL' : hex(c.siteId)} seq${c.seq} cl${c.cl}`;

async function pgRead(db: HubDatabase, since: number, read?: ReadFilter): Promise<Change[]> {
  const out: Change[] = [];
  for await (const b of db.feed.batches(since, { exceptSite: ZERO, ...(read ? { read } : {}) })) out.push(...b.changes);
  return out;
}

const gateOf = (policy: PeerPolicy): Gate => new Gate(() => policy);
const OPEN = gateOf({ read: 'all', write: 'all' });
/** A write policy with a row predicate and a column rule: some transactions are refused. */
const GUARDED = gateOf({ read: 'all', write: [{ table: 'items', where: "a IS NOT 'y'" }, { table: 'items', columns: ['b'] }] });
const READ: ReadFilter = { rules: [{ table: 'items', where: "b IS NOT 'x' AND id <> :peer", columns: ['a'] }, { table: 'tags' }], params: { peer: 'k' } };

describe('hub PostgreSQL store merges as the engine does', () => {
  const pg = storeInOwnSchema();
  let n = 0;

  /** Pushes `order` of `sets` into both; after each push both must read the same. */
  async function compare(sets: Change[][], order: number[], gate: Gate): Promise<void> {
    const ref = sqliteHosted();
    const db = (await pg.store.open(`p${n++}`, OWNER))!;
    await db.declare(TABLES);
    try {
      for (const i of order) {
        const set = sets[i % sets.length]!;
        const pusher = set[0]!.siteId;
        const mine = gate.admit(ref, set, { peer: 'bob' });
        const version = Math.max(...set.map((c) => Number(c.dbVersion)));
        const theirs = (await db.sink.receive({ changes: set, version, complete: true }, { siteId: pusher, peer: 'bob', source: 'bob', gate }))!;
        assert.equal(theirs.applied, mine.applied, 'applied');
        assert.deepEqual(theirs.refused.map((r) => r.message), mine.refused.map(refusalText), 'refused');
        assert.equal(await db.feed.version(), ref.dbVersion(), 'db_version');
      }
      const expected = [...ref.changesSince(0)].map((c) => line(c, ref.siteId));
      assert.deepEqual((await pgRead(db, 0)).map((c) => line(c, db.feed.siteId)), expected, 'changes since 0');
      const mid = Math.floor(ref.dbVersion() / 2);
      assert.deepEqual((await pgRead(db, mid)).map((c) => line(c, db.feed.siteId)), [...ref.changesSince(mid)].map((c) => line(c, ref.siteId)), `changes since ${mid}`);
      for (const since of [0, mid]) {
        const sorted = (cs: string[]): string[] => [...cs].sort();
        assert.deepEqual(
          sorted((await pgRead(db, since, READ)).map((c) => line(c, db.feed.siteId))),
          sorted([...ref.changesSince(since, { read: READ })].map((c) => line(c, ref.siteId))),
          `read-filtered changes since ${since}`,
        );
      }
    } finally {
      ref.db.close();
    }
  }

  it('random change sets in random orders with duplicates: the same feed as the SQLite engine', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 25 }), fc.array(fc.nat(), { minLength: 1, maxLength: 8 }), fc.boolean(), async (ops, order, guarded) => {
        const sets = changeSets(ops);
        if (sets.length === 0) return;
        await compare(sets, order, guarded ? GUARDED : OPEN);
      }),
      { numRuns: 40 },
    );
  });

  it('table and column names with tabs, newlines and backslashes survive the bulk write', async () => {
    const t: TableInfo = { name: 'odd\tta\\ble', pks: ['k\ney'], columns: ['v\ral\tue'] };
    const e = Engine.open(openDatabase(':memory:'));
    try {
      e.db.exec(`CREATE TABLE ${ident(t.name)} (${ident(t.pks[0]!)} NOT NULL PRIMARY KEY, ${ident(t.columns[0]!)})`);
      e.asCrr(t.name);
      e.db.prepare(`INSERT INTO ${ident(t.name)} VALUES (?, ?)`).run('a\\b', 'tab\there');
      const db = (await pg.store.open(`odd${n++}`, OWNER))!;
      await db.declare([t]);
      const changes = [...e.changesSince(0)];
      await db.sink.receive({ changes, version: e.dbVersion(), complete: true }, { siteId: e.siteId, peer: 'bob', source: 'bob', gate: OPEN });
      const local = new Uint8Array(16);
      assert.deepEqual((await pgRead(db, 0)).map((c) => line(c, local)), changes.map((c) => line(c, local)));
    } finally {
      e.db.close();
    }
  });

  it('a set larger than a merge chunk (rows of two tables interleaved, rows met again later) merges the same', async () => {
    const a = site(1);
    const b = site(2);
    try {
      for (const e of [a, b]) {
        e.db.exec('BEGIN');
        for (let i = 0; i < 700; i++) {
          e.db.prepare('INSERT INTO items VALUES (?, ?, ?)').run(BigInt(i), e === a ? 'x' : 'y', BigInt(i % 7));
          if (i % 3 === 0) e.db.prepare('INSERT INTO tags VALUES (?, ?)').run(`t${i % 50}`, BigInt(i));
        }
        e.db.exec('COMMIT');
        e.seal();
        e.db.exec("UPDATE items SET b = 'z' WHERE id % 5 = 0");
        e.seal();
      }
      // One set with the tables interleaved (a chunk holds rows of both, merged table by table) and
      // every item row met twice, far apart (its column a, then much later its column b).
      const mixed = [...b.changesSince(0)];
      const of = (p: (c: Change) => boolean): Change[] => mixed.filter(p);
      const [cellsA, cellsB, tags] = [of((c) => c.cid === 'a'), of((c) => c.cid === 'b'), of((c) => c.table === 'tags')];
      const interleaved = cellsA.flatMap((c, i) => (tags[i] ? [c, tags[i]] : [c]));
      const sets = [[...a.changesSince(0)], [...interleaved, ...cellsB]];
      await compare(sets, [0, 1, 0], OPEN);
      await compare(sets, [1, 0], GUARDED);
    } finally {
      a.db.close();
      b.db.close();
    }
  });
});
