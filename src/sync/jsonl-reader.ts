/**
 * The fast reader of JSON lines (sync/jsonl.ts), the mirror of the byte writer (sync/jsonl-writer.ts):
 * changes straight from the bytes of a file or pipe, read in chunks. `ddcp apply` reads hundreds of
 * thousands of lines, and decoding each to a string, slicing it and decoding its hex through more
 * strings cost about as much as merging the changes did. Here a line exactly as `ddcp changes` writes
 * it is read by position on the bytes: hex by table lookup, table and column names kept as strings
 * per their bytes (a database has few), a site id that repeats the previous line's is the same array,
 * no string per line. Any other line — another layout, escapes, anything invalid, blank — is decoded
 * as the line reader (sync/lines.ts) would and goes to {@link parseChange}, which then reads it the
 * general strict way or explains what is wrong. So the result, the errors and their order are those of
 * `parseChanges(readFileLines(path))` (a property test holds the two to it, on random and damaged lines
 * cut into random chunks).
 */
import { closeSync, openSync } from 'node:fs';
import type { Change, SqlValue } from '../engine/index.ts';
import { readValueAt, type ReadCursor } from '../engine/index.ts';
import { CodecError } from '../base/errors.ts';
import { INT64_MAX, int64, type Int64 } from '../base/int64.ts';
import { parseChange } from './jsonl.ts';
import { MAX_LINE_CHARS, readChunk } from './lines.ts';

/**
 * Bytes read from the file at a time: ~380 lines' changes handed out together. A 1 MiB chunk's 6,000
 * changes outlive a young-generation collection and raise peak memory by ~40 MB, for no speed.
 */
const CHUNK = 1 << 16;

/** Each byte's value as a hex digit (either case, as Buffer's hex decoding takes), or 255. */
const HEX = new Uint8Array(256).fill(255);
for (let i = 0; i < 10; i++) HEX[0x30 + i] = i;
for (let i = 0; i < 6; i++) HEX[0x61 + i] = HEX[0x41 + i] = 10 + i;

/** Tells whether `b` has a fixed text at `i` (before `e`): the position after it, else -1. */
type Literal = (b: Uint8Array, i: number, e: number) => number;

/**
 * A {@link Literal} for `text` (ASCII), its bytes compared one by one as constants in one expression:
 * no loop and no array of the text to load from — every line has ~90 bytes of these, and a loop over
 * them was the largest part of reading a line, most of all in the one pass before V8 optimises it.
 */
function literal(text: string): Literal {
  const bytes = [...text].map((ch) => ch.charCodeAt(0));
  const same = bytes.map((c, k) => `b[i + ${k}] === ${c}`).join(' && ');
  return new Function('b', 'i', 'e', `return i + ${bytes.length} <= e && ${same} ? i + ${bytes.length} : -1;`) as Literal;
}

// The fixed parts of a line, in order (after the opening `{"table":"` and the table's name).
const OPEN = literal('{"table":"');
const PK = literal(',"pk":"');
const CID = literal(',"cid":"');
const VAL = literal(',"val":"');
const COL_VERSION = literal(',"col_version":');
const DB_VERSION = literal(',"db_version":');
const SITE_ID = literal(',"site_id":"');
const CL = literal(',"cl":');
const SEQ = literal(',"seq":');

/** At most this many distinct table and column names are kept (a database has few). */
const NAME_CACHE = 256;
/** Keys are decoded into shared blocks of this size (a key is a view of one), as Buffer pools small buffers. */
const POOL = 1 << 16;

/** A name's bytes and its string. */
interface Name {
  bytes: Uint8Array;
  text: string;
  /** The column that followed this one on the last line that had it (columns: tried first). */
  next: Name | undefined;
}

/**
 * Turns chunks of JSON-lines bytes into changes. {@link push} each chunk in order, then {@link end};
 * each returns the changes of the lines it completed. An error (a line that is not a valid change, a
 * line over the limit) is held until the changes before it were handed out — {@link error} — so a
 * consumer meets everything in the order a line-by-line reader gives it.
 */
export class ChangeLineReader {
  /** The first error, after the changes of the lines before it; nothing is read after it. */
  error: Error | undefined;

  private readonly maxLineChars: number;
  /** Line number of the last line completed. */
  private lineNo = 0;
  /** The start of the current line, carried over from earlier chunks. */
  private carry: Uint8Array[] = [];
  private carryBytes = 0;
  /** The carried line's length in UTF-16 code units (as the line reader measures), counted as it grows. */
  private carryUnits = 0;
  private readonly counter = new TextDecoder('utf-8', { ignoreBOM: true });
  /** Whether the input's first bytes were seen (a leading byte-order mark is dropped, as TextDecoder does). */
  private started = false;
  private head = new Uint8Array(0);
  // Decoding a line that isn't read by position: as the line reader's TextDecoder does (invalid bytes
  // become U+FFFD), but with every byte-order mark after the input's first kept as text.
  private readonly decoder = new TextDecoder('utf-8', { ignoreBOM: true });

  private readonly tables: Name[] = [];
  private readonly cids: Name[] = [];
  private lastTable: Name | undefined;
  private lastCid: Name | undefined;
  /** The previous line's site id, and its 32 hex digits. */
  private site: Uint8Array | undefined;
  private readonly siteHex = new Uint8Array(32);
  /** The previous line's key: consecutive changes of a row share it. */
  private pk: Uint8Array | undefined;
  // Small at first, so that a key soon takes the path that starts a block, while the code still
  // gathers type feedback (not on the first line: feedback is kept from a few calls on). Taken only
  // every ~20,000 rows otherwise, it reached the optimised code unseen, which V8 then threw away: a
  // deoptimisation and a second optimisation of the reader, early in the one pass a process makes.
  private pool = new Uint8Array(64);
  private poolPos = 0;
  /**
   * The packed value being decoded, and a Buffer of the same memory for its Latin-1 decoding (see
   * {@link asciiText}); not a Buffer itself: readValueAt copies a blob out with slice(), which on a
   * Buffer would be a view of the scratch memory.
   */
  private scratch = new Uint8Array(256);
  private scratchBuffer = Buffer.from(this.scratch.buffer);
  private scratchView = new DataView(this.scratch.buffer);
  private readonly at: ReadCursor = { pos: 1 };

  /** `maxLineChars`: the longest line, in characters, as {@link readLines} takes it. */
  constructor(maxLineChars = MAX_LINE_CHARS) {
    this.maxLineChars = maxLineChars;
  }

  /** The changes of the lines `chunk` completes (the rest of it is kept for the next). */
  push(chunk: Uint8Array): Change[] {
    const out: Change[] = [];
    if (this.error !== undefined) return out;
    let start = 0;
    if (!this.started) {
      chunk = this.begin(chunk);
      if (!this.started) return out;
      if (chunk[0] === 0xef && chunk[1] === 0xbb && chunk[2] === 0xbf) start = 3;
    }
    const n = chunk.length;
    // The end of the chunk's last whole line. A line cut by the chunk's end is never read by position:
    // such a read fails somewhere inside the line, on a path the whole lines before it never take — one
    // without type feedback, on which V8 threw away the reader's optimised code (`--trace-deopt`: `parse`
    // and `name`, at the first chunk's end) and compiled it again. It is carried whole into the next
    // chunk instead, as a failed read's line was.
    const whole = chunk.lastIndexOf(0x0a) + 1;
    while (start < n) {
      // A line as `ddcp changes` writes it is read where it starts, its end found by the read itself:
      // no separate scan for the newline first (a second pass over every byte).
      if (this.carryBytes === 0 && start < whole) {
        const next = this.canonicalLine(chunk, start, whole, out);
        if (next > 0) {
          start = next;
          continue;
        }
      }
      const nl = chunk.indexOf(0x0a, start);
      if (nl < 0) break;
      if (this.carryBytes > 0) {
        this.carryPart(chunk, start, nl);
        if (this.error !== undefined) return out;
        const line = this.joinCarry();
        if (!this.line(line, 0, line.length, out)) return out;
      } else if (!this.line(chunk, start, nl, out)) return out;
      start = nl + 1;
    }
    if (start < n) this.carryPart(chunk, start, n);
    return out;
  }

  /** The end of the input: the change of a last line without a newline, if any. */
  end(): Change[] {
    const out: Change[] = [];
    if (this.error !== undefined) return out;
    if (!this.started) {
      const head = this.begin(new Uint8Array(0), true);
      this.carryPart(head, 0, head.length);
      if (this.error !== undefined) return out;
    }
    if (this.carryBytes > 0) {
      const line = this.joinCarry();
      // The line reader keeps a last line's \r (it strips one only before a newline).
      this.line(line, 0, line.length, out, false);
    }
    return out;
  }

  /**
   * The input's first bytes, held until there are three or a line ends (a pipe may hand them one by
   * one), so that a leading byte-order mark can be told; the bytes so far once it can, with
   * {@link started} set.
   */
  private begin(chunk: Uint8Array, atEnd = false): Uint8Array {
    const head = this.head;
    if (!atEnd && head.length + chunk.length < 3 && chunk.indexOf(0x0a) < 0) {
      this.head = new Uint8Array(head.length + chunk.length);
      this.head.set(head);
      this.head.set(chunk, head.length);
      return chunk;
    }
    this.started = true;
    if (head.length === 0) return chunk;
    const whole = new Uint8Array(head.length + chunk.length);
    whole.set(head);
    whole.set(chunk, head.length);
    this.head = new Uint8Array(0);
    return whole;
  }

  /** Keeps `chunk[from, to)` as part of the current line, failing once the line is over the limit. */
  private carryPart(chunk: Uint8Array, from: number, to: number): void {
    if (to === from) return;
    const part = copyOf(chunk, from, to);
    this.carry.push(part);
    this.carryBytes += part.length;
    this.carryUnits += this.counter.decode(part, { stream: true }).length;
    if (this.carryUnits > this.maxLineChars) this.tooLong();
  }

  private joinCarry(): Uint8Array {
    // Always a copy (one per 64 KiB chunk): a rarer path, a line in one part, would throw away the optimised code as the pool can.
    const parts = this.carry;
    const line = new Uint8Array(this.carryBytes);
    let p = 0;
    for (const part of parts) (line.set(part, p), (p += part.length));
    this.carry = [];
    this.carryBytes = this.carryUnits = 0;
    this.counter.decode(); // reset the count's decoder
    return line;
  }

  private tooLong(): void {
    this.error ??= new CodecError(`line ${this.lineNo + 1} is longer than ${this.maxLineChars} characters (the limit for one line)`);
  }

  /**
   * Reads the line `b[s, e)` (without its newline) into `out`; false after an error (kept in
   * {@link error}). `beforeNewline`: a trailing \r is the line's end (CRLF), as the line reader takes it.
   */
  private line(b: Uint8Array, s: number, e: number, out: Change[], beforeNewline = true): boolean {
    // Bytes are at least as many as the UTF-16 code units they decode to: only a long line needs counting.
    if (e - s > this.maxLineChars && this.decoder.decode(b.subarray(s, e)).length > this.maxLineChars) {
      this.tooLong();
      return false;
    }
    this.lineNo++;
    if (beforeNewline && e > s && b[e - 1] === 0x0d) e--;
    if (e === s) return true;
    const fast = this.canonical(b, s, e);
    if (fast !== undefined) {
      out.push(fast);
      return true;
    }
    const text = this.decoder.decode(b.subarray(s, e));
    if (text.trim() === '') return true;
    try {
      out.push(parseChange(text, this.lineNo));
      return true;
    } catch (err) {
      this.error = err as Error;
      return false;
    }
  }

  /**
   * The line starting at `b[s]` (its newline before `n`) read by position, if it is exactly as
   * `formatChange` writes it, ends with a newline (or CRLF) and is within the limit: its change goes
   * to `out`, and the position after its newline is returned. Else 0, with nothing counted or kept
   * (the general path then reads the line).
   */
  private canonicalLine(b: Uint8Array, s: number, n: number, out: Change[]): number {
    const c = this.parse(b, s, n);
    if (c === undefined) return 0;
    let e = intEnd + 1;
    if (e < n && b[e] === 0x0d) e++;
    if (e >= n || b[e] !== 0x0a || e - s > this.maxLineChars) return 0;
    this.lineNo++;
    this.pk = c.pk as Uint8Array;
    out.push(c);
    return e + 1;
  }

  /**
   * `b[s, e)` read by position if it is exactly as `formatChange` writes it (fields in order, no
   * spaces, no escapes in names, integers in plain digits, valid hex and packed value); else undefined.
   * Accepts the same lines as `parseCanonical` on their text, with the same result (public for the
   * property test that holds it to that).
   */
  canonical(b: Uint8Array, s: number, e: number): Change | undefined {
    const c = this.parse(b, s, e);
    if (c === undefined || intEnd + 1 !== e) return undefined;
    this.pk = c.pk as Uint8Array;
    return c;
  }

  /**
   * A change as `formatChange` writes it starting at `b[s]`, read up to its closing brace (before
   * `e`), which {@link intEnd} is left at; else undefined. Whatever follows the brace is the caller's
   * to check. The key is not yet remembered as the previous line's (the caller does once it accepts
   * the line).
   */
  private parse(b: Uint8Array, s: number, e: number): Change | undefined {
    let i = OPEN(b, s, e);
    if (i < 0) return undefined;
    const table = this.name(b, i, e, this.tables, this.lastTable);
    if (table === undefined) return undefined;
    this.lastTable = table;
    i = PK(b, i + table.bytes.length + 1, e);
    if (i < 0) return undefined;

    // The key: into the pool, or the previous line's if the same.
    const pkEnd = hexEnd(b, i, e);
    if (pkEnd <= i) return undefined;
    const pkLen = (pkEnd - i) >> 1;
    let pk = this.pk;
    if (pk === undefined || pk.length !== pkLen || !sameHex(b, i, pk)) {
      if (this.poolPos + pkLen > this.pool.length) {
        this.pool = new Uint8Array(Math.max(POOL, pkLen));
        this.poolPos = 0;
      }
      decodeHex(b, i, pkLen, this.pool, this.poolPos);
      pk = new Uint8Array(this.pool.buffer, this.poolPos, pkLen);
      this.poolPos += pkLen;
    }
    i = CID(b, pkEnd + 1, e);
    if (i < 0) return undefined;

    // A row's columns come in the same order line after line: the one that followed the previous
    // column last time is tried first.
    const prev = this.lastCid;
    const next = prev?.next;
    const cid = next !== undefined && sameName(b, i, e, next.bytes) ? next : this.name(b, i, e, this.cids, prev);
    if (cid === undefined) return undefined;
    if (prev !== undefined) prev.next = cid;
    this.lastCid = cid;
    i = VAL(b, i + cid.bytes.length + 1, e);
    if (i < 0) return undefined;

    const valEnd = hexEnd(b, i, e);
    if (valEnd < i) return undefined;
    const valLen = (valEnd - i) >> 1;
    if (this.scratch.length < valLen) {
      this.scratch = new Uint8Array(Math.max(valLen, 2 * this.scratch.length));
      this.scratchBuffer = Buffer.from(this.scratch.buffer);
      this.scratchView = new DataView(this.scratch.buffer);
    }
    decodeHex(b, i, valLen, this.scratch, 0);
    i = COL_VERSION(b, valEnd + 1, e);
    if (i < 0) return undefined;

    const colVersion = int(b, i, e);
    if (colVersion === undefined) return undefined;
    i = DB_VERSION(b, intEnd, e);
    if (i < 0) return undefined;
    const dbVersion = int(b, i, e);
    if (dbVersion === undefined) return undefined;
    i = SITE_ID(b, intEnd, e);
    if (i < 0 || i + 33 > e || b[i + 32] !== 0x22) return undefined;

    let siteId = this.site;
    if (siteId === undefined || !sameBytes(b, i, this.siteHex)) {
      if (hexEnd(b, i, i + 33) !== i + 32) return undefined;
      siteId = new Uint8Array(16);
      decodeHex(b, i, 16, siteId, 0);
      this.site = siteId;
      this.siteHex.set(b.subarray(i, i + 32));
    }
    i = CL(b, i + 33, e);
    if (i < 0) return undefined;
    const cl = int(b, i, e);
    if (cl === undefined) return undefined;
    i = SEQ(b, intEnd, e);
    if (i < 0) return undefined;
    const seq = int(b, i, e);
    if (seq === undefined || intEnd >= e || b[intEnd] !== 0x7d) return undefined;

    // unpackValue's checks, without its array of one: one column, read to the last byte. The scratch
    // buffer may be longer than the value: a value that claims more bytes than it has ends past
    // valLen (or reads bytes that fail), and is refused as unpackValue would refuse it.
    if (valLen === 0 || this.scratch[0] !== 1) return undefined;
    let val: SqlValue | undefined = asciiText(this.scratchBuffer, valLen) ?? number(this.scratch, this.scratchView, valLen);
    if (val === undefined) {
      const at = this.at;
      at.pos = 1;
      try {
        val = readValueAt(this.scratch, at);
      } catch {
        return undefined;
      }
      if (at.pos !== valLen) return undefined;
    }
    return { table: table.text, pk, cid: cid.text, val, colVersion, dbVersion, siteId, cl, seq };
  }

  /**
   * The name starting at `b[i]` up to its closing quote, if it is non-empty and has no escape or
   * control character: the cached one if its bytes are known (the last one tried first).
   */
  private name(b: Uint8Array, i: number, e: number, cache: Name[], last: Name | undefined): Name | undefined {
    if (last !== undefined && sameName(b, i, e, last.bytes)) return last;
    for (const n of cache) if (sameName(b, i, e, n.bytes)) return n;
    let j = i;
    for (;;) {
      if (j >= e) return undefined;
      const c = b[j]!;
      if (c === 0x22) break;
      if (c < 0x20 || c === 0x5c) return undefined;
      j++;
    }
    if (j === i) return undefined;
    const bytes = copyOf(b, i, j);
    // As the line reader decodes it: the bytes around a name are ASCII, so decoding it alone is the same.
    const name: Name = { bytes, text: this.decoder.decode(bytes), next: undefined };
    if (cache.length < NAME_CACHE) cache.push(name);
    return name;
  }
}

/** The type of packed text (pack.ts: a tag `(len << 3) | 3`, the byte length in `len` big-endian bytes, then the UTF-8). */
const T_TEXT = 3;

/**
 * The packed value `buf[1, valLen)` if it is text, fills it exactly and is all ASCII: its bytes read
 * as Latin-1, which for ASCII is their UTF-8 — what readValueAt gives (a leading byte-order mark, which
 * its decoder would drop, is not ASCII), without a TextDecoder call and a view per value. Else
 * undefined (readValueAt reads it, or refuses it).
 */
function asciiText(buf: Buffer, valLen: number): string | undefined {
  const tag = buf[1]!;
  const len = tag >> 3;
  if ((tag & 7) !== T_TEXT || len > 4) return undefined;
  const from = 2 + len;
  if (from > valLen) return undefined;
  let n = 0;
  for (let j = 2; j < from; j++) n = n * 256 + buf[j]!;
  if (from + n !== valLen) return undefined;
  for (let j = from; j < valLen; j++) if (buf[j]! >= 0x80) return undefined;
  return n <= 12 ? shortText(buf, from, n) : buf.toString('latin1', from, valLen);
}

/**
 * The `n` (≤ 12) ASCII bytes at `b[s]` as a string, made at once: a third of the cost of Buffer's
 * toString call for the short texts most values are, and without the intermediate strings that
 * building one character at a time leaves for the collector.
 */
function shortText(b: Uint8Array, s: number, n: number): string {
  switch (n) {
    case 1:
      return String.fromCharCode(b[s]!);
    case 2:
      return String.fromCharCode(b[s]!, b[s + 1]!);
    case 3:
      return String.fromCharCode(b[s]!, b[s + 1]!, b[s + 2]!);
    case 4:
      return String.fromCharCode(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!);
    case 5:
      return String.fromCharCode(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!, b[s + 4]!);
    case 6:
      return String.fromCharCode(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!, b[s + 4]!, b[s + 5]!);
    case 7:
      return String.fromCharCode(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!, b[s + 4]!, b[s + 5]!, b[s + 6]!);
    case 8:
      return String.fromCharCode(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!, b[s + 4]!, b[s + 5]!, b[s + 6]!, b[s + 7]!);
    case 9:
      return String.fromCharCode(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!, b[s + 4]!, b[s + 5]!, b[s + 6]!, b[s + 7]!, b[s + 8]!);
    case 10:
      return String.fromCharCode(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!, b[s + 4]!, b[s + 5]!, b[s + 6]!, b[s + 7]!, b[s + 8]!, b[s + 9]!);
    case 11:
      return String.fromCharCode(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!, b[s + 4]!, b[s + 5]!, b[s + 6]!, b[s + 7]!, b[s + 8]!, b[s + 9]!, b[s + 10]!);
    case 12:
      return String.fromCharCode(b[s]!, b[s + 1]!, b[s + 2]!, b[s + 3]!, b[s + 4]!, b[s + 5]!, b[s + 6]!, b[s + 7]!, b[s + 8]!, b[s + 9]!, b[s + 10]!, b[s + 11]!);
    default:
      return '';
  }
}

/** The types of packed integers and reals (pack.ts). */
const T_INTEGER = 1;
const T_REAL = 2;

/**
 * The packed value `buf[1, valLen)` if it is an integer of up to 6 bytes or a real (not NaN) filling
 * it exactly: what readValueAt gives, read here without its general switch and cursor; else
 * undefined (readValueAt reads it, or refuses it).
 */
function number(buf: Uint8Array, view: DataView, valLen: number): SqlValue | undefined {
  const tag = buf[1]!;
  if (tag === T_REAL) {
    if (valLen !== 10) return undefined;
    const x = view.getFloat64(2); // big-endian, as packed
    return Number.isNaN(x) ? undefined : x;
  }
  const len = tag >> 3;
  if ((tag & 7) !== T_INTEGER || len > 6 || 2 + len !== valLen) return undefined;
  let n = 0;
  for (let j = 2; j < valLen; j++) n = n * 256 + buf[j]!;
  return BigInt(n);
}

/** A copy of `b[from, to)` (a Buffer's slice() would be a view of it). */
function copyOf(b: Uint8Array, from: number, to: number): Uint8Array {
  const out = new Uint8Array(to - from);
  out.set(b.subarray(from, to));
  return out;
}

/** Whether `b` has `name` at `i` followed by its closing quote (before `e`). */
function sameName(b: Uint8Array, i: number, e: number, name: Uint8Array): boolean {
  const n = name.length;
  if (i + n >= e || b[i + n] !== 0x22) return false;
  for (let k = 0; k < n; k++) if (b[i + k] !== name[k]) return false;
  return true;
}

/** Whether `b` has the bytes of `x` at `i`. */
function sameBytes(b: Uint8Array, i: number, x: Uint8Array): boolean {
  for (let k = 0; k < x.length; k++) if (b[i + k] !== x[k]) return false;
  return true;
}

/** Whether the hex digits at `b[i]` decode to `x` (their count already matches). */
function sameHex(b: Uint8Array, i: number, x: Uint8Array): boolean {
  for (let k = 0; k < x.length; k++) if (((HEX[b[i + 2 * k]!]! << 4) | HEX[b[i + 2 * k + 1]!]!) !== x[k]) return false;
  return true;
}

/**
 * The position of the closing quote after the hex digits starting at `i`, if all up to it are hex
 * digits and even in number; else -1.
 */
function hexEnd(b: Uint8Array, i: number, e: number): number {
  let j = i;
  while (j < e && HEX[b[j]!] !== 255) j++;
  return j < e && b[j] === 0x22 && (j - i) % 2 === 0 ? j : -1;
}

/** Decodes `n` bytes of (valid) hex at `b[i]` into `out` at `at`. */
function decodeHex(b: Uint8Array, i: number, n: number, out: Uint8Array, at: number): void {
  for (let k = 0; k < n; k++, i += 2) out[at + k] = (HEX[b[i]!]! << 4) | HEX[b[i + 1]!]!;
}

/** Where the digits {@link int} last read end. */
let intEnd = 0;

/** Plain digits at `b[i]` (no sign, no leading zero) as an exact non-negative int64, as parseCanonical reads them. */
function int(b: Uint8Array, i: number, e: number): Int64 | undefined {
  let j = i;
  let v = 0;
  while (j < e) {
    const d = b[j]! - 0x30;
    if (d < 0 || d > 9) break;
    v = v * 10 + d;
    j++;
  }
  const digits = j - i;
  if (digits === 0 || (digits > 1 && b[i] === 0x30)) return undefined;
  intEnd = j;
  if (digits < 16) return v;
  let text = '';
  for (let k = i; k < j; k++) text += String.fromCharCode(b[k]!);
  const big = BigInt(text);
  return big > INT64_MAX ? undefined : int64(big);
}

/**
 * The changes of a file descriptor's JSON lines, read in 64 KiB chunks and handed out a chunk's worth
 * at a time; throws the first error after the changes before it (see {@link ChangeLineReader}).
 */
export function readChanges(fd: number, maxLineChars = MAX_LINE_CHARS): Generator<Change> {
  return changesOf(() => fd, false, maxLineChars);
}

/**
 * The changes of a file of JSON lines (or of standard input for `-`/undefined): what
 * `parseChanges(readFileLines(path))` gives, errors included, read by position where it can. The
 * file is opened when the first change is asked for, and closed at the end.
 */
export function readFileChanges(path: string | undefined, maxLineChars = MAX_LINE_CHARS): Generator<Change> {
  return changesOf(...source(path), maxLineChars);
}

/**
 * {@link readFileChanges} as a plain iterator rather than a generator, for a consumer that takes
 * every change in one pass (`ddcp apply`): resuming a generator and a new result object per change
 * cost ~10 ms per 300,000 changes in a warm process, more in the one cold pass a command makes.
 * Closed (the file too) by `return()`, as a generator is when a loop over it stops early.
 */
export function fileChanges(path: string | undefined, maxLineChars = MAX_LINE_CHARS): IterableIterator<Change> {
  return new ChangeStream(...source(path), maxLineChars);
}

/** How to open `path` (standard input for `-`/undefined), and whether to close it at the end. */
function source(path: string | undefined): [open: () => number, close: boolean] {
  if (path === undefined || path === '-') return [() => 0, false];
  return [() => openSync(path, 'r'), true];
}

/** The generator the library hands out (its type is part of the API): the stream below, delegated to. */
function* changesOf(open: () => number, close: boolean, maxLineChars: number): Generator<Change> {
  yield* new ChangeStream(open, close, maxLineChars);
}

/**
 * The changes of a file descriptor, a chunk's worth read at a time: the iterator protocol by hand,
 * one result object reused for every change.
 */
class ChangeStream implements IterableIterator<Change> {
  private readonly open: () => number;
  private readonly close: boolean;
  private readonly reader: ChangeLineReader;
  private fd = -1;
  private buf: Uint8Array | undefined;
  private batch: Change[] = [];
  private at = 0;
  /** The input's end was read (or the stream was closed): nothing more to read. */
  private ended = false;
  private readonly result: { done: boolean; value: Change | undefined } = { done: false, value: undefined };

  constructor(open: () => number, close: boolean, maxLineChars: number) {
    this.open = open;
    this.close = close;
    this.reader = new ChangeLineReader(maxLineChars);
  }

  [Symbol.iterator](): this {
    return this;
  }

  next(): IteratorResult<Change> {
    const result = this.result;
    while (this.at >= this.batch.length) {
      if (this.ended) return this.finish();
      this.fill();
    }
    result.value = this.batch[this.at++]!;
    return result as IteratorResult<Change>;
  }

  return(): IteratorResult<Change> {
    this.ended = true;
    return this.finish();
  }

  /** Reads the next chunk's changes into {@link batch}; throws the reader's error once those before it are out. */
  private fill(): void {
    const reader = this.reader;
    if (reader.error !== undefined) {
      this.ended = true;
      this.finish();
      throw reader.error;
    }
    let n: number;
    try {
      if (this.buf === undefined) {
        this.fd = this.open();
        this.buf = new Uint8Array(CHUNK);
      }
      n = readChunk(this.fd, this.buf);
    } catch (err) {
      this.ended = true;
      this.finish();
      throw err;
    }
    this.batch = n === 0 ? reader.end() : reader.push(this.buf.subarray(0, n));
    this.at = 0;
    if (n === 0 && reader.error === undefined) this.ended = true;
  }

  /** Done: the file closed (once), the result object says so. */
  private finish(): IteratorResult<Change> {
    if (this.close && this.fd >= 0) {
      const fd = this.fd;
      this.fd = -1;
      closeSync(fd);
    }
    this.batch = [];
    this.at = 0;
    const result = this.result;
    result.done = true;
    result.value = undefined;
    return result as IteratorResult<Change>;
  }
}
