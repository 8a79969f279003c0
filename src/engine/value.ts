/**
 * SQLite values and cr-sqlite's total order on them, which breaks ties between concurrent writes of
 * the same col_version: storage class first (NULL < BLOB < TEXT < REAL < INTEGER), then numerically
 * or bytewise (TEXT compares as UTF-8 bytes, as `memcmp` would).
 */
import type { SqlValue } from './sqlite.ts';
import { textBytes } from './text-bytes.ts';

/** Storage classes in cr-sqlite's merge order. */
export const StorageClass = { Null: 0, Blob: 1, Text: 2, Real: 3, Integer: 4 } as const;
export type StorageClass = (typeof StorageClass)[keyof typeof StorageClass];

export function storageClass(v: SqlValue): StorageClass {
  switch (typeof v) {
    case 'bigint':
      return StorageClass.Integer;
    case 'number':
      return StorageClass.Real;
    case 'string':
      return StorageClass.Text;
    default:
      return v === null ? StorageClass.Null : StorageClass.Blob;
  }
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

function compareText(a: string, b: string): number {
  if (a === b) return 0;
  // Plain ASCII orders the same in UTF-16 and UTF-8; only fall back to bytes when needed.
  if (/^[\x00-\x7f]*$/.test(a) && /^[\x00-\x7f]*$/.test(b)) return a < b ? -1 : 1;
  // textBytes: the real bytes also of text that isn't valid UTF-8 (escaped, text-bytes.ts).
  return compareBytes(textBytes(a), textBytes(b));
}

/** Compares two values in cr-sqlite's merge order: negative, zero or positive. */
export function compareValues(a: SqlValue, b: SqlValue): number {
  const ca = storageClass(a);
  const cb = storageClass(b);
  if (ca !== cb) return ca < cb ? -1 : 1;
  switch (ca) {
    case StorageClass.Null:
      return 0;
    case StorageClass.Integer:
    case StorageClass.Real:
      return (a as number) < (b as number) ? -1 : (a as number) > (b as number) ? 1 : 0;
    case StorageClass.Text:
      return compareText(a as string, b as string);
    case StorageClass.Blob:
      return compareBytes(a as Uint8Array, b as Uint8Array);
  }
}

/** Byte-wise equality of two byte arrays. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return compareBytes(a, b) === 0;
}

export { compareBytes };
