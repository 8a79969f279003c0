/**
 * The byte reader of JSON lines (`ddcp apply`'s) gives what the line reader and {@link parseChanges}
 * give — the same changes, the same first error with the same message after the same changes — on
 * random lines, randomly damaged ones, blank lines, CRLF, a byte-order mark, invalid UTF-8 and lines
 * over the limit, cut into chunks anywhere; and its read by position agrees with `parseCanonical`.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import type { Change } from '../engine/change.ts';
import { packColumns } from '../engine/pack.ts';
import { int64, INT64_MAX } from '../base/int64.ts';
import { formatChange, parseCanonical, parseChanges } from './jsonl.ts';
import { ChangeLineReader, fileChanges, readFileChanges } from './jsonl-reader.ts';
import { readFileLines } from './lines.ts';

const INT64_MIN = -(2n ** 63n);
const clock = fc.oneof(fc.nat(), fc.nat(20), fc.bigInt({ min: 0n, max: INT64_MAX }).map(int64));
const site = fc.oneof(fc.constant(new Uint8Array(16).fill(7)), fc.uint8Array({ minLength: 16, maxLength: 16 }));
const change: fc.Arbitrary<Change> = fc.record({
  table: fc.oneof(fc.constantFrom('items', 'items', 'tëst', 'a"b', 'back\\slash', 'tab\tname', '日本'), fc.string({ minLength: 1, maxLength: 8 })),
  pk: fc.oneof(fc.constant(packColumns([1n])), fc.array(fc.oneof(fc.bigInt({ min: INT64_MIN, max: INT64_MAX }), fc.string({ maxLength: 20 })), { minLength: 1, maxLength: 3 }).map((v) => packColumns(v))),
  cid: fc.oneof(fc.constantFrom('-1', 'name', 'qty', 'ü', 'quote"d'), fc.string({ minLength: 1, maxLength: 8 })),
  val: fc.oneof(fc.constant(null), fc.bigInt({ min: INT64_MIN, max: INT64_MAX }), fc.double({ noNaN: true }), fc.string({ maxLength: 30 }), fc.uint8Array({ maxLength: 20 })),
  colVersion: clock,
  dbVersion: clock,
  siteId: site,
  cl: clock,
  seq: clock,
});

/** Comparable plain data. */
const plain = (c: Change) => ({ ...c, pk: [...c.pk], siteId: [...c.siteId], val: c.val instanceof Uint8Array ? [...c.val] : c.val });

const encoder = new TextEncoder();
const CHARS = ['0', '9', 'a', 'F', 'g', '"', '\\', ',', '}', ' ', '-', '.', 'e', 'é', '\u0001', '\r', '\ufeff', '\u00a0'];
const edit = fc.record({ at: fc.nat(), kind: fc.constantFrom('replace', 'delete', 'insert'), char: fc.constantFrom(...CHARS) });

/** A line of `c`, with up to three random edits (none for most lines). */
const line = fc.tuple(change, fc.oneof({ weight: 3, arbitrary: fc.constant([]) }, { weight: 1, arbitrary: fc.array(edit, { minLength: 1, maxLength: 3 }) })).map(([c, edits]) => {
  let text = formatChange(c);
  for (const { at, kind, char } of edits) {
    const i = at % (text.length + 1);
    text = kind === 'insert' ? text.slice(0, i) + char + text.slice(i) : text.slice(0, i) + (kind === 'replace' ? char : '') + text.slice(i + 1);
  }
  return text;
});

/** Input bytes: lines with `\n` or `\r\n`, blank ones, perhaps a byte-order mark, invalid UTF-8, no last newline. */
const input = fc
  .record({
    lines: fc.array(fc.oneof({ weight: 8, arbitrary: line }, { weight: 1, arbitrary: fc.constantFrom('', ' ', '\t', '\r', '\ufeff', 'garbage', '{}') }), { maxLength: 12 }),
    crlf: fc.array(fc.boolean(), { maxLength: 12 }),
    bom: fc.boolean(),
    lastNewline: fc.boolean(),
    junk: fc.option(fc.record({ at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 3 }).map((b) => b.map((x) => x | 0x80)) }), { freq: 4 }),
  })
  .map(({ lines, crlf, bom, lastNewline, junk }) => {
    let text = (bom ? '\ufeff' : '') + lines.map((l, i) => l + (i < lines.length - 1 || lastNewline ? (crlf[i] ? '\r\n' : '\n') : '')).join('');
    let bytes = encoder.encode(text);
    if (junk) {
      const at = junk.at % (bytes.length + 1);
      bytes = new Uint8Array([...bytes.subarray(0, at), ...junk.bytes, ...bytes.subarray(at)]);
    }
    text = '';
    return bytes;
  });

/** The changes read, and the first error (its class and message), of an iterable of changes. */
function drain(changes: Iterable<Change>): { changes: ReturnType<typeof plain>[]; error?: string } {
  const out: ReturnType<typeof plain>[] = [];
  try {
    for (const c of changes) out.push(plain(c));
  } catch (err) {
    return { changes: out, error: `${(err as Error).name}: ${(err as Error).message}` };
  }
  return { changes: out };
}

/** The byte reader fed `bytes` in chunks cut at `cuts`. */
function* chunked(bytes: Uint8Array, cuts: number[], maxLineChars: number): Generator<Change> {
  const reader = new ChangeLineReader(maxLineChars);
  const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  let from = 0;
  for (const to of [...at, bytes.length]) {
    // A fresh copy per chunk, overwritten after use as a reused read buffer is.
    const chunk = bytes.slice(from, to);
    yield* reader.push(chunk);
    chunk.fill(0x41);
    if (reader.error) throw reader.error;
    from = to;
  }
  yield* reader.end();
  if (reader.error) throw reader.error;
}

/**
 * What a line-by-line reader with a limit of `limit` characters gives: the line reader stops at the
 * first line over the limit — but scans a 64 KiB chunk's lines before handing out any, so with a limit
 * that small it fails before earlier lines of the same chunk are parsed; with its real limit (64 Mi)
 * every line before is read first. This is that order: the lines before the first long one, read
 * without a limit, then the error for the long one.
 */
function lineByLine(bytes: Uint8Array, limit: number, file: string): ReturnType<typeof drain> {
  const text = new TextDecoder().decode(bytes); // as the line reader decodes (a leading mark dropped)
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop(); // the line reader yields no empty last line
  const long = lines.findIndex((l) => l.length > limit);
  let end = long < 0 ? bytes.length : 0; // the bytes of the lines before the long one
  for (let k = 0; k < long; k++) end = bytes.indexOf(0x0a, end) + 1;
  writeFileSync(file, bytes.subarray(0, end));
  const before = drain(parseChanges(readFileLines(file)));
  return before.error || long < 0 ? before : { ...before, error: `CodecError: line ${long + 1} is longer than ${limit} characters (the limit for one line)` };
}

describe('JSON lines read as bytes', () => {
  it('reads by position exactly the lines parseCanonical reads, with the same result', () => {
    const reader = new ChangeLineReader();
    fc.assert(
      fc.property(line, (text) => {
        const bytes = encoder.encode(text);
        const fast = reader.canonical(bytes, 0, bytes.length);
        const expected = parseCanonical(text);
        assert.equal(fast === undefined, expected === undefined, `byte reader ${fast ? 'accepted' : 'refused'}: ${text}`);
        if (fast && expected) assert.deepEqual(plain(fast), plain(expected));
      }),
      { numRuns: 3000 },
    );
  });

  it('gives the changes and the first error the line reader and parseChanges give, however the input is cut', () => {
    const dir = mkdtempSync(join(tmpdir(), 'jsonl-reader-'));
    try {
      const file = join(dir, 'in.jsonl');
      fc.assert(
        fc.property(input, fc.array(fc.nat(), { maxLength: 6 }), fc.option(fc.integer({ min: 1, max: 400 }), { freq: 2 }), (bytes, cuts, limit) => {
          writeFileSync(file, bytes);
          const max = limit ?? 64 * 1024 * 1024;
          const expected = limit === null ? drain(parseChanges(readFileLines(file))) : lineByLine(bytes, limit, join(dir, 'before.jsonl'));
          assert.deepEqual(drain(chunked(bytes, cuts, max)), expected);
          assert.deepEqual(drain(readFileChanges(file, max)), expected);
          assert.deepEqual(drain(fileChanges(file, max)), expected);
        }),
        { numRuns: 600 },
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('closes the file when a loop over the changes stops early, throws or ends, and then stays done', { skip: !existsSync('/proc/self/fd') }, () => {
    const dir = mkdtempSync(join(tmpdir(), 'jsonl-reader-'));
    const open = () => readdirSync('/proc/self/fd').length;
    try {
      const file = join(dir, 'in.jsonl');
      const c: Change = { table: 'items', pk: packColumns([1n]), cid: 'name', val: 'x', colVersion: 1, dbVersion: 2, siteId: new Uint8Array(16).fill(7), cl: 1, seq: 0 };
      writeFileSync(file, `${formatChange(c)}\n${formatChange({ ...c, seq: 1 })}\nnot json\n`);
      for (const read of [fileChanges, readFileChanges]) {
        const before = open();
        for (const got of read(file)) {
          assert.equal(got.seq, 0);
          assert.equal(open(), before + 1, 'the file is open while it is read');
          break;
        }
        assert.equal(open(), before, 'closed by a loop that stops early');
        const changes = read(file);
        assert.throws(() => [...changes], /line 3: not valid JSON/);
        assert.equal(open(), before, 'closed after the error');
        assert.deepEqual(changes.next(), { done: true, value: undefined }, 'done after the error');
        assert.throws(() => [...read(file, 60)], /line 1 is longer than 60 characters/);
        assert.equal(open(), before, 'closed after a line over the limit');
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('takes a pipe that hands the first bytes one by one (a byte-order mark split across reads)', () => {
    const c: Change = { table: 'items', pk: packColumns([1n]), cid: 'name', val: 'x', colVersion: 1, dbVersion: 2, siteId: new Uint8Array(16).fill(7), cl: 1, seq: 0 };
    const bytes = encoder.encode(`\ufeff${formatChange(c)}\n\ufeff${formatChange(c)}\n`);
    const got = drain(chunked(bytes, [1, 2, 3, 4], 1000));
    assert.deepEqual(got.changes, [plain(c)]);
    assert.match(got.error!, /^ChangeError: line 2: not valid JSON/, 'a mark after the first is text, as the line reader keeps it');
  });

  it('refuses a value shorter than it says, even with the rest of a longer value left in its buffer', () => {
    const reader = new ChangeLineReader();
    const c: Change = { table: 'items', pk: packColumns([1n]), cid: 'name', val: 'abcdef', colVersion: 1, dbVersion: 2, siteId: new Uint8Array(16).fill(7), cl: 1, seq: 0 };
    const full = formatChange(c);
    const whole = encoder.encode(full);
    assert.ok(reader.canonical(whole, 0, whole.length), 'the whole value is read');
    const packed = Buffer.from(packColumns(['abcdef'])).toString('hex');
    const cut = full.replace(`"val":"${packed}"`, `"val":"${packed.slice(0, -6)}"`); // says 6 bytes, holds 3
    const bytes = encoder.encode(cut);
    assert.equal(reader.canonical(bytes, 0, bytes.length), undefined);
    assert.equal(parseCanonical(cut), undefined);
  });

  it('reads no line by position that the chunk cuts off: it waits for the line whole', () => {
    // A read of a cut line fails inside it, on paths whole lines never take, which cost a recompile of
    // the reader (docs/performance.md, *cli-apply*); each line is read by position exactly once.
    const c: Change = { table: 'items', pk: packColumns([1n]), cid: 'name', val: 'abc', colVersion: 1, dbVersion: 2, siteId: new Uint8Array(16).fill(7), cl: 1, seq: 0 };
    const lines = [0, 1, 2].map((seq) => `${formatChange({ ...c, seq })}\n`);
    const bytes = encoder.encode(lines.join(''));
    const reader = new ChangeLineReader();
    const proto = Object.getPrototypeOf(reader) as { parse: (...args: unknown[]) => unknown };
    let reads = 0;
    const parse = proto.parse;
    Object.defineProperty(reader, 'parse', { value: (...args: unknown[]) => (reads++, parse.apply(reader, args)) });
    const cut = lines[0]!.length + 40; // inside the second line
    const got = [...reader.push(bytes.subarray(0, cut)), ...reader.push(bytes.subarray(cut)), ...reader.end()];
    assert.deepEqual(got.map(plain), [0, 1, 2].map((seq) => plain({ ...c, seq })));
    assert.equal(reads, 3, 'one read by position per line');
  });

  it('shares the arrays of a repeated key and site id, and copies what it keeps out of the read buffer', () => {
    const a: Change = { table: 'items', pk: packColumns([1n]), cid: 'name', val: new Uint8Array([1, 2]), colVersion: 1, dbVersion: 2, siteId: new Uint8Array(16).fill(7), cl: 1, seq: 0 };
    const b: Change = { ...a, cid: 'qty', val: 5n, seq: 1 };
    const reader = new ChangeLineReader();
    const chunk = encoder.encode(`${formatChange(a)}\n${formatChange(b)}\n`);
    const [x, y] = reader.push(chunk);
    chunk.fill(0);
    assert.equal(x!.pk, y!.pk);
    assert.equal(x!.siteId, y!.siteId);
    assert.deepEqual([plain(x!), plain(y!)], [plain(a), plain(b)]);
  });
});
