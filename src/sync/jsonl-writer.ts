/**
 * The fast writer of JSON lines (sync/jsonl.ts): the bytes of `formatChange(c) + '\n'` for each change,
 * built straight into a byte buffer. `ddcp changes` prints hundreds of thousands of lines, and making
 * a string per line (hex strings, a packed value, a template) cost about twice what reading the changes
 * did. Here nothing is allocated per change: the fixed parts of a line are bytes made once per table,
 * column and site, hex is written by table lookup, integers digit by digit, the value packed into a
 * reused buffer. A property test holds the output to {@link formatChange}'s, byte for byte.
 */
import type { Change, ChangeRowSink, SqlValue } from '../engine/index.ts';
import { writeKey, writeValue } from '../engine/index.ts';
import { ByteWriter } from '../base/bytes.ts';
import { keepHiddenClasses } from '../base/hidden-classes.ts';
import type { Int64 } from '../base/int64.ts';

const DIGITS = '0123456789abcdef';
/** The two ASCII hex digits of each byte value. */
const HEX_HI = new Uint8Array(256);
const HEX_LO = new Uint8Array(256);
for (let b = 0; b < 256; b++) {
  HEX_HI[b] = DIGITS.charCodeAt(b >> 4);
  HEX_LO[b] = DIGITS.charCodeAt(b & 15);
}

/** crsql_pack_columns' type tags (engine/pack.ts). */
const T_INTEGER = 1;
const T_REAL = 2;
const T_TEXT = 3;
const T_NULL = 5;
const F64 = new Float64Array(1);
const F64_BYTES = new Uint8Array(F64.buffer);
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

const encoder = new TextEncoder();
const utf8 = (text: string): Uint8Array => encoder.encode(text);

const COL_VERSION = utf8('","col_version":');
const DB_VERSION = utf8(',"db_version":');
const SITE_ID = utf8(',"site_id":"');
const CL = utf8('","cl":');
const SEQ = utf8(',"seq":');
/** The labels from the value's closing quote to `"seq":` (the integers' digits and the site's hex are added). */
const TAIL_BYTES = COL_VERSION.length + DB_VERSION.length + SITE_ID.length + CL.length + SEQ.length;

/** At most this many distinct table and column names are kept as bytes (a database has few). */
const NAME_CACHE = 4096;

/**
 * Collects changes as JSON lines in a buffer; {@link take} hands the bytes over (to a file or pipe)
 * and starts a fresh buffer, so a taken chunk is never written to again.
 */
export class ChangeLineWriter implements ChangeRowSink {
  private buf: Uint8Array;
  private pos = 0;
  /** `{"table":"<table>","pk":"` per table. */
  private readonly tables = new Map<string, Uint8Array>();
  /** `","cid":"<cid>","val":"` per column. */
  private readonly cids = new Map<string, Uint8Array>();
  /** The last site id seen (a copy) and its 32 hex digits: changes come in runs from few sites. */
  private site: Uint8Array = new Uint8Array(0);
  /**
   * The array last given as {@link row}'s site id, whose bytes are {@link site}'s: a read gives the
   * same array for each row of a site (only {@link row}'s callers promise it: add()'s may change theirs).
   */
  private siteSeen: Uint8Array | undefined;
  private siteHex: Uint8Array = new Uint8Array(0);
  /**
   * The bytes from the value's closing quote to `"seq":` for the last (col_version, db_version, site,
   * cl): a transaction's changes share them, so a line formats one integer (its seq), not four.
   */
  private tail: Uint8Array = new Uint8Array(0);
  private tailColVersion: Int64 = 0;
  private tailDbVersion: Int64 = 0;
  private tailCl: Int64 = 0;
  /** `{"table":"<table>","pk":"<hex>` of the current row group (its first `headLength` bytes). */
  private head = new Uint8Array(256);
  private headLength = 0;
  /** Where the current chunk holds {@link head} already (the start of the row's last line), -1 if it does not. */
  private headAt = -1;
  /** The row group of the last line (see {@link add}), -1 for none. */
  private group = -1;
  /** The packed value of the line being written. */
  private readonly packed = new ByteWriter();
  /** The packed key of the last {@link row}. */
  private readonly key = new ByteWriter();
  /** The table of {@link head}, and its `{"table":"<table>","pk":"`. */
  private headTable = '';
  private tableBytes: Uint8Array = new Uint8Array(0);
  /** Per table's columns (a read's array), the `cid` bytes of each column index, as the lines need them. */
  private readonly columnCids = new WeakMap<readonly string[], (Uint8Array | undefined)[]>();
  private rowColumns: readonly string[] | undefined;
  private rowCids: (Uint8Array | undefined)[] = [];

  private readonly chunkBytes: number;
  /** Buffers given back by {@link recycle}, to build the next chunks in. */
  private readonly spare: Uint8Array[] = [];

  /** `chunkBytes`: the size a chunk is meant to reach before it is taken (lines never straddle chunks). */
  constructor(chunkBytes = 1 << 20) {
    this.chunkBytes = chunkBytes;
    this.buf = new Uint8Array(chunkBytes + 4096);
  }

  /** Bytes gathered since the last {@link take}. */
  get size(): number {
    return this.pos;
  }

  /** Whether the gathered bytes reached the chunk size. */
  get full(): boolean {
    return this.pos >= this.chunkBytes;
  }

  /** The gathered bytes (a view), leaving the writer empty with a buffer of its own. */
  take(): Uint8Array {
    const out = this.buf.subarray(0, this.pos);
    this.buf = this.spare.pop() ?? new Uint8Array(this.chunkBytes + 4096);
    this.pos = 0;
    this.headAt = -1;
    return out;
  }

  /**
   * Gives back a chunk from {@link take} once its bytes are written out, for a later chunk to be built
   * in: a fresh 1 MiB buffer per chunk (zeroed, its pages faulted in on first write) cost ~1 ms each,
   * as much as building half its lines. The caller must not touch `chunk` after.
   */
  recycle(chunk: Uint8Array): void {
    const buf = chunk.buffer;
    if (this.spare.length < 2 && buf instanceof ArrayBuffer && chunk.byteOffset === 0 && buf.byteLength === this.chunkBytes + 4096) this.spare.push(new Uint8Array(buf));
  }

  /**
   * Appends the line of `c` and its newline: exactly `formatChange(c) + '\n'` in UTF-8. `group` (≥ 0)
   * says `c` has the table, `pk` array, col_version, db_version, site id and cl of the previous change
   * added with the same group (the cells of one row clock: Engine.eachChange), so the line's start
   * and its clock part are those of the previous line, not made again; -1: no such promise.
   */
  add(c: Readonly<Change>, group = -1): void {
    if (group < 0 || group !== this.group) {
      this.siteSeen = undefined;
      this.startRow(c.table, c.pk, c.pk.length);
      this.tail = this.tailOf(c.colVersion, c.dbVersion, c.siteId, c.cl);
      this.group = group;
    }
    this.line(this.name(this.cids, c.cid, '","cid":', ',"val":"'), c.val, c.seq);
  }

  /**
   * {@link ChangeRowSink.row}: the lines of the next {@link cell}s start with this table and key and
   * carry this clock and site (Engine.writeChanges: `ddcp changes` writes so, with no change objects).
   */
  row(table: string, columns: readonly string[], key: readonly SqlValue[], keyColumns: number, colVersion: Int64, dbVersion: Int64, siteId: Uint8Array, cl: Int64): void {
    if (!this.startKey(table, key, keyColumns)) {
      const k = this.key;
      k.pos = 0;
      writeKey(k, key, keyColumns);
      this.startRow(table, k.buf, k.pos);
    }
    this.tail = this.tailOf(colVersion, dbVersion, siteId, cl);
    if (columns !== this.rowColumns) {
      this.rowColumns = columns;
      let cids = this.columnCids.get(columns);
      if (cids === undefined) this.columnCids.set(columns, (cids = []));
      this.rowCids = cids;
    }
    // A later add() with a group ≥ 0 starts its own row.
    this.group = -1;
  }

  /** {@link ChangeRowSink.cell}: the line of a change of the last {@link row}: `formatChange` of it, and a newline. */
  cell(cid: string, column: number, val: SqlValue, seq: Int64): void {
    let bytes = column >= 0 ? this.rowCids[column] : undefined;
    if (bytes === undefined) {
      bytes = this.name(this.cids, cid, '","cid":', ',"val":"');
      if (column >= 0) this.rowCids[column] = bytes;
    }
    this.line(bytes, val, seq);
  }

  /** Appends a line: the current row's start, `cid` (its bytes up to the value's quote), the value, the row's clock part, `seq`. */
  private line(cid: Uint8Array, val: SqlValue, seq: Int64): void {
    const tail = this.tail;
    const headLength = this.headLength;
    // The value's hex is at most 2 × (9 + its length) digits for the common types written here.
    const room = headLength + cid.length + tail.length + width(seq) + 2;
    this.ensure(room + (typeof val === 'string' ? 2 * val.length + 24 : 24));
    let buf = this.buf;
    let p = this.pos;
    // The row's start: copied from the previous line's in this chunk (a native move), else made.
    if (this.headAt >= 0) buf.copyWithin(p, this.headAt, this.headAt + headLength);
    else {
      copy(buf, p, this.head, headLength);
      this.headAt = p;
    }
    p += headLength;
    buf.set(cid, p);
    p += cid.length;
    let q = hexValue(buf, p, val);
    if (q < 0) {
      // Another type or a longer or non-ASCII text: packed first, then as hex.
      const packed = this.packed;
      packed.buf[0] = 1; // one column (its buffer always has room for this byte)
      packed.pos = 1;
      writeValue(packed, val);
      // The line so far (up to p) is kept if the buffer grows.
      this.grow(p, room - headLength - cid.length + 2 * packed.pos);
      buf = this.buf;
      q = hex(buf, p, packed.buf, packed.pos);
    }
    p = q;
    buf.set(tail, p); // ~100 bytes: here set() beats the byte loop (in-process: warm passes ~70 → ~45 ms for 300,000 lines)
    p = integer(buf, p + tail.length, seq);
    buf[p++] = 0x7d; // }
    buf[p++] = 0x0a; // \n
    this.pos = p;
  }

  /** Makes {@link head}: `{"table":"<table>","pk":"<hex>` of the first `n` bytes of the packed key `pk`. */
  private startRow(table: string, pk: Uint8Array, n: number): void {
    const at = this.startTable(table, 2 * n);
    this.headLength = hex(this.head, at, pk, n);
    this.headAt = -1;
  }

  /**
   * Makes {@link head} for the key of the first `count` values of `key` straight (no packed key first)
   * when each is a value {@link hexPacked} writes; false (and nothing made) if one is not.
   */
  private startKey(table: string, key: readonly SqlValue[], count: number): boolean {
    if (count > 255) return false;
    let room = 2;
    for (let i = 0; i < count; i++) {
      const v = key[i];
      room += typeof v === 'string' ? 2 * v.length + 20 : 20;
    }
    const at = this.startTable(table, room); // may make a larger head
    const head = this.head;
    let p = hexByte(head, at, count);
    for (let i = 0; i < count; i++) {
      p = hexPacked(head, p, key[i]!);
      if (p < 0) return false;
    }
    this.headLength = p;
    this.headAt = -1;
    return true;
  }

  /** Puts `{"table":"<table>","pk":"` at the start of {@link head} with `room` bytes after it; returns where they start. */
  private startTable(table: string, room: number): number {
    const start = table === this.headTable ? this.tableBytes : this.name(this.tables, table, '{"table":', ',"pk":"');
    const size = start.length + room;
    if (this.head.length < size) {
      this.head = new Uint8Array(2 * size);
      this.headTable = '';
    }
    // The head keeps the table's start from row to row.
    if (table !== this.headTable) {
      copy(this.head, 0, start, start.length);
      this.tableBytes = start;
      this.headTable = table;
    }
    return start.length;
  }

  /** `","col_version":…,"db_version":…,"site_id":"…","cl":…,"seq":` of a clock, made again only when one of its parts changes. */
  private tailOf(colVersion: Int64, dbVersion: Int64, site: Uint8Array, cl: Int64): Uint8Array {
    if (this.tail.length > 0 && colVersion === this.tailColVersion && dbVersion === this.tailDbVersion && cl === this.tailCl && (site === this.siteSeen || sameBytes(site, this.site))) {
      this.siteSeen = site;
      return this.tail;
    }
    const digits = this.siteDigits(site);
    const bytes = new Uint8Array(TAIL_BYTES + width(colVersion) + width(dbVersion) + digits.length + width(cl));
    let p = integer(bytes, copy(bytes, 0, COL_VERSION, COL_VERSION.length), colVersion);
    p = integer(bytes, copy(bytes, p, DB_VERSION, DB_VERSION.length), dbVersion);
    p = copy(bytes, copy(bytes, p, SITE_ID, SITE_ID.length), digits, digits.length);
    p = copy(bytes, integer(bytes, copy(bytes, p, CL, CL.length), cl), SEQ, SEQ.length);
    this.tail = bytes.subarray(0, p);
    this.siteSeen = site;
    this.tailColVersion = colVersion;
    this.tailDbVersion = dbVersion;
    this.tailCl = cl;
    return this.tail;
  }

  private ensure(n: number): void {
    this.grow(this.pos, n);
  }

  /** Makes room for `n` bytes after the first `keep`, which a larger buffer keeps. */
  private grow(keep: number, n: number): void {
    if (keep + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(2 * this.buf.length, keep + n));
    next.set(this.buf.subarray(0, keep));
    this.buf = next;
  }

  /** `before` + the name as JSON (`JSON.stringify`, as formatChange writes it) + `after`, as UTF-8, cached. */
  private name(cache: Map<string, Uint8Array>, name: string, before: string, after: string): Uint8Array {
    let bytes = cache.get(name);
    if (bytes === undefined) {
      bytes = utf8(before + JSON.stringify(name) + after);
      if (cache.size < NAME_CACHE) cache.set(name, bytes);
    }
    return bytes;
  }

  private siteDigits(id: Uint8Array): Uint8Array {
    if (!sameBytes(this.site, id)) {
      this.site = id.slice();
      this.siteHex = new Uint8Array(2 * id.length);
      hex(this.siteHex, 0, id, id.length);
    }
    return this.siteHex;
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Writes one packed value (its tag and bytes, as crsql_pack_columns packs each column) as lowercase
 * hex at `p` for the common values — NULL, a REAL, an INTEGER in [0, 2^32), an ASCII text of up to 64
 * characters — straight, without packing it first; returns the position after, or -1 for any other
 * value (then what it wrote is to be overwritten). The caller has room for 2 × (9 + the text's length) bytes.
 */
function hexPacked(buf: Uint8Array, p: number, v: SqlValue): number {
  switch (typeof v) {
    case 'bigint': {
      const n = Number(v);
      if (!(n >= 0 && n < 0x100000000)) return -1;
      const len = n === 0 ? 0 : n < 0x100 ? 1 : n < 0x10000 ? 2 : n < 0x1000000 ? 3 : 4;
      p = hexByte(buf, p, (len << 3) | T_INTEGER);
      // n < 2^32, so >>> shifts it exactly (a division and a power per byte cost more on the one, cold pass).
      for (let s = 8 * (len - 1); s >= 0; s -= 8) p = hexByte(buf, p, (n >>> s) & 0xff);
      return p;
    }
    case 'number': {
      p = hexByte(buf, p, T_REAL);
      F64[0] = v;
      if (LITTLE_ENDIAN) for (let i = 7; i >= 0; i--) p = hexByte(buf, p, F64_BYTES[i]!);
      else for (let i = 0; i < 8; i++) p = hexByte(buf, p, F64_BYTES[i]!);
      return p;
    }
    case 'string': {
      const n = v.length;
      if (n > 64) return -1;
      p = hexByte(buf, p, n === 0 ? T_TEXT : (1 << 3) | T_TEXT);
      if (n > 0) p = hexByte(buf, p, n);
      for (let i = 0; i < n; i++) {
        const c = v.charCodeAt(i);
        if (c > 0x7f) return -1;
        buf[p++] = HEX_HI[c]!;
        buf[p++] = HEX_LO[c]!;
      }
      return p;
    }
    default:
      return v === null ? hexByte(buf, p, T_NULL) : -1;
  }
}

/** A value's `val` as lowercase hex — `crsql_pack_columns(v)`: one column, then {@link hexPacked} — or -1 as there. */
function hexValue(buf: Uint8Array, p: number, v: SqlValue): number {
  buf[p] = 0x30; // "01": one column
  buf[p + 1] = 0x31;
  return hexPacked(buf, p + 2, v);
}

/** Writes byte `b` as two lowercase hex digits at `p`; returns the position after. */
function hexByte(buf: Uint8Array, p: number, b: number): number {
  buf[p] = HEX_HI[b]!;
  buf[p + 1] = HEX_LO[b]!;
  return p + 2;
}

/** Copies the first `n` bytes of `src` to `p`; returns the position after (a loop: a typed array's set() costs more for these few bytes). */
function copy(buf: Uint8Array, p: number, src: Uint8Array, n: number): number {
  for (let i = 0; i < n; i++) buf[p + i] = src[i]!;
  return p + n;
}

/** Writes the first `n` bytes of `src` as lowercase hex at `p`; returns the position after. */
function hex(buf: Uint8Array, p: number, src: Uint8Array, n: number): number {
  for (let i = 0; i < n; i++) {
    const b = src[i]!;
    buf[p++] = HEX_HI[b]!;
    buf[p++] = HEX_LO[b]!;
  }
  return p;
}

/** At least the length of `${v}`: 20 for any 64-bit integer (a sign and 19 digits). */
function width(v: Int64): number {
  return typeof v === 'number' && Number.isSafeInteger(v) ? 20 : `${v}`.length;
}

/** Writes `v` as the template literal `${v}` would (plain digits for the usual non-negative safe integer). */
function integer(buf: Uint8Array, p: number, v: Int64): number {
  if (typeof v === 'number' && v >= 0 && Number.isSafeInteger(v)) {
    if (v < 10) {
      buf[p] = 0x30 + v;
      return p + 1;
    }
    let digits = 2;
    for (let ten = 100; v >= ten; ten *= 10) digits++; // powers of ten are exact up to 1e22
    let x = v;
    for (let i = p + digits - 1; i >= p; i--) {
      const q = x < 0x80000000 ? (x / 10) | 0 : Math.floor(x / 10);
      buf[i] = 0x30 + (x - q * 10);
      x = q;
    }
    return p + digits;
  }
  const text = `${v}`;
  for (let i = 0; i < text.length; i++) buf[p + i] = text.charCodeAt(i);
  return p + text.length;
}

// One kept (with a 4 KiB buffer), so that a full collection between reads doesn't throw away the
// optimized code of the lines, and of the read calling them (base/hidden-classes.ts).
keepHiddenClasses(new ChangeLineWriter(0));
