/**
 * Changes as JSON lines — the CLI's `changes`/`apply` format, stable for other tools:
 * `{"table","pk","cid","val","col_version","db_version","site_id","cl","seq"}` where `pk` is the
 * packed primary key in lowercase hex, `val` the value packed as a one-column `crsql_pack_columns`
 * record in hex (so NULL, '' and types survive), `site_id` hex, the rest JSON integers — exact up to
 * 2^63 − 1 (cr-sqlite's range), beyond the 2^53 a JSON number usually keeps. A line is parsed
 * strictly (see base/json.ts: a duplicated key is refused).
 */
import type { Change } from '../engine/index.ts';
import { ChangeError, packValue, unpackValue } from '../engine/index.ts';
import { fromHex, toHex } from '../base/hex.ts';
import { INT64_MAX, type Int64 } from '../base/int64.ts';
import { parseJson } from '../base/json.ts';

const FIELDS = ['table', 'pk', 'cid', 'val', 'col_version', 'db_version', 'site_id', 'cl', 'seq'] as const;

/** One change as one line of JSON (no newline). */
export function formatChange(c: Change): string {
  if (typeof c.colVersion === 'bigint' || typeof c.dbVersion === 'bigint' || typeof c.cl === 'bigint' || typeof c.seq === 'bigint') return formatWide(c);
  return JSON.stringify({
    table: c.table,
    pk: toHex(c.pk),
    cid: c.cid,
    val: toHex(packValue(c.val)),
    col_version: c.colVersion,
    db_version: c.dbVersion,
    site_id: toHex(c.siteId),
    cl: c.cl,
    seq: c.seq,
  });
}

/** The rare change with a clock past 2^53: its integers as plain digits. */
function formatWide(c: Change): string {
  const str = JSON.stringify;
  return `{"table":${str(c.table)},"pk":"${toHex(c.pk)}","cid":${str(c.cid)},"val":"${toHex(packValue(c.val))}","col_version":${c.colVersion},"db_version":${c.dbVersion},"site_id":"${toHex(c.siteId)}","cl":${c.cl},"seq":${c.seq}}`;
}

/** Parses one line; throws {@link ChangeError} naming the line and what is wrong. */
export function parseChange(line: string, lineNo: number): Change {
  const fail = (what: string, cause?: unknown): never => {
    throw new ChangeError(`line ${lineNo}: ${what}`, cause === undefined ? undefined : { cause });
  };
  let o: Record<string, unknown>;
  try {
    o = parseJson(line) as Record<string, unknown>;
  } catch (cause) {
    return fail(`not valid JSON (${(cause as Error).message})`, cause);
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) return fail('expected a JSON object');
  for (const k of Object.keys(o)) if (!(FIELDS as readonly string[]).includes(k)) fail(`unknown field "${k}"`);
  for (const k of FIELDS) if (!(k in o)) fail(`missing field "${k}"`);
  const str = (k: string): string => (typeof o[k] === 'string' ? (o[k] as string) : fail(`"${k}" must be a string`));
  const int = (k: string): Int64 => {
    const v = o[k];
    if (typeof v === 'number' ? Number.isSafeInteger(v) && v >= 0 : typeof v === 'bigint' && v > 0n && v <= INT64_MAX) return v as Int64;
    return fail(`"${k}" must be a non-negative integer (at most 2^63-1)`);
  };
  const hex = (k: string): Uint8Array => {
    try {
      return fromHex(str(k), `"${k}"`);
    } catch (cause) {
      return fail((cause as Error).message, cause);
    }
  };
  const valBytes = hex('val');
  let val;
  try {
    val = unpackValue(valBytes);
  } catch (cause) {
    return fail(`"val" is not a packed value: ${(cause as Error).message}`, cause);
  }
  const pk = hex('pk');
  if (pk.length === 0) fail('"pk" is empty');
  const siteId = hex('site_id');
  if (siteId.length !== 16) fail(`"site_id" must be 16 bytes (32 hex digits), got ${siteId.length}`);
  const table = str('table');
  const cid = str('cid');
  if (table === '') fail('"table" is empty');
  if (cid === '') fail('"cid" is empty');
  return { table, pk, cid, val, colVersion: int('col_version'), dbVersion: int('db_version'), siteId, cl: int('cl'), seq: int('seq') };
}

/** Parses JSON lines lazily (blank lines are skipped); errors name the line. */
export function* parseChanges(lines: Iterable<string>): Generator<Change> {
  let n = 0;
  for (const line of lines) {
    n++;
    if (line.trim() === '') continue;
    yield parseChange(line, n);
  }
}
