/**
 * Convergence when peers send values our columns' affinities convert (TEXT '007' into an INTEGER
 * column, an integral REAL into INTEGER or NUMERIC, an INTEGER into TEXT): the sync protocol declares
 * no column types, so a hub (untyped columns, or PostgreSQL storing values as given) relays whatever
 * a client pushed. Every replica merges such a value as its column stores it, so the same changes in
 * any order, in any batches, leave the same rows and clocks; and a replica relaying a converted cell
 * through an untyped one (a hub's hosted database) and back settles.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { DatabaseSync } from 'node:sqlite';
import { Engine } from '../src/engine/engine.ts';
import type { Change } from '../src/engine/change.ts';
import { packColumns } from '../src/engine/pack.ts';
import { openDatabase, type SqlValue } from '../src/engine/sqlite.ts';
import { StoredReport } from '../src/engine/stored.ts';
import { rng, shuffle } from './support/random.ts';
import { hex, repr } from './support/convergence.ts';

const TYPED = 'CREATE TABLE t (id INTEGER PRIMARY KEY NOT NULL, i INTEGER, r REAL, s TEXT, n NUMERIC, u)';
const UNTYPED = 'CREATE TABLE t (id INTEGER PRIMARY KEY NOT NULL, i, r, s, n, u)';
const COLUMNS = ['i', 'r', 's', 'n', 'u'];

function open(schema: string): Engine {
  const e = Engine.open(openDatabase(':memory:'));
  e.db.exec(schema);
  e.asCrr('t');
  return e;
}

const site = (n: number): Uint8Array => new Uint8Array(16).fill(n);

/** Values some column converts, and a few that every column keeps. */
const valueArb: fc.Arbitrary<SqlValue> = fc.oneof(
  // Texts SQLite reads as numbers (or almost).
  fc.constantFrom('007', ' 7 ', '7', '1.0', '1e3', '-0', '+5', '12.50', '.5', '0x10', '9223372036854775808', '-9223372036854775809', '1e999', '', 'abc', '2024-01-05'),
  fc.integer({ min: -20, max: 20 }).map(String),
  // Integral reals (and -0.0, which REAL stores as 0.0).
  fc.constantFrom(2.0, -0, 0, 1e20, 2 ** 63, -(2 ** 63), 7.0),
  fc.integer({ min: -20, max: 20 }).map((x) => x + 0),
  // Integers (TEXT stores them as text, REAL as reals).
  fc.bigInt({ min: -20n, max: 20n }),
  fc.constantFrom(2n ** 63n - 1n, 2n ** 53n + 1n),
  fc.constantFrom(1.5, -2.25, null, new Uint8Array([7])),
);

interface Cell {
  id: bigint;
  cid: string;
  val: SqlValue;
  colVersion: number;
  site: number;
}

const cellArb: fc.Arbitrary<Cell> = fc.record({
  id: fc.bigInt({ min: 1n, max: 3n }),
  cid: fc.constantFrom(...COLUMNS),
  val: valueArb,
  colVersion: fc.integer({ min: 1, max: 3 }),
  site: fc.integer({ min: 1, max: 3 }),
});

function change(c: Cell, seq: number): Change {
  return { table: 't', pk: packColumns([c.id]), cid: c.cid, val: c.val, colVersion: c.colVersion, dbVersion: 1, siteId: site(c.site), cl: 1, seq };
}

/**
 * Delivers `changes` in an order and batches drawn from `seed`, each batch an array or an iterable,
 * every merge noting what it stored in `report`.
 */
function deliver(e: Engine, changes: readonly Change[], seed: number, report: StoredReport): void {
  const rand = rng(seed);
  const order = shuffle(changes, rand);
  while (order.length > 0) {
    const batch = order.splice(0, 1 + Math.floor(rand() * 4));
    if (rand() < 0.5) e.applyChanges(batch, { report });
    else
      e.applyChanges(
        (function* () {
          yield* batch;
        })(),
        { report },
      );
  }
}

function rows(e: Engine): string[] {
  const s = (e.db as DatabaseSync).prepare(`SELECT id, ${COLUMNS.join(', ')} FROM t ORDER BY id`);
  s.setReadBigInts(true);
  s.setReturnArrays(true);
  return (s.all() as unknown as SqlValue[][]).map((r) => r.map(repr).join(', '));
}

const line = (c: Change): string => `${hex(c.pk)} ${c.cid} ${repr(c.val)} ${c.colVersion} ${hex(c.siteId)} ${c.cl}`;

/** Every cell's value and winning clock (col_version, origin), as a peer would read them. */
function clocks(e: Engine): string[] {
  return [...e.changesSince(0)].map(line).sort();
}

describe('values a column converts', () => {
  it('the same changes in any order and batches leave replicas with the same rows and clocks', () => {
    fc.assert(
      fc.property(fc.array(cellArb, { minLength: 1, maxLength: 12 }), fc.array(fc.integer(), { minLength: 2, maxLength: 3 }), (cells, seeds) => {
        const changes = cells.map(change);
        const replicas = seeds.map((seed) => {
          const e = open(TYPED);
          const report = new StoredReport();
          deliver(e, changes, seed, report);
          // What the merges reported as stored (a hub's fan-out hands it over) is what was stored.
          assert.deepEqual(e.storedChanges(report, 0)?.map(line).sort(), clocks(e), 'stored report');
          return e;
        });
        const [first, ...rest] = replicas;
        for (const e of rest) {
          assert.deepEqual(rows(e), rows(first!));
          assert.deepEqual(clocks(e), clocks(first!));
        }
        // What a typed replica holds is what its columns store: a further round changes nothing.
        for (const e of rest) assert.equal(e.applyChanges([...first!.changesSince(0)]).applied, 0);
        for (const e of replicas) e.db.close();
      }),
      { numRuns: 150 },
    );
  });

  it('a converted cell relayed through an untyped replica (a hub) and back settles, and replicas agree', () => {
    // [column, value a client pushed, what a typed column stores, what the untyped one ends with]. At
    // one clock the greater value wins (NULL < BLOB < TEXT < REAL < INTEGER, as cr-sqlite orders them).
    const cases: [string, SqlValue, SqlValue, SqlValue][] = [
      // The typed replica's 7 beats the hub's '007': the hub takes it.
      ['i', '007', 7n, 7n],
      ['n', 2.0, 2n, 2n],
      // The hub's 10 beats the typed replica's '10': the hub keeps it, and the replica stores it as '10' again.
      ['s', 10n, '10', 10n],
      ['r', 5n, 5.0, 5n],
    ];
    for (const [cid, pushed, typedKeeps, hubKeeps] of cases) {
      const hub = open(UNTYPED);
      const a = open(TYPED);
      const b = open(TYPED);
      const crafted = change({ id: 1n, cid, val: pushed, colVersion: 1, site: 9 }, 0);
      hub.applyChanges([crafted]);
      a.applyChanges([crafted]);
      // a relays what it stored; then everyone syncs through the hub until nothing moves.
      let moved = 0;
      for (let round = 0; round < 4; round++) {
        moved = 0;
        moved += hub.applyChanges([...a.changesSince(0)]).applied;
        moved += a.applyChanges([...hub.changesSince(0)]).applied;
        moved += b.applyChanges([...hub.changesSince(0)]).applied;
        moved += hub.applyChanges([...b.changesSince(0)]).applied;
      }
      assert.equal(moved, 0, `${cid}: settled`);
      const value = (e: Engine): string => {
        const s = (e.db as DatabaseSync).prepare(`SELECT ${cid} FROM t`);
        s.setReadBigInts(true);
        s.setReturnArrays(true);
        return repr((s.get() as unknown as [SqlValue])[0]);
      };
      assert.equal(value(a), repr(typedKeeps), `${cid} on a`);
      assert.equal(value(b), repr(typedKeeps), `${cid} on b`);
      assert.equal(value(hub), repr(hubKeeps), `${cid} on the hub`);
      assert.deepEqual(clocks(b), clocks(a));
      // The winning clock is the pushing client's everywhere (col_version 1, site 9).
      for (const e of [a, b, hub]) assert.deepEqual(clocks(e).map((l) => l.split(' ').slice(-3).join(' ')), [`1 ${hex(site(9))} 1`], cid);
    }
  });

  it('the conflicts log names the converted value', () => {
    const e = open(TYPED);
    const cell = (val: SqlValue, n: number): Change => change({ id: 1n, cid: 'i', val, colVersion: 1, site: n }, 0);
    e.applyChanges([cell(5n, 2)]);
    e.applyChanges([cell('007', 1)]);
    const [c] = e.conflicts();
    assert.equal(c?.incoming.value, 7n);
    assert.equal(c?.local.value, 5n);
    assert.equal(c?.winner, 'incoming');
  });
});
