import assert from 'node:assert/strict';
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import type { Change, SqlValue } from '../engine/index.ts';
import { packColumns } from '../engine/index.ts';
import { BundleError, FORMAT_VERSION, FRAME_CHANGES, MAGIC, MAX_FRAME_BYTES, type BundleFault, type BundleHeader } from './format.ts';
import { BundleReader } from './reader.ts';
import { verifyBundle } from './verify.ts';
import { BundleWriter, writeBundle } from './writer.ts';
import { binaryString } from '../../test/support/binary-string.ts';

const dir = mkdtempSync(join(tmpdir(), 'ddcp-bundle-unit-'));
let seq = 0;
const tmp = (name = 'b'): string => join(dir, `${name}-${++seq}.ddcpb`);
after(() => rmSync(dir, { recursive: true, force: true }));

const SITE_A = new Uint8Array(16).fill(0xaa);
const SITE_B = Uint8Array.from({ length: 16 }, (_, i) => i);

const header = (over: Partial<BundleHeader> = {}): BundleHeader => ({
  siteId: 'aa'.repeat(16),
  address: '12D3KooWtest',
  schema: [
    { table: 'items', pks: ['id'], columns: ['name', 'qty', 'price'] },
    { table: 'notes', pks: ['a', 'b'], columns: ['body'] },
  ],
  schemaFingerprint: '0123456789abcdef0123456789abcdef',
  since: 0,
  version: 99,
  createdAt: '2026-01-01T00:00:00.000Z',
  ...over,
});

const valueArb: fc.Arbitrary<SqlValue> = fc.oneof(
  fc.constant(null),
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
  fc.double({ noNaN: true }), // a NaN is refused when read (issue 8)
  binaryString({ maxLength: 30 }),
  fc.uint8Array({ maxLength: 30 }),
);

const changeArb: fc.Arbitrary<Change> = fc.record({
  table: fc.constantFrom('items', 'notes', 'ünïcode table'),
  pk: fc.oneof(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), fc.string({ maxLength: 10 })).map((k) => packColumns([k])),
  cid: fc.constantFrom('-1', 'name', 'qty', 'price', 'body'),
  val: valueArb,
  colVersion: fc.nat({ max: 1000 }),
  dbVersion: fc.nat({ max: 2 ** 40 }),
  siteId: fc.constantFrom(SITE_A, SITE_B),
  cl: fc.integer({ min: 1, max: 9 }),
  seq: fc.nat({ max: 100 }),
}).map((c) => ({ ...c })); // plain objects, like the decoder's

function makeChanges(n: number, offset = 0): Change[] {
  return Array.from({ length: n }, (_, i) => ({
    table: 'items',
    pk: packColumns([BigInt(offset + i)]),
    cid: 'name',
    val: `row ${offset + i}`,
    colVersion: 1,
    dbVersion: offset + i + 1,
    siteId: SITE_A,
    cl: 1,
    seq: 0,
  }));
}

/** Reads a whole bundle; returns what was yielded and the error, if any. */
function readAll(path: string, chunk?: number): { changes: Change[]; error?: unknown } {
  const changes: Change[] = [];
  try {
    const r = BundleReader.open(path, chunk ? { chunk } : {});
    r.announcedChanges(); // must never throw, whatever the file
    for (const c of r.changes()) changes.push(c);
    return { changes };
  } catch (error) {
    return { changes, error };
  }
}

function assertBundleError(err: unknown, fault?: BundleFault, message?: RegExp): void {
  assert.ok(err instanceof BundleError, `expected a BundleError, got ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
  assert.equal(err.name, 'BundleError');
  if (fault) assert.equal(err.fault, fault, err.message);
  if (message) assert.match(err.message, message);
}

describe('bundle format', () => {
  it('round-trips changes exactly, with header and summary (property)', () => {
    fc.assert(
      fc.property(fc.array(changeArb, { maxLength: 60 }), fc.integer({ min: 1, max: 8 }), fc.constantFrom(64, 100, 4096), (changes, frameChanges, chunk) => {
        const path = tmp();
        const written = writeBundle(path, header(), changes, { frameChanges });
        assert.equal(written.changes, changes.length);
        const r = BundleReader.open(path, { chunk });
        assert.deepEqual(r.header, header());
        assert.equal(r.announcedChanges(), changes.length);
        const got: Change[] = [];
        const it = r.changes();
        let step;
        while (!(step = it.next()).done) got.push(step.value);
        assert.deepStrictEqual(got, changes);
        assert.deepEqual(step.value, written);
        assert.equal(written.bytes, readFileSync(path).length);
      }),
      { numRuns: 150 },
    );
  });

  it('detects any corruption of a valid bundle and never yields a wrong change (property)', () => {
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), xor: fc.integer({ min: 1, max: 255 }) }),
      fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
      fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }),
      fc.record({ kind: fc.constant('overwrite' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 12 }) }),
      fc.record({ kind: fc.constant('swap' as const), at: fc.nat(), other: fc.nat() }),
    );
    fc.assert(
      fc.property(fc.array(changeArb, { maxLength: 25 }), fc.integer({ min: 1, max: 6 }), mutation, fc.constantFrom(64, 4096), (changes, frameChanges, m, chunk) => {
        const path = tmp();
        writeBundle(path, header(), changes, { frameChanges });
        const good = readFileSync(path);
        let bad: Buffer;
        const at = m.at % good.length;
        switch (m.kind) {
          case 'flip':
            bad = Buffer.from(good);
            bad[at]! ^= m.xor;
            break;
          case 'truncate':
            bad = good.subarray(0, at);
            break;
          case 'insert':
            bad = Buffer.concat([good.subarray(0, at), Buffer.of(m.byte), good.subarray(at)]);
            break;
          case 'delete':
            bad = Buffer.concat([good.subarray(0, at), good.subarray(at + 1)]);
            break;
          case 'overwrite':
            bad = Buffer.from(good);
            Buffer.from(m.bytes).copy(bad, at);
            break;
          case 'swap': {
            bad = Buffer.from(good);
            const o = m.other % good.length;
            [bad[at], bad[o]] = [bad[o]!, bad[at]!];
            break;
          }
        }
        fc.pre(!bad.equals(good));
        const damaged = tmp('bad');
        writeFileSync(damaged, bad);
        const { changes: got, error } = readAll(damaged, chunk);
        assertBundleError(error);
        // Whatever came out before the damage was found is exactly the start of the original.
        assert.ok(got.length <= changes.length);
        assert.deepStrictEqual(got, changes.slice(0, got.length));
      }),
      { numRuns: 1000 },
    );
  });

  it('refuses an empty file, garbage, a foreign file and a newer version, clearly', () => {
    const empty = tmp();
    writeFileSync(empty, '');
    assertBundleError(readAll(empty).error, 'not-a-bundle', /not a bundle: the file is empty/);
    const garbage = tmp();
    writeFileSync(garbage, Buffer.from('this is not a bundle at all, just some text\n'.repeat(50)));
    assertBundleError(readAll(garbage).error, 'not-a-bundle', /not a ddcp bundle/);
    const sqlite = tmp();
    writeFileSync(sqlite, Buffer.concat([Buffer.from('SQLite format 3\0'), Buffer.alloc(100)]));
    assertBundleError(readAll(sqlite).error, 'not-a-bundle');
    const short = tmp();
    writeFileSync(short, MAGIC.subarray(0, 5));
    assertBundleError(readAll(short).error, 'truncated', /truncated bundle/);
    const path = tmp();
    writeBundle(path, header(), makeChanges(3));
    const newer = Buffer.from(readFileSync(path));
    newer[MAGIC.length] = FORMAT_VERSION + 1;
    writeFileSync(path, newer);
    assertBundleError(readAll(path).error, 'unsupported-version', /unsupported bundle format version 2 .*upgrade ddcp/);
  });

  it('refuses a bundle cut at every frame boundary and inside frames as truncated', () => {
    const path = tmp();
    writeBundle(path, header(), makeChanges(50), { frameChanges: 10 });
    const good = readFileSync(path);
    for (let cut = 1; cut < good.length; cut += 7) {
      const p = tmp('cut');
      writeFileSync(p, good.subarray(0, cut));
      const { error } = readAll(p);
      assertBundleError(error, undefined, /truncated|not a/);
    }
    // Cut exactly before the trailer: every change frame is intact, yet the bundle is incomplete.
    const p = tmp('notrailer');
    writeFileSync(p, good.subarray(0, good.length - 50));
    const { changes, error } = readAll(p);
    assertBundleError(error, 'truncated', /no trailer \(the file ends after 50 changes/);
    assert.equal(changes.length, 50);
  });

  it('detects a damaged last frame only after the intact frames — a consumer must treat it as all-or-nothing', () => {
    const path = tmp();
    writeBundle(path, header(), makeChanges(30), { frameChanges: 10 });
    const bad = Buffer.from(readFileSync(path));
    bad[bad.length - 50 - 10]! ^= 0x01; // inside the last change frame, just before the trailer
    writeFileSync(path, bad);
    const { changes, error } = readAll(path);
    assertBundleError(error, 'checksum', /checksum mismatch: frame 3/);
    assert.deepStrictEqual(changes, makeChanges(20));
  });

  it('refuses unexpected bytes after the trailer, and frames over the size limit without allocating them', () => {
    const path = tmp();
    writeBundle(path, header(), makeChanges(5));
    writeFileSync(path, Buffer.concat([readFileSync(path), Buffer.of(0)]));
    assertBundleError(readAll(path).error, 'malformed', /unexpected bytes after the trailer/);

    // A frame announcing 2^32 bytes: refused by its length alone.
    const huge = tmp();
    const fd = openSync(huge, 'w');
    const w = new BundleWriter(fd, header());
    w.finish();
    closeSync(fd);
    const start = readFileSync(huge).subarray(0, -50);
    writeFileSync(huge, Buffer.concat([start, Buffer.of(FRAME_CHANGES, 0x80, 0x80, 0x80, 0x80, 0x10), Buffer.alloc(100)]));
    assertBundleError(readAll(huge).error, 'too-large', new RegExp(`exceeds the limit of ${MAX_FRAME_BYTES}`));
    // Within the limit but beyond the end of the file: truncated, still nothing allocated.
    writeFileSync(huge, Buffer.concat([start, Buffer.of(FRAME_CHANGES, 0x80, 0x80, 0x80, 0x40), Buffer.alloc(100)]));
    assertBundleError(readAll(huge).error, 'truncated');
  });

  it('writes atomically: a failing source leaves no file and keeps an existing one', () => {
    const sub = mkdtempSync(join(dir, 'atomic-'));
    const path = join(sub, 'out.ddcpb');
    const failing = function* (): Generator<Change> {
      yield* makeChanges(10_000);
      throw new Error('disk on fire');
    };
    assert.throws(() => writeBundle(path, header(), failing()), /disk on fire/);
    assert.deepEqual(readdirSync(sub), []);
    writeBundle(path, header(), makeChanges(3));
    const before = readFileSync(path);
    assert.throws(() => writeBundle(path, header(), failing()), /disk on fire/);
    assert.deepEqual(readdirSync(sub), ['out.ddcpb']);
    assert.ok(readFileSync(path).equals(before));
    assert.throws(() => writeBundle(join(sub, 'no', 'such', 'dir.ddcpb'), header(), []), (e: unknown) => e instanceof BundleError && /cannot write/.test(e.message));
    assert.throws(() => writeBundle(join(sub, 'x.ddcpb'), header({ siteId: 'nothex' }), []), /malformed bundle header: site_id/);
    assert.ok(!existsSync(join(sub, 'x.ddcpb')));
  });

  it('keeps frames bounded by count and by bytes, so reading holds one small frame', () => {
    const path = tmp();
    const n = 50_000;
    const summary = writeBundle(path, header(), makeChanges(n));
    const r = BundleReader.open(path);
    let count = 0;
    let largestBatch = 0;
    for (const batch of r.batches()) {
      count += batch.length;
      largestBatch = Math.max(largestBatch, batch.length);
    }
    assert.equal(count, n);
    assert.ok(largestBatch <= 4096, `largest batch ${largestBatch}`);
    assert.ok(r.largestFrame < 200_000, `largest frame ${r.largestFrame} bytes`);
    assert.ok(summary.frames >= Math.ceil(n / 4096) + 2);
    // Big values: cut by bytes.
    const big = tmp();
    const blob = new Uint8Array(300_000);
    writeBundle(big, header(), makeChanges(20).map((c) => ({ ...c, val: blob })));
    const rb = BundleReader.open(big);
    let frames = 0;
    for (const b of rb.batches()) frames += b.length > 0 ? 1 : 0;
    assert.ok(frames >= 5, `${frames} frames`);
    assert.ok(rb.largestFrame < 1_400_000, `largest frame ${rb.largestFrame}`);
  });

  it('verifyBundle reads everything and reports the checksum; an empty bundle is valid', () => {
    const path = tmp();
    const w = writeBundle(path, header({ since: 5, version: 5, exceptSite: 'bb'.repeat(16) }), []);
    const v = verifyBundle(path);
    assert.equal(v.summary.changes, 0);
    assert.equal(v.summary.sha256, w.sha256);
    assert.equal(v.header.exceptSite, 'bb'.repeat(16));
    assert.equal(v.header.since, 5);
  });
});
