/**
 * The changes feed as read (row clocks one SQL row per table row, expanded in JavaScript:
 * changes.ts) gives exactly what the per-cell queries give — the same changes, values, clock
 * metadata and types, in the same order — from any version, leaving out any site's direct merges,
 * through any read filter. Unfiltered, the per-cell queries are reached through the public API with
 * a read filter allowing every column of every table (a condition that holds for every cell);
 * filtered, through readChanges' `perCell`.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Change } from './change.ts';
import { Engine } from './engine.ts';
import { readChanges } from './changes.ts';
import { Sites } from './clock.ts';
import type { ReadFilter, RowRule } from './filter.ts';
import { introspect } from './schema.ts';
import { CrrTable } from './table.ts';
import { openDatabase, type SqlValue } from './sqlite.ts';
import { hex, opArb, repr, runOp, SCHEMA, TABLES } from '../../test/support/convergence.ts';
import { engineWithSite } from '../../test/support/fixed-site.ts';

const REPLICAS = 3;

function siteId(n: number): Uint8Array {
  const b = new Uint8Array(16);
  b[0] = 0x40 + n;
  b.fill(n, 1);
  return b;
}

/**
 * Replica n's fresh database (its site id, Engine.open, the schema, asCrr) as bytes, made once per n
 * and copied into each replica: the same database, without the DDL and asCrr for every run.
 */
const images = new Map<number, Uint8Array>();
function image(n: number): Uint8Array {
  let bytes = images.get(n);
  if (bytes) return bytes;
  const { db, engine: e } = engineWithSite(siteId(n));
  db.exec(SCHEMA);
  for (const t of Object.keys(TABLES)) e.asCrr(t);
  bytes = db.serialize();
  db.close();
  images.set(n, bytes);
  return bytes;
}

function openReplica(n: number): Engine {
  const db = openDatabase(':memory:');
  db.deserialize(image(n));
  return Engine.open(db);
}

/** Every field of a change with its exact type (a clock as number or bigint, a value as SQLite's type). */
const show = (c: Change): string =>
  [c.table, hex(c.pk), c.cid, `${typeof c.colVersion} ${c.colVersion}`, `${typeof c.dbVersion} ${c.dbVersion}`, hex(c.siteId), `${typeof c.seq} ${c.seq}`, `${typeof c.cl} ${c.cl}`, repr(c.val)].join(' ');

/** A filter allowing every column of every table: the feed through the per-cell queries. */
const EVERYTHING: ReadFilter = { rules: Object.entries(TABLES).map(([table, { cols }]) => ({ table, columns: cols })) };

const ops = opArb(REPLICAS);

describe('changes feed', () => {
  it('reads row clocks per row exactly as the per-cell queries read them, from any version and leaving out any site', () => {
    fc.assert(
      fc.property(fc.array(ops, { minLength: 1, maxLength: 25 }), (steps) => {
        const replicas = Array.from({ length: REPLICAS }, (_, i) => openReplica(i));
        try {
          for (const op of steps) runOp(replicas, op);
          for (const e of replicas) {
            e.seal();
            const top = Number([...e.changesSince(0)].reduce((m, c) => (c.dbVersion > m ? c.dbVersion : m), 0 as Change['dbVersion']));
            for (const exceptSite of [undefined, ...replicas.map((r) => r.siteId)]) {
              for (let since = 0; since <= top; since++) {
                const fast = [...e.changesSince(since, { exceptSite })].map(show);
                const perCell = [...e.changesSince(since, { exceptSite, read: EVERYTHING })].map(show);
                assert.deepEqual(fast, perCell, `since ${since}, except ${exceptSite ? hex(exceptSite) : 'none'}`);
              }
            }
          }
        } finally {
          for (const e of replicas) e.db.close();
        }
      }),
      { numRuns: 60 },
    );
  });

  it('reads filtered row clocks per row exactly as the per-cell queries read them', () => {
    const ruleArb = (table: string, cols: string[], wheres: string[]): fc.Arbitrary<RowRule> =>
      fc.record(
        {
          table: fc.constant(table),
          columns: fc.option(fc.subarray([...cols, 'gone']), { nil: undefined }),
          where: fc.option(fc.constantFrom(...wheres), { nil: undefined }),
        },
        { requiredKeys: ['table'] },
      );
    const filterArb: fc.Arbitrary<ReadFilter> = fc.record({
      rules: fc.array(
        fc.oneof(
          ruleArb('items', TABLES.items!.cols, ['a IS NOT NULL', "typeof(b) = 'integer'", 'c = :p OR d > 0', 'id > 1']),
          ruleArb('pairs', TABLES.pairs!.cols, ['v IS NULL', 'g = :p']),
          ruleArb('tags', [], ['k = :p']),
        ),
        { maxLength: 4 },
      ),
      params: fc.constant({ p: 'a', unused: 1n }),
    });
    fc.assert(
      fc.property(fc.array(ops, { minLength: 1, maxLength: 25 }), fc.array(filterArb, { minLength: 1, maxLength: 3 }), (steps, filters) => {
        const replicas = Array.from({ length: REPLICAS }, (_, i) => openReplica(i));
        try {
          for (const op of steps) runOp(replicas, op);
          for (const e of replicas) {
            e.seal();
            const tables = Object.keys(TABLES).map((t) => new CrrTable(e.db, introspect(e.db, t)));
            const sites = new Sites(e.db);
            const top = Number([...e.changesSince(0)].reduce((m, c) => (c.dbVersion > m ? c.dbVersion : m), 0 as Change['dbVersion']));
            e.db.exec('BEGIN');
            try {
              for (const read of filters) {
                for (const except of [undefined, ...replicas.map((r) => sites.lookup(r.siteId))]) {
                  for (let since = 0; since <= top; since++) {
                    const fast = [...readChanges(e.db, tables, sites, since, except, read)].map(show);
                    const perCell = [...readChanges(e.db, tables, sites, since, except, read, true)].map(show);
                    assert.deepEqual(fast, perCell, `since ${since}, except ${except}, ${JSON.stringify(read.rules)}`);
                  }
                }
              }
            } finally {
              e.db.exec('COMMIT');
            }
          }
        } finally {
          for (const e of replicas) e.db.close();
        }
      }),
      { numRuns: 50 },
    );
  });

  it('reads, through rules with and without a row predicate, the cells any of them allows', () => {
    const e = openReplica(0);
    try {
      e.db.exec(`INSERT INTO items (id, a, b, c) VALUES (1, NULL, 'b1', 'c1'), (2, 'a2', 'b2', 'c2'), (3, 'a3', NULL, 'c3')`);
      e.db.exec(`UPDATE items SET c = 'x' WHERE id = 3`);
      e.seal();
      const tables = Object.keys(TABLES).map((t) => new CrrTable(e.db, introspect(e.db, t)));
      const sites = new Sites(e.db);
      const read: ReadFilter = { rules: [{ table: 'items', columns: ['b'] }, { table: 'items', columns: ['a', 'c'], where: 'a IS NOT NULL' }] };
      e.db.exec('BEGIN');
      const fast = [...readChanges(e.db, tables, sites, 0, undefined, read)];
      assert.deepEqual(fast.map(show), [...readChanges(e.db, tables, sites, 0, undefined, read, true)].map(show));
      // Row 1 (a NULL) gives b only; rows 2 and 3 everything but d (no rule covers it).
      assert.deepEqual(fast.map((c) => `${c.pk[2]}.${c.cid}`).sort(), ['1.b', '2.a', '2.b', '2.c', '3.a', '3.b', '3.c']);
      e.db.exec('COMMIT');
    } finally {
      e.db.close();
    }
  });
});
