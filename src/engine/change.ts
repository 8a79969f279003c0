/** A change: one cell (or row sentinel) of one row, as cr-sqlite's `crsql_changes` has it. */
import { ChangeError } from './errors.ts';
import { SITE_ID_BYTES } from './clock.ts';
import type { SqlValue } from './sqlite.ts';

export interface Change {
  /** The CRR table. */
  table: string;
  /** The primary key, packed as `crsql_pack_columns` packs it. */
  pk: Uint8Array;
  /** The column, or `-1` for the row sentinel. */
  cid: string;
  /** The column's value (NULL for the sentinel). INTEGER is `bigint`, REAL is `number`. */
  val: SqlValue;
  colVersion: number;
  /** The db_version of the database the change was read from. */
  dbVersion: number;
  /** The site id of the database that made the change (16 bytes). */
  siteId: Uint8Array;
  /** The row's causal length: odd alive, even deleted. */
  cl: number;
  /** Orders changes within one db_version. */
  seq: number;
}

const isCount = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;

/** Checks the shape of an untrusted change; throws {@link ChangeError} naming the bad field. */
export function checkChange(c: Change): void {
  const bad = (what: string): never => {
    throw new ChangeError(`invalid change: ${what}`);
  };
  if (typeof c !== 'object' || c === null) bad('not an object');
  if (typeof c.table !== 'string' || c.table === '') bad('table must be a non-empty string');
  if (!(c.pk instanceof Uint8Array) || c.pk.length === 0) bad('pk must be packed bytes');
  if (typeof c.cid !== 'string' || c.cid === '') bad('cid must be a non-empty string');
  const v = c.val;
  if (!(v === null || typeof v === 'bigint' || typeof v === 'number' || typeof v === 'string' || v instanceof Uint8Array)) bad('val is not an SQLite value');
  if (!isCount(c.colVersion)) bad('col_version must be a non-negative integer');
  if (!isCount(c.dbVersion)) bad('db_version must be a non-negative integer');
  if (!isCount(c.seq)) bad('seq must be a non-negative integer');
  if (!isCount(c.cl) || c.cl < 1) bad('cl must be a positive integer');
  if (!(c.siteId instanceof Uint8Array) || c.siteId.length !== SITE_ID_BYTES) bad(`site_id must be ${SITE_ID_BYTES} bytes`);
  if (c.cid === '-1' && c.colVersion !== c.cl) bad('a row sentinel must have col_version equal to cl');
  if (c.cid === '-1' && c.val !== null) bad('a row sentinel carries no value');
}
