/**
 * A merge reads its changes straight from the caller's array when given a plain one, and gathers
 * them per chunk otherwise (merge.ts): both must leave exactly the same state. Random streams —
 * rows whose changes arrive apart, rows repeated past a chunk's end, more rows than a chunk holds —
 * merged into the same replica from an array and from a generator; and an array subclass whose
 * iterator goes backwards, or a plain array given such an iterator of its own, merges as a
 * generator of the changes backwards.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import type { Change } from './change.ts';
import type { Engine } from './engine.ts';
import { CHUNK_ROWS } from './merge.ts';
import { packColumns } from './pack.ts';
import type { SqlValue } from './sqlite.ts';
import { engineWithSite } from '../../test/support/fixed-site.ts';

const COLUMNS = ['a', 'b', 'c'];
const site = (n: number): Uint8Array => new Uint8Array(16).fill(n);

interface Cell {
  row: number;
  cid: string;
  v: number;
  colVersion: number;
  cl: number;
  site: number;
}

const cellArb: fc.Arbitrary<Cell[]> = fc
  .record({
    row: fc.integer({ min: 1, max: CHUNK_ROWS + 40 }),
    cols: fc.subarray(['-1', ...COLUMNS], { minLength: 1 }),
    v: fc.integer({ min: 0, max: 5 }),
    colVersion: fc.integer({ min: 1, max: 3 }),
    cl: fc.integer({ min: 1, max: 3 }),
    site: fc.integer({ min: 1, max: 3 }),
  })
  .map(({ row, cols, v, colVersion, cl, site: s }) => cols.map((cid) => ({ row, cid, v, colVersion: cid === '-1' ? cl : colVersion, cl, site: s })));

/** Runs of a row's cells, a run of many rows in key order (more than a chunk), shuffled a little. */
const streamArb = fc
  .tuple(fc.array(cellArb, { maxLength: 30 }), fc.integer({ min: 0, max: CHUNK_ROWS + 20 }), fc.array(fc.nat(), { maxLength: 40 }))
  .map(([groups, run, swaps]) => {
    const flat = groups.flat();
    for (let i = 1; i <= run; i++) for (const cid of COLUMNS) flat.push({ row: 1000 + i, cid, v: i % 6, colVersion: 1, cl: 1, site: 1 });
    for (const s of swaps) {
      if (flat.length < 2) break;
      const i = s % (flat.length - 1);
      [flat[i], flat[i + 1]] = [flat[i + 1]!, flat[i]!];
    }
    return flat;
  });

function toChange(x: Cell): Change {
  const val: SqlValue = x.cid === '-1' ? null : [null, 1n, 'x', 1.5, new Uint8Array([1]), 'y'][x.v]!;
  return { table: 't', pk: packColumns([BigInt(x.row)]), cid: x.cid, val, colVersion: x.colVersion, dbVersion: 1, siteId: site(x.site), cl: x.cl, seq: 0 };
}

function replica(local: number[]): Engine {
  const { db, engine: e } = engineWithSite(site(9));
  db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY NOT NULL, a, b, c)');
  e.asCrr('t');
  for (const id of local) db.prepare('INSERT OR REPLACE INTO t (id, a) VALUES (?, ?)').run(BigInt(id), 'local');
  e.seal();
  return e;
}

function state(e: Engine): string {
  const read = (sql: string): unknown[] => {
    const s = e.db.prepare(sql);
    s.setReadBigInts(true);
    s.setReturnArrays(true);
    return s.all();
  };
  const feed = [...e.changesSince(0)].map((c) => ({ ...c, pk: Buffer.from(c.pk).toString('hex'), siteId: Buffer.from(c.siteId).toString('hex') }));
  const all = [read('SELECT rowid, * FROM t ORDER BY rowid'), read('SELECT * FROM t__ddcp_pks ORDER BY __key'), read('SELECT * FROM t__ddcp_cells ORDER BY key, cid'), read('SELECT * FROM ddcp_site_id ORDER BY ordinal'), feed];
  return JSON.stringify(all, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v));
}

/** An array whose iterator does not go index after index: its changes are the ones iterated. */
class Backwards extends Array<Change> {
  override *[Symbol.iterator](): ArrayIterator<Change> {
    for (let i = this.length - 1; i >= 0; i--) yield this[i]!;
    return undefined;
  }
}

describe('merge input', () => {
  it('an array and a generator of the same changes merge alike, an array subclass as it iterates', () => {
    fc.assert(
      fc.property(streamArb, fc.array(fc.integer({ min: 1, max: CHUNK_ROWS + 40 }), { maxLength: 5 }), (cells, local) => {
        const changes = cells.map(toChange);
        const merged = (input: Iterable<Change>): string => {
          const e = replica(local);
          const r = e.applyChanges(input);
          const out = `${JSON.stringify(r)}\n${state(e)}`;
          e.db.close();
          return out;
        };
        const generator = function* (list: Change[]): Generator<Change> {
          yield* list;
        };
        assert.equal(merged(generator(changes)), merged(changes));
        const backwards = Backwards.from(changes);
        assert.equal(merged(backwards), merged(generator([...changes].reverse())));
        // A plain array with an iterator of its own: read as iterated too, not by index.
        const own = [...changes];
        Object.defineProperty(own, Symbol.iterator, { value: Backwards.prototype[Symbol.iterator] });
        assert.equal(merged(own), merged(generator([...changes].reverse())));
      }),
      { numRuns: 60 },
    );
  });

  it('closes a generator when the merge throws, as a for-of loop would', () => {
    const e = replica([]);
    let closed = false;
    const input = (function* (): Generator<Change> {
      try {
        yield toChange({ row: 1, cid: 'a', v: 1, colVersion: 1, cl: 1, site: 1 });
        yield { ...toChange({ row: 2, cid: 'a', v: 1, colVersion: 1, cl: 1, site: 1 }), table: 'nowhere' };
        yield toChange({ row: 3, cid: 'a', v: 1, colVersion: 1, cl: 1, site: 1 });
      } finally {
        closed = true;
      }
    })();
    assert.throws(() => e.applyChanges(input), /change 2: no CRR table nowhere/);
    assert.equal(closed, true);
    // The generator's own error is the one thrown.
    const failing = (function* (): Generator<Change> {
      yield toChange({ row: 1, cid: 'a', v: 1, colVersion: 1, cl: 1, site: 1 });
      throw new Error('source broke');
    })();
    assert.throws(() => e.applyChanges(failing), /source broke/);
    e.db.close();
  });

  it("keeps a chunk's rows in an array of objects from the start (V8 threw the merge's optimised code away at the first push into an empty one)", () => {
    // V8's elements kinds are visible only through its natives syntax, hence a child process.
    const merge = new URL('./merge.ts', import.meta.url).href;
    const pack = new URL('./pack.ts', import.meta.url).href;
    const script = `
      import { ChunkRows, PendingRow } from ${JSON.stringify(merge)};
      import { packColumns } from ${JSON.stringify(pack)};
      const row = (n) => new PendingRow([BigInt(n)], packColumns([BigInt(n)]), [], 0);
      const rows = new ChunkRows(row(1));
      const first = %HasObjectElements(rows.rows);
      rows.add(row(2));
      process.stdout.write(JSON.stringify({ first, after: %HasObjectElements(rows.rows), found: rows.find(packColumns([2n])) !== undefined }));
    `;
    const out = execFileSync(process.execPath, ['--disable-warning=ExperimentalWarning', '--allow-natives-syntax', '--input-type=module', '-e', script], { encoding: 'utf8' });
    assert.deepEqual(JSON.parse(out), { first: true, after: true, found: true });
  });
});
