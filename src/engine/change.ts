/** A change: one cell (or row sentinel) of one row, as cr-sqlite's `crsql_changes` has it. */
import { ChangeError } from './errors.ts';
import { SITE_ID_BYTES } from './clock.ts';
import type { SqlValue } from './sqlite.ts';
import { INT64_MAX, isEven, type Int64 } from '../base/int64.ts';

export interface Change {
  /** The CRR table. */
  table: string;
  /** The primary key, packed as `crsql_pack_columns` packs it. */
  pk: Uint8Array;
  /** The column, or `-1` for the row sentinel. */
  cid: string;
  /** The column's value (NULL for the sentinel). INTEGER is `bigint`, REAL is `number`. */
  val: SqlValue;
  /** Clocks are 64-bit (see base/int64.ts: a number while exact, a bigint beyond 2^53 − 1). */
  colVersion: Int64;
  /** The db_version of the database the change was read from. */
  dbVersion: Int64;
  /** The site id of the database that made the change (16 bytes). */
  siteId: Uint8Array;
  /** The row's causal length: odd alive, even deleted. */
  cl: Int64;
  /** Orders changes within one db_version. */
  seq: Int64;
}

/**
 * The largest col_version or causal length taken from outside: local writes step clocks by one or
 * two, and this leaves room for 2^32 of them on one cell before 2^63 − 1 — so no accepted value can
 * lead to a clock that can't be written (cr-sqlite's range, less that margin).
 */
export const MAX_CLOCK = INT64_MAX - 0xffffffffn;

const isCount = (n: unknown, max = INT64_MAX): n is Int64 => (typeof n === 'number' ? Number.isSafeInteger(n) && n >= 0 : typeof n === 'bigint' && n >= 0n && n <= max);

/** The all-zero site id: ddcp's "unknown origin" (clock.ts), never a real database's. */
function isZero(b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

function bad(what: string): never {
  throw new ChangeError(`invalid change: ${what}`);
}

/** Checks the shape of an untrusted change (once per change merged: no closure); throws {@link ChangeError} naming the bad field. */
export function checkChange(c: Change): void {
  checkChangeAfter(c, undefined, undefined);
}

/**
 * {@link checkChange} for a stream of changes: `pk` and `siteId`, if given, are the very objects (by
 * identity) of a change that passed before, whose checks of that field this one then skips (runs of
 * changes share their row's key and their origin's site id: a merge checks each once per run, as it
 * treats a key or site id it has seen, by identity, as the same bytes). Throws what checkChange would.
 */
export function checkChangeAfter(c: Change, pk: Uint8Array | undefined, siteId: Uint8Array | undefined): void {
  if (typeof c !== 'object' || c === null) bad('not an object');
  if (typeof c.table !== 'string' || c.table === '') bad('table must be a non-empty string');
  if (c.pk !== pk && (!(c.pk instanceof Uint8Array) || c.pk.length === 0)) bad('pk must be packed bytes');
  if (typeof c.cid !== 'string' || c.cid === '') bad('cid must be a non-empty string');
  const v = c.val;
  if (!(v === null || typeof v === 'bigint' || typeof v === 'number' || typeof v === 'string' || v instanceof Uint8Array)) bad('val is not an SQLite value');
  if (Number.isNaN(v)) bad('val is NaN (SQLite would store NULL)');
  if (!isCount(c.colVersion, MAX_CLOCK)) bad(`col_version must be an integer from 0 to ${MAX_CLOCK} (2^63 - 2^32)`);
  if (!isCount(c.dbVersion)) bad('db_version must be an integer from 0 to 2^63-1');
  if (!isCount(c.seq)) bad('seq must be an integer from 0 to 2^63-1');
  if (!isCount(c.cl, MAX_CLOCK) || c.cl < 1) bad(`cl must be an integer from 1 to ${MAX_CLOCK} (2^63 - 2^32)`);
  if (c.siteId !== siteId) {
    if (!(c.siteId instanceof Uint8Array) || c.siteId.length !== SITE_ID_BYTES) bad(`site_id must be ${SITE_ID_BYTES} bytes`);
    // ddcp itself sends the zero site only as the origin of a revived row's sentinel (rules.ts: a cell
    // at a new causal length doesn't say who revived the row); anything else claiming it is forged.
    if (isZero(c.siteId) && !(c.cid === '-1' && !isEven(c.cl) && c.cl > 1)) bad('site_id is all zero (the unknown site, not a database)');
  }
  if (c.cid === '-1' && c.colVersion != c.cl) bad('a row sentinel must have col_version equal to cl');
  if (c.cid === '-1' && c.val !== null) bad('a row sentinel carries no value');
}
