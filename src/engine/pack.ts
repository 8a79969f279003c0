/**
 * cr-sqlite's column codec (`crsql_pack_columns`), byte for byte: primary keys travel packed, and the
 * CLI packs values the same way. Layout: one byte with the column count, then per column a tag byte
 * `(len << 3) | type` (type 1 INTEGER, 2 REAL, 3 TEXT, 4 BLOB, 5 NULL) followed by:
 * - INTEGER: `len` big-endian bytes of the value as unsigned 64-bit (0 → no bytes; negatives take 8);
 * - REAL: 8 bytes, IEEE-754 big-endian;
 * - TEXT/BLOB: the byte length in `len` big-endian bytes, then the bytes (UTF-8 for TEXT).
 *
 * TEXT that is not valid UTF-8 (SQLite and cr-sqlite keep it as written) is carried exactly: it reads
 * as a string with its invalid bytes escaped, which writes back as the same bytes (text-bytes.ts).
 */
import { PackError } from '../base/errors.ts';
import { ByteWriter } from '../base/bytes.ts';
import type { SqlValue } from './sqlite.ts';
import { textBytes, textOf } from './text-bytes.ts';

const T_INTEGER = 1;
const T_REAL = 2;
const T_TEXT = 3;
const T_BLOB = 4;
const T_NULL = 5;

const decoder = new TextDecoder('utf-8', { fatal: true });

/** Bytes needed for an unsigned 64-bit value (0 for 0). */
function uintLength(u: bigint): number {
  let n = 0;
  while (u > 0n) {
    n++;
    u >>= 8n;
  }
  return n;
}

function smallLength(n: number): number {
  return n === 0 ? 0 : n < 0x100 ? 1 : n < 0x10000 ? 2 : n < 0x1000000 ? 3 : 4;
}

// Values are written and read once per change synced: no DataView, TextEncoder result or
// {value, pos} object per value (their garbage is most of what a large sync collects).
const f64 = new Float64Array(1);
const f64Bytes = new Uint8Array(f64.buffer);
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Writes `v` as 8 big-endian IEEE-754 bytes at `pos` (room must be there). */
function writeFloat64(buf: Uint8Array, pos: number, v: number): void {
  f64[0] = v;
  if (LITTLE_ENDIAN) for (let i = 0; i < 8; i++) buf[pos + i] = f64Bytes[7 - i]!;
  else for (let i = 0; i < 8; i++) buf[pos + i] = f64Bytes[i]!;
}

function readFloat64(buf: Uint8Array, pos: number): number {
  if (LITTLE_ENDIAN) for (let i = 0; i < 8; i++) f64Bytes[7 - i] = buf[pos + i]!;
  else for (let i = 0; i < 8; i++) f64Bytes[i] = buf[pos + i]!;
  return f64[0]!;
}

/** Strings up to this length are tried as ASCII first (written byte by byte, no encoder call). */
const ASCII_FAST_PATH = 64;

/** Writes a short string as TEXT if it is all ASCII (then its UTF-8 is its char codes); false (nothing written) if not. */
function writeAscii(w: ByteWriter, v: string): boolean {
  const n = v.length;
  const len = smallLength(n);
  w.ensure(1 + len + n);
  const buf = w.buf;
  const start = w.pos + 1 + len;
  for (let i = 0; i < n; i++) {
    const code = v.charCodeAt(i);
    if (code > 0x7f) return false;
    buf[start + i] = code;
  }
  buf[w.pos++] = (len << 3) | T_TEXT;
  w.uint(n, len);
  w.pos += n;
  return true;
}

/** Writes one tagged value (the per-column layout above). */
export function writeValue(w: ByteWriter, v: SqlValue): void {
  switch (typeof v) {
    case 'bigint': {
      // Small non-negative integers are by far the commonest keys and values: no bigint arithmetic
      // (each result would be a new bigint) for them.
      if (v >= 0n && v < 0x100000000n) {
        const n = Number(v);
        const len = smallLength(n);
        w.byte((len << 3) | T_INTEGER);
        w.uint(n, len);
        return;
      }
      if (v < -0x8000000000000000n || v > 0x7fffffffffffffffn) throw new PackError(`integer out of 64-bit range: ${v}`);
      const u = BigInt.asUintN(64, v);
      const len = uintLength(u);
      w.byte((len << 3) | T_INTEGER);
      w.ensure(len);
      let x = u;
      for (let i = len - 1; i >= 0; i--) {
        w.buf[w.pos + i] = Number(x & 0xffn);
        x >>= 8n;
      }
      w.pos += len;
      return;
    }
    case 'number': {
      w.ensure(9);
      w.buf[w.pos++] = T_REAL;
      writeFloat64(w.buf, w.pos, v);
      w.pos += 8;
      return;
    }
    case 'string': {
      if (v.length <= ASCII_FAST_PATH && writeAscii(w, v)) return;
      // (textBytes: text with escaped invalid bytes, text-bytes.ts, is written as those bytes)
      const b = textBytes(v);
      const len = smallLength(b.length);
      w.byte((len << 3) | T_TEXT);
      w.uint(b.length, len);
      w.bytes(b);
      return;
    }
    default: {
      if (v === null) {
        w.byte(T_NULL);
        return;
      }
      if (!(v instanceof Uint8Array)) throw new PackError(`cannot pack a value of type ${typeof v}`);
      const len = smallLength(v.length);
      w.byte((len << 3) | T_BLOB);
      w.uint(v.length, len);
      w.bytes(v);
    }
  }
}

/** Packs values as `crsql_pack_columns(v1, v2, …)` does. INTEGER values must be `bigint`. */
export function packColumns(values: readonly SqlValue[]): Uint8Array {
  if (values.length > 255) throw new PackError(`cannot pack ${values.length} columns (at most 255)`);
  const w = new ByteWriter();
  w.byte(values.length);
  for (const v of values) writeValue(w, v);
  return w.result();
}

/** The packing buffer of {@link packKey}, reused. */
const keyWriter = new ByteWriter();
/** Keys are cut from shared slabs (as Node's Buffer pool does): one ArrayBuffer per slab, not per key. */
const SLAB_BYTES = 8 * 1024;
let slab = new ArrayBuffer(SLAB_BYTES);
let slabUsed = 0;

/**
 * {@link packColumns} of the first `count` values, for the primary key of every change read: the same bytes, as a view into a
 * shared slab rather than an ArrayBuffer of its own (allocating one per change was a large share of
 * what reading changes cost). Use `byteOffset`/`byteLength` with its `buffer`, as with any view.
 */
export function packKey(values: readonly SqlValue[], count = values.length): Uint8Array {
  const w = keyWriter;
  w.pos = 0;
  writeKey(w, values, count);
  const n = w.pos;
  if (n > SLAB_BYTES / 8) {
    const own = w.buf.slice(0, n);
    if (w.buf.length > SLAB_BYTES) w.buf = new Uint8Array(64);
    return own;
  }
  if (slabUsed + n > SLAB_BYTES) {
    slab = new ArrayBuffer(SLAB_BYTES);
    slabUsed = 0;
  }
  const out = new Uint8Array(slab, slabUsed, n);
  for (let i = 0; i < n; i++) out[i] = w.buf[i]!;
  // Keep views 8-byte aligned, as allocators do.
  slabUsed += (n + 7) & ~7;
  return out;
}

/** Appends {@link packColumns} of the first `count` values to `w` (the bytes of {@link packKey}, without its copy). */
export function writeKey(w: ByteWriter, values: readonly SqlValue[], count: number): void {
  if (count > 255) throw new PackError(`cannot pack ${count} columns (at most 255)`);
  w.byte(count);
  for (let i = 0; i < count; i++) writeValue(w, values[i]!);
}

/** Packs one value (the CLI's `val` encoding). */
export function packValue(value: SqlValue): Uint8Array {
  return packColumns([value]);
}

/** A read position that {@link readValueAt} advances (one object for a whole decode, not one per value). */
export interface ReadCursor {
  pos: number;
}

/**
 * Reads one tagged value at `pos` (the per-column layout above). Throws {@link PackError} on a
 * truncated or malformed value. Returns the value and the position after it.
 */
export function readValue(buf: Uint8Array, pos: number): { value: SqlValue; pos: number } {
  const at: ReadCursor = { pos };
  const value = readValueAt(buf, at);
  return { value, pos: at.pos };
}

function truncated(what: string): never {
  throw new PackError(`packed value is truncated in ${what}`);
}

/** {@link readValue} at `at.pos`, moving `at.pos` past the value (no closure or object per value: it runs once per value synced). */
export function readValueAt(buf: Uint8Array, at: ReadCursor): SqlValue {
  let pos = at.pos;
  if (pos + 1 > buf.length) truncated('a type tag');
  const tag = buf[pos++]!;
  const type = tag & 0x07;
  const len = tag >> 3;
  switch (type) {
    case T_INTEGER: {
      if (len > 8) throw new PackError(`packed integer has ${len} bytes (at most 8)`);
      if (pos + len > buf.length) truncated('an integer');
      let value: bigint;
      if (len <= 6) {
        let n = 0;
        for (let j = 0; j < len; j++) n = n * 256 + buf[pos + j]!;
        value = BigInt(n);
      } else {
        let u = 0n;
        for (let j = 0; j < len; j++) u = (u << 8n) | BigInt(buf[pos + j]!);
        value = len === 8 ? BigInt.asIntN(64, u) : u;
      }
      at.pos = pos + len;
      return value;
    }
    case T_REAL: {
      if (len !== 0) throw new PackError(`packed real has a malformed tag 0x${tag.toString(16)}`);
      if (pos + 8 > buf.length) truncated('a real');
      at.pos = pos + 8;
      const value = readFloat64(buf, pos);
      // SQLite has no NaN (it stores NULL): a NaN can only be forged, and would not round-trip.
      if (Number.isNaN(value)) throw new PackError('packed real is NaN (SQLite has no NaN)');
      return value;
    }
    case T_TEXT:
    case T_BLOB: {
      const kind = type === T_TEXT ? 'text' : 'blob';
      if (len > 4) throw new PackError(`packed ${kind} length takes ${len} bytes (at most 4)`);
      if (pos + len > buf.length) truncated(`a ${kind} length`);
      let n = 0;
      for (let j = 0; j < len; j++) n = n * 256 + buf[pos + j]!;
      pos += len;
      if (pos + n > buf.length) truncated(kind);
      const bytes = buf.subarray(pos, pos + n);
      at.pos = pos + n;
      if (type === T_BLOB) return bytes.slice();
      try {
        return decoder.decode(bytes);
      } catch {
        // Invalid UTF-8 is TEXT all the same (SQLite and cr-sqlite keep such bytes): carried exactly.
        return textOf(bytes);
      }
    }
    case T_NULL:
      if (len !== 0) throw new PackError(`packed null has a malformed tag 0x${tag.toString(16)}`);
      at.pos = pos;
      return null;
    default:
      throw new PackError(`unknown type tag 0x${tag.toString(16)} in packed value`);
  }
}

/**
 * Checks one tagged value at `at.pos` exactly as {@link readValueAt} reads it (same checks, same
 * errors) and moves past it, making nothing: a received batch is checked whole before its changes
 * are decoded (or stored undecoded), so its text is not made into strings twice.
 */
export function skipValueAt(buf: Uint8Array, at: ReadCursor): void {
  const pos = at.pos;
  if (pos + 1 > buf.length) truncated('a type tag');
  const tag = buf[pos]!;
  const type = tag & 0x07;
  if (type !== T_TEXT) {
    readValueAt(buf, at); // numbers, NULL: nothing to save; a blob's copy is small beside its checks
    return;
  }
  const len = tag >> 3;
  let p = pos + 1;
  if (len > 4) throw new PackError(`packed text length takes ${len} bytes (at most 4)`);
  if (p + len > buf.length) truncated('a text length');
  let n = 0;
  for (let j = 0; j < len; j++) n = n * 256 + buf[p + j]!;
  p += len;
  if (p + n > buf.length) truncated('text');
  at.pos = p + n;
  // Any bytes are TEXT (invalid UTF-8 is carried exactly, text-bytes.ts): nothing to check in them.
}

/**
 * Unpacks a `crsql_pack_columns` record. Throws {@link PackError} on anything malformed: truncation,
 * an unknown tag, a length beyond the end, or bytes after the last column.
 */
export function unpackColumns(buf: Uint8Array): SqlValue[] {
  if (buf.length === 0) throw new PackError('packed record is empty');
  const count = buf[0]!;
  // One small integer, the commonest key (a rowid): what the loop below reads, without its cursor
  // and handler (a merge unpacks the key of every row it receives).
  if (count === 1 && buf.length >= 2) {
    const tag = buf[1]!;
    const len = tag >> 3;
    if ((tag & 0x07) === T_INTEGER && len <= 6 && buf.length === 2 + len) {
      let n = 0;
      for (let j = 2; j < 2 + len; j++) n = n * 256 + buf[j]!;
      return [BigInt(n)];
    }
  }
  const out: SqlValue[] = new Array(count);
  const at: ReadCursor = { pos: 1 };
  for (let i = 0; i < count; i++) {
    try {
      out[i] = readValueAt(buf, at);
    } catch (err) {
      throw new PackError(`${(err as Error).message} (column ${i + 1} of ${count})`, { cause: err });
    }
  }
  if (at.pos !== buf.length) throw new PackError(`packed record has ${buf.length - at.pos} trailing bytes`);
  return out;
}

/** Unpacks a record that must hold exactly one value. */
export function unpackValue(buf: Uint8Array): SqlValue {
  const values = unpackColumns(buf);
  if (values.length !== 1) throw new PackError(`packed value holds ${values.length} columns, expected 1`);
  return values[0]!;
}
