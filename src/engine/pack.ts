/**
 * cr-sqlite's column codec (`crsql_pack_columns`), byte for byte: primary keys travel packed, and the
 * CLI packs values the same way. Layout: one byte with the column count, then per column a tag byte
 * `(len << 3) | type` (type 1 INTEGER, 2 REAL, 3 TEXT, 4 BLOB, 5 NULL) followed by:
 * - INTEGER: `len` big-endian bytes of the value as unsigned 64-bit (0 → no bytes; negatives take 8);
 * - REAL: 8 bytes, IEEE-754 big-endian;
 * - TEXT/BLOB: the byte length in `len` big-endian bytes, then the bytes (UTF-8 for TEXT).
 */
import { PackError } from '../base/errors.ts';
import { ByteWriter } from '../base/bytes.ts';
import type { SqlValue } from './sqlite.ts';

const T_INTEGER = 1;
const T_REAL = 2;
const T_TEXT = 3;
const T_BLOB = 4;
const T_NULL = 5;

const encoder = new TextEncoder();
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

/** Writes one tagged value (the per-column layout above). */
export function writeValue(w: ByteWriter, v: SqlValue): void {
  switch (typeof v) {
    case 'bigint': {
      if (v < -0x8000000000000000n || v > 0x7fffffffffffffffn) throw new PackError(`integer out of 64-bit range: ${v}`);
      const u = BigInt.asUintN(64, v);
      // Small non-negative integers are by far the commonest keys: no bigint loop for them.
      if (u < 0x100000000n) {
        const n = Number(u);
        const len = smallLength(n);
        w.byte((len << 3) | T_INTEGER);
        w.uint(n, len);
        return;
      }
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
      w.byte(T_REAL);
      w.ensure(8);
      new DataView(w.buf.buffer, w.buf.byteOffset).setFloat64(w.pos, v);
      w.pos += 8;
      return;
    }
    case 'string': {
      const b = encoder.encode(v);
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

/** Packs one value (the CLI's `val` encoding). */
export function packValue(value: SqlValue): Uint8Array {
  return packColumns([value]);
}

/**
 * Reads one tagged value at `pos` (the per-column layout above). Throws {@link PackError} on a
 * truncated or malformed value. Returns the value and the position after it.
 */
export function readValue(buf: Uint8Array, pos: number): { value: SqlValue; pos: number } {
  const need = (n: number, what: string): void => {
    if (pos + n > buf.length) throw new PackError(`packed value is truncated in ${what}`);
  };
  need(1, 'a type tag');
  const tag = buf[pos++]!;
  const type = tag & 0x07;
  const len = tag >> 3;
  switch (type) {
    case T_INTEGER: {
      if (len > 8) throw new PackError(`packed integer has ${len} bytes (at most 8)`);
      need(len, 'an integer');
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
      return { value, pos: pos + len };
    }
    case T_REAL: {
      if (len !== 0) throw new PackError(`packed real has a malformed tag 0x${tag.toString(16)}`);
      need(8, 'a real');
      const value = new DataView(buf.buffer, buf.byteOffset).getFloat64(pos);
      // SQLite has no NaN (it stores NULL): a NaN can only be forged, and would not round-trip.
      if (Number.isNaN(value)) throw new PackError('packed real is NaN (SQLite has no NaN)');
      return { value, pos: pos + 8 };
    }
    case T_TEXT:
    case T_BLOB: {
      const kind = type === T_TEXT ? 'text' : 'blob';
      if (len > 4) throw new PackError(`packed ${kind} length takes ${len} bytes (at most 4)`);
      need(len, `a ${kind} length`);
      let n = 0;
      for (let j = 0; j < len; j++) n = n * 256 + buf[pos + j]!;
      pos += len;
      need(n, kind);
      const bytes = buf.subarray(pos, pos + n);
      pos += n;
      if (type === T_BLOB) return { value: bytes.slice(), pos };
      try {
        return { value: decoder.decode(bytes), pos };
      } catch (cause) {
        throw new PackError('packed text is not valid UTF-8', { cause });
      }
    }
    case T_NULL:
      if (len !== 0) throw new PackError(`packed null has a malformed tag 0x${tag.toString(16)}`);
      return { value: null, pos };
    default:
      throw new PackError(`unknown type tag 0x${tag.toString(16)} in packed value`);
  }
}

/**
 * Unpacks a `crsql_pack_columns` record. Throws {@link PackError} on anything malformed: truncation,
 * an unknown tag, a length beyond the end, invalid UTF-8 in TEXT, or bytes after the last column.
 */
export function unpackColumns(buf: Uint8Array): SqlValue[] {
  if (buf.length === 0) throw new PackError('packed record is empty');
  const count = buf[0]!;
  const out: SqlValue[] = new Array(count);
  let pos = 1;
  for (let i = 0; i < count; i++) {
    let r;
    try {
      r = readValue(buf, pos);
    } catch (err) {
      throw new PackError(`${(err as Error).message} (column ${i + 1} of ${count})`, { cause: err });
    }
    out[i] = r.value;
    pos = r.pos;
  }
  if (pos !== buf.length) throw new PackError(`packed record has ${buf.length - pos} trailing bytes`);
  return out;
}

/** Unpacks a record that must hold exactly one value. */
export function unpackValue(buf: Uint8Array): SqlValue {
  const values = unpackColumns(buf);
  if (values.length !== 1) throw new PackError(`packed value holds ${values.length} columns, expected 1`);
  return values[0]!;
}
