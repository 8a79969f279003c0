/** Unsigned LEB128 varints for counts and versions (safe integers, up to 2^53 - 1). */
import { CodecError } from './errors.ts';
import type { ByteWriter } from './bytes.ts';

export function writeVarint(w: ByteWriter, n: number): void {
  w.ensure(8);
  while (n >= 0x80) {
    w.buf[w.pos++] = (n % 0x80) | 0x80;
    n = Math.floor(n / 0x80);
  }
  w.buf[w.pos++] = n;
}

/** Reads a varint at `pos`; returns the value and the next position. */
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
