/**
 * The fast JSON-lines writer writes exactly what the general formatter does: for any changes, its
 * bytes are `formatChange(c) + '\n'` of each in UTF-8, whatever the chunk size, and a chunk once taken
 * is never written to again.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Change } from '../engine/change.ts';
import type { SqlValue } from '../engine/sqlite.ts';
import { packColumns } from '../engine/pack.ts';
import { int64, INT64_MAX } from '../base/int64.ts';
import { formatChange } from './jsonl.ts';
import { ChangeLineWriter } from './jsonl-writer.ts';
import { binaryString } from '../../test/support/binary-string.ts';

const INT64_MIN = -(2n ** 63n);
/** Clocks of every width: small, around each power of ten, up to 2^53 − 1, and bigints beyond. */
const clock = fc.oneof(
  fc.nat(),
  fc.integer({ min: 0, max: 15 }).chain((e) => fc.integer({ min: -2, max: 2 }).map((d) => Math.max(0, 10 ** e + d))),
  fc.maxSafeNat(),
  fc.constant(Number.MAX_SAFE_INTEGER),
  fc.bigInt({ min: 0n, max: INT64_MAX }).map(int64),
);
const name = fc.oneof(fc.constantFrom('items', 'tëst', 'a"b', 'back\\slash', 'tab\tname', '-1', '\ud800lone', '😀'), binaryString({ minLength: 1, maxLength: 8 }));
const sites = [new Uint8Array(16).fill(7), new Uint8Array(16).fill(0xab), Uint8Array.from({ length: 16 }, (_, i) => i * 17)];
const change: fc.Arbitrary<Change> = fc.record({
  table: name,
  pk: fc.array(fc.oneof(fc.bigInt({ min: INT64_MIN, max: INT64_MAX }), fc.string({ maxLength: 20 }), fc.uint8Array({ maxLength: 40 })), { minLength: 1, maxLength: 3 }).map((v) => packColumns(v)),
  cid: name,
  val: fc.oneof(fc.constant(null), fc.bigInt({ min: INT64_MIN, max: INT64_MAX }), fc.double(), binaryString({ maxLength: 80 }), fc.uint8Array({ maxLength: 300 })),
  colVersion: clock,
  dbVersion: clock,
  // Runs from one site, as read from a database, and changes of site between them.
  siteId: fc.oneof(fc.constantFrom(...sites), fc.uint8Array({ minLength: 16, maxLength: 16 })),
  cl: clock,
  seq: clock,
});

/** What `ddcp changes` printed before the fast writer: each line and a newline, in UTF-8. */
const general = (changes: Change[]): Buffer => Buffer.from(changes.map((c) => formatChange(c) + '\n').join(''), 'utf8');

/** All the writer's bytes, taken whenever it is full (as the CLI does) and at the end. */
function written(changes: Change[], chunkBytes: number): { bytes: Buffer; chunks: Uint8Array[] } {
  const w = new ChangeLineWriter(chunkBytes);
  const chunks: Uint8Array[] = [];
  for (const c of changes) {
    w.add(c);
    if (w.full) chunks.push(w.take());
  }
  if (w.size > 0) chunks.push(w.take());
  assert.equal(w.size, 0);
  return { bytes: Buffer.concat(chunks), chunks };
}

describe('JSON lines, fast writer', () => {
  it('writes byte for byte what formatChange does, whatever the chunk size', () => {
    fc.assert(
      fc.property(fc.array(change, { maxLength: 30 }), fc.constantFrom(1, 64, 1000, 1 << 20), (changes, chunkBytes) => {
        const { bytes, chunks } = written(changes, chunkBytes);
        assert.deepEqual(bytes, general(changes));
        // Lines never straddle chunks: each chunk ends a line.
        for (const chunk of chunks) assert.equal(chunk[chunk.length - 1], 0x0a);
      }),
      { numRuns: 1000 },
    );
  });

  it('writes runs that share a clock (one transaction\'s cells) as formatChange does', () => {
    // Few distinct clocks and sites, so consecutive lines often share all but the seq (the writer
    // reuses that part of the line) and sometimes differ in just one of them.
    const shared = fc.constantFrom<Change['colVersion']>(0, 1, 9, 10, Number.MAX_SAFE_INTEGER, int64(INT64_MAX));
    const run = fc.record({ colVersion: shared, dbVersion: shared, cl: shared, siteId: fc.constantFrom(...sites), seq: clock });
    fc.assert(
      fc.property(fc.array(fc.tuple(change, run), { maxLength: 40 }), fc.constantFrom(1, 64, 1 << 20), (pairs, chunkBytes) => {
        const changes = pairs.map(([c, r]) => ({ ...c, ...r }));
        assert.deepEqual(written(changes, chunkBytes).bytes, general(changes));
      }),
      { numRuns: 500 },
    );
  });

  it('writes the cells of row groups (Engine.eachChange: one table, key, clock and site) as formatChange does', () => {
    // Runs of a row's cells under one group number, groups interleaved and numbers reused later for
    // other rows (as a read's row groups are), and changes without a group between them.
    const row = fc.record({ base: change, cells: fc.array(fc.tuple(name, change.map((c) => c.val), clock), { minLength: 1, maxLength: 4 }) });
    fc.assert(
      fc.property(fc.array(fc.tuple(row, fc.integer({ min: -1, max: 3 }), fc.boolean()), { maxLength: 20 }), fc.constantFrom(1, 64, 1 << 20), (rows, chunkBytes) => {
        const changes: Change[] = [];
        const groups: number[] = [];
        let last = -2;
        for (const [{ base, cells }, group, split] of rows) {
          // A group number right after the same number promises the same row: use another row's number only when it differs.
          const g = group === last ? -1 : group;
          cells.forEach(([cid, val, seq], i) => {
            changes.push({ ...base, cid, val, seq });
            groups.push(split && i % 2 === 1 ? -1 : g);
          });
          last = groups[groups.length - 1]!;
        }
        const w = new ChangeLineWriter(chunkBytes);
        const chunks: Buffer[] = [];
        changes.forEach((c, i) => {
          w.add(c, groups[i]);
          if (w.full) chunks.push(Buffer.from(w.take()));
        });
        chunks.push(Buffer.from(w.take()));
        assert.deepEqual(Buffer.concat(chunks), general(changes));
      }),
      { numRuns: 500 },
    );
  });

  it('writes rows and cells (ChangeRowSink: Engine.writeChanges, `ddcp changes`) as formatChange does', () => {
    // Values at the edges of the writer's straight hex (integers in [0, 2^32) by their byte count,
    // ASCII texts up to 64 characters) and past them (negative and wide integers, longer or
    // non-ASCII texts, blobs), as keys and as values; rows of several tables and columns arrays;
    // sites given as the same array from row to row or as equal copies; add() between rows.
    const edge = fc.constantFrom<SqlValue>(null, 0n, 1n, 255n, 256n, 65535n, 65536n, 2n ** 24n - 1n, 2n ** 24n, 2n ** 32n - 1n, 2n ** 32n, -1n, 0.0, -0.0, 2.5, '', 'a', 'a'.repeat(64), 'b'.repeat(65), 'é', '\u007f', '\u0080', new Uint8Array(0));
    const value = fc.oneof(edge, change.map((c) => c.val), fc.string({ maxLength: 70 }));
    const columns = [['a', 'q"uote', 'ünï'], ['x'], []].map((cols) => cols as readonly string[]);
    const tables = ['items', 'tëst', 'a"b'];
    const cell = fc.tuple(fc.nat(3), name, value, clock);
    const step = fc.oneof(
      { weight: 4, arbitrary: fc.record({ k: fc.constant('row' as const), table: fc.nat(2), columns: fc.nat(2), key: fc.array(value, { minLength: 1, maxLength: 3 }), colVersion: clock, dbVersion: clock, site: fc.nat(2), copy: fc.boolean(), cl: clock, cells: fc.array(cell, { minLength: 1, maxLength: 4 }) }) },
      { weight: 1, arbitrary: fc.record({ k: fc.constant('add' as const), c: change }) },
    );
    fc.assert(
      fc.property(fc.array(step, { maxLength: 25 }), fc.constantFrom(1, 64, 1 << 20), (steps, chunkBytes) => {
        const w = new ChangeLineWriter(chunkBytes);
        const chunks: Buffer[] = [];
        const expected: Change[] = [];
        const full = (): void => {
          if (w.full) chunks.push(Buffer.from(w.take()));
        };
        for (const s of steps) {
          if (s.k === 'add') {
            w.add(s.c);
            expected.push(s.c);
            full();
            continue;
          }
          const cols = columns[s.columns]!;
          const table = tables[s.table]!;
          const siteId = s.copy ? sites[s.site]!.slice() : sites[s.site]!;
          // The key among other values, as a query row holds it.
          w.row(table, cols, [...s.key, 'not', 'key'], s.key.length, s.colVersion, s.dbVersion, siteId, s.cl);
          const pk = packColumns(s.key);
          for (const [i, cid, val, seq] of s.cells) {
            // A column of the row's columns by index, or a named one (a sentinel's, an override's).
            const column = i < cols.length ? i : -1;
            const id = column >= 0 ? cols[column]! : cid;
            w.cell(id, column, val, seq);
            expected.push({ table, pk, cid: id, val, colVersion: s.colVersion, dbVersion: s.dbVersion, siteId, cl: s.cl, seq });
            full();
          }
        }
        chunks.push(Buffer.from(w.take()));
        assert.deepEqual(Buffer.concat(chunks), general(expected));
      }),
      { numRuns: 1000 },
    );
  });

  it('writes values larger than a chunk\'s spare room, by add() and by cell()', () => {
    // Past the straight hex (a long or non-ASCII text, a blob) and longer than the 4 KiB a chunk has
    // beyond its size: the buffer grows in the middle of a line, which must keep the line's start.
    const big = [new Uint8Array(3000).fill(0xa5), 'é'.repeat(2500), 'x'.repeat(5000), new Uint8Array(20000)];
    for (const chunkBytes of [1, 64, 1 << 20]) {
      const w = new ChangeLineWriter(chunkBytes);
      const expected: Change[] = [];
      const chunks: Buffer[] = [];
      const site = sites[0]!;
      for (const [i, val] of big.entries()) {
        const c: Change = { table: 'items', pk: packColumns([BigInt(i)]), cid: 'blob', val, colVersion: 1, dbVersion: 2, siteId: site, cl: 1, seq: i };
        w.add(c);
        expected.push(c);
        if (w.full) chunks.push(Buffer.from(w.take()));
        w.row('items', ['blob'], [BigInt(i)], 1, 1, 2, site, 1);
        w.cell('blob', 0, val, i);
        expected.push(c);
        w.cell('blob', 0, val, i); // the row's start copied from the line before, in a grown buffer
        expected.push(c);
        if (w.full) chunks.push(Buffer.from(w.take()));
      }
      chunks.push(Buffer.from(w.take()));
      assert.deepEqual(Buffer.concat(chunks), general(expected));
    }
  });

  it('builds later chunks in the buffers given back, and what it hands over stays as handed', () => {
    fc.assert(
      fc.property(fc.array(change, { maxLength: 40 }), fc.constantFrom(1, 64, 1000), (changes, chunkBytes) => {
        const w = new ChangeLineWriter(chunkBytes);
        const out: Buffer[] = [];
        const taken: Uint8Array[] = [];
        for (const c of changes) {
          w.add(c);
          if (w.full) {
            const chunk = w.take();
            out.push(Buffer.from(chunk));
            taken.push(chunk);
            // Given back once "written": the chunk before this one (as the command's one write in flight).
            if (taken.length > 1) w.recycle(taken.shift()!);
          }
        }
        out.push(Buffer.from(w.take()));
        assert.deepEqual(Buffer.concat(out), general(changes));
        // The chunk not given back is untouched.
        if (taken.length > 0) assert.deepEqual(Buffer.from(taken[0]!), out[out.length - 2]);
      }),
      { numRuns: 300 },
    );
  });

  it('never writes into a chunk it handed over, and reuses no site id it was shown before a change to it', () => {
    const c: Change = { table: 'items', pk: packColumns([1n]), cid: 'name', val: 'x', colVersion: 1, dbVersion: 2, siteId: new Uint8Array(16).fill(7), cl: 1, seq: 0 };
    const w = new ChangeLineWriter(16);
    w.add(c);
    const first = w.take();
    const copy = Buffer.from(first);
    // The same site id array, changed in place (a caller's reused buffer): the line must show the new bytes.
    c.siteId[0] = 0xff;
    for (let i = 0; i < 100; i++) w.add({ ...c, seq: i });
    assert.deepEqual(Buffer.from(first), copy);
    assert.deepEqual(Buffer.from(w.take()), general(Array.from({ length: 100 }, (_, i) => ({ ...c, seq: i }))));
  });
});
