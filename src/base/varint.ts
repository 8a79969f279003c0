/**
 * Unsigned LEB128 varints. {@link readVarint} is for counts, lengths and indexes (exact numbers, up to
 * 2^53 − 1); {@link readVarint64} for clocks and versions (up to 2^63 − 1, see int64.ts).
 */
import { CodecError } from './errors.ts';
import type { ByteWriter } from './bytes.ts';
import { INT64_MAX, type Int64 } from './int64.ts';

export function writeVarint(w: ByteWriter, n: Int64): void {
  if (typeof n === 'bigint') {
    if (n < 0n || n > INT64_MAX) throw new CodecError(`varint ${n} out of range`);
    w.ensure(10);
    while (n >= 0x80n) {
      w.buf[w.pos++] = Number(n & 0x7fn) | 0x80;
      n >>= 7n;
    }
    w.buf[w.pos++] = Number(n);
    return;
  }
  w.ensure(8);
  while (n >= 0x80) {
    w.buf[w.pos++] = (n % 0x80) | 0x80;
    n = Math.floor(n / 0x80);
  }
  w.buf[w.pos++] = n;
}

/** Reads a varint at `pos` that must be an exact number; returns the value and the next position. */
export function readVarint(buf: Uint8Array, pos: number): { value: number; pos: number } {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 8; i++) {
    if (pos >= buf.length) throw new CodecError('truncated varint');
    const b = buf[pos++]!;
    value += (b & 0x7f) * scale;
    if (b < 0x80) {
      if (!Number.isSafeInteger(value)) throw new CodecError('varint out of range');
      return { value, pos };
    }
    scale *= 0x80;
  }
  throw new CodecError('varint too long');
}

/** Reads a varint of up to 2^63 − 1 (a number while exact, else a bigint). */
export function readVarint64(buf: Uint8Array, pos: number): { value: Int64; pos: number } {
  // Seven bytes (49 bits) always fit a number: the rare longer ones finish in bigint.
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 7; i++) {
    if (pos >= buf.length) throw new CodecError('truncated varint');
    const b = buf[pos++]!;
    value += (b & 0x7f) * scale;
    if (b < 0x80) return { value, pos };
    scale *= 0x80;
  }
  let big = BigInt(value);
  for (let shift = 49n; shift < 70n; shift += 7n) {
    if (pos >= buf.length) throw new CodecError('truncated varint');
    const b = buf[pos++]!;
    big |= BigInt(b & 0x7f) << shift;
    if (b < 0x80) {
      if (big > INT64_MAX) throw new CodecError('varint out of the 64-bit range');
      const n = Number(big);
      return { value: Number.isSafeInteger(n) ? n : big, pos };
    }
  }
  throw new CodecError('varint too long');
}
