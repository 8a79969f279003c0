/**
 * 64-bit integers (SQLite's and cr-sqlite's range) as JavaScript values: a `number` while it is exact
 * (|n| ≤ 2^53 − 1), a `bigint` only beyond. One representation per value, so `===`, `<` and `>`
 * work across both, and the common case stays a plain number on the hot paths.
 */
import { CodecError } from './errors.ts';

export type Int64 = number | bigint;

export const INT64_MAX = 0x7fffffffffffffffn;
export const INT64_MIN = -0x8000000000000000n;

/** The one representation of a 64-bit value: a number when exact, else the bigint. */
export function int64(v: bigint | number): Int64 {
  if (typeof v === 'number') return v;
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : v;
}

/** Whether `v` is an integer in the 64-bit range (either representation). */
export function isInt64(v: unknown): v is Int64 {
  return typeof v === 'number' ? Number.isSafeInteger(v) : typeof v === 'bigint' && v >= INT64_MIN && v <= INT64_MAX;
}

/** `a + n` exactly; throws {@link RangeError} past the 64-bit range (callers keep clear of it). */
export function addInt64(a: Int64, n: number): Int64 {
  if (typeof a === 'number') {
    const r = a + n;
    if (Number.isSafeInteger(r)) return r;
  }
  const r = BigInt(a) + BigInt(n);
  if (r > INT64_MAX || r < INT64_MIN) throw new RangeError(`${a} + ${n} is past the 64-bit integer range`);
  return int64(r);
}

export function isEven(a: Int64): boolean {
  return typeof a === 'number' ? a % 2 === 0 : (a & 1n) === 0n;
}

/** Negative, zero or positive as `a` is below, equal to or above `b`. */
export function compareInt64(a: Int64, b: Int64): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Parses decimal digits (an optional leading `-`) as a 64-bit integer; throws {@link CodecError}
 * (`what` names the field) if they are not one or are out of range.
 */
export function parseInt64(text: string, what = 'integer'): Int64 {
  if (!/^-?\d{1,20}$/.test(text)) throw new CodecError(`${what} is not an integer: ${text.slice(0, 40)}`);
  if (text.length <= 16) return Number(text);
  const v = BigInt(text);
  if (v > INT64_MAX || v < INT64_MIN) throw new CodecError(`${what} ${text} is out of the 64-bit range`);
  return int64(v);
}
