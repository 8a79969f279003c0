/** Rendering SQLite values for people (text) and for programs (JSON). */
import { toHex, type SqlValue } from '../index.ts';

/** A value as the sqlite3 shell's list mode shows it (REAL keeps a decimal point; BLOB as X'..'). */
export function valueText(v: SqlValue): string {
  if (v === null) return '';
  if (typeof v === 'number') return Number.isInteger(v) && Math.abs(v) < 1e15 ? v.toFixed(1) : String(v);
  if (v instanceof Uint8Array) return `X'${toHex(v).toUpperCase()}'`;
  return String(v);
}

/** A value as JSON: integers as numbers when exact (else strings), blobs as hex strings. */
export function valueJson(v: SqlValue): unknown {
  if (typeof v === 'bigint') return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
  if (v instanceof Uint8Array) return toHex(v);
  return v;
}

/** JSON.stringify that accepts bigint and byte arrays. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' || v instanceof Uint8Array ? valueJson(v) : v));
}

/** The noun for a count: singular for exactly one (`plural(1, 'change')` → "change"), else plural. */
export function plural(n: number, noun: string, many = `${noun}s`): string {
  return n === 1 ? noun : many;
}

/**
 * A count with its noun: `counted(1, 'change')` → "1 change", `counted(3, 'change')` → "3 changes".
 * (The library's log lines have their own in base/counted.ts: the CLI imports only the public API.)
 */
export function counted(n: number, noun: string, many = `${noun}s`): string {
  return `${n} ${plural(n, noun, many)}`;
}
