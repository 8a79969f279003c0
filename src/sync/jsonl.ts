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
import { INT64_MAX, int64, type Int64 } from '../base/int64.ts';
import { parseJson } from '../base/json.ts';

const FIELDS = ['table', 'pk', 'cid', 'val', 'col_version', 'db_version', 'site_id', 'cl', 'seq'] as const;

/**
 * One change as one line of JSON (no newline): the same text as `JSON.stringify` of the object with
 * the fields in {@link FIELDS} order, built by hand because the CLI prints hundreds of thousands of
 * them — table and column names repeat, so their JSON form is kept (a small cache, as a database has
 * few of them).
 */
export function formatChange(c: Change): string {
  return `{"table":${quoted(c.table)},"pk":"${toHex(c.pk)}","cid":${quoted(c.cid)},"val":"${toHex(packValue(c.val))}","col_version":${c.colVersion},"db_version":${c.dbVersion},"site_id":"${toHex(c.siteId)}","cl":${c.cl},"seq":${c.seq}}`;
}

const QUOTED = new Map<string, string>();

/** `JSON.stringify(name)`, cached for the few table and column names a database has. */
function quoted(name: string): string {
  let q = QUOTED.get(name);
  if (q === undefined) {
    q = JSON.stringify(name);
    if (QUOTED.size < 4096) QUOTED.set(name, q);
  }
  return q;
}

/** Parses one line; throws {@link ChangeError} naming the line and what is wrong. */
export function parseChange(line: string, lineNo: number): Change {
  return parseCanonical(line) ?? parseAny(line, lineNo);
}

/** {@link parseChange} by the general strict JSON reader: any layout, errors that name the cause. */
export function parseAny(line: string, lineNo: number): Change {
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

/**
 * The fast path of {@link parseChange}: a line exactly as {@link formatChange} writes it (fields in
 * order, no spaces, no escapes in names, integers in plain digits) is read by position, without the
 * general JSON reader. Anything else — or anything invalid — yields undefined and goes the strict
 * way, which then explains what is wrong; so both paths accept the same lines with the same result
 * (a property test holds them to that).
 */
export function parseCanonical(line: string): Change | undefined {
  let i = 0;
  /** Skips `text` at i; false if the line has something else there. */
  const lit = (text: string): boolean => {
    if (!line.startsWith(text, i)) return false;
    i += text.length;
    return true;
  };
  /** A string's contents up to its closing quote, if it has no escape or control character. */
  const plain = (): string | undefined => {
    const start = i;
    for (;;) {
      const c = line.charCodeAt(i);
      if (c === 0x22) break;
      if (c < 0x20 || c === 0x5c || Number.isNaN(c)) return undefined;
      i++;
    }
    return line.slice(start, i++);
  };
  /** Hex digits up to the closing quote, decoded; undefined unless all valid and even in number. */
  const hex = (): Uint8Array | undefined => {
    const end = line.indexOf('"', i);
    if (end < 0 || (end - i) % 2 !== 0) return undefined;
    // Buffer's hex decoding stops at the first pair that isn't hex, so the length tells validity.
    const buf = Buffer.from(line.slice(i, end), 'hex');
    if (buf.length * 2 !== end - i) return undefined;
    i = end + 1;
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
  };
  /** Plain digits (no sign, no leading zero) as an exact non-negative int64. */
  const int = (): Int64 | undefined => {
    const start = i;
    while (i < line.length && line.charCodeAt(i) >= 0x30 && line.charCodeAt(i) <= 0x39) i++;
    const digits = i - start;
    if (digits === 0 || (digits > 1 && line.charCodeAt(start) === 0x30)) return undefined;
    if (digits < 16) return Number(line.slice(start, i));
    const big = BigInt(line.slice(start, i));
    return big > INT64_MAX ? undefined : int64(big);
  };
  if (!lit('{"table":"')) return undefined;
  const table = plain();
  if (!table || !lit(',"pk":"')) return undefined;
  const pk = hex();
  if (!pk || pk.length === 0 || !lit(',"cid":"')) return undefined;
  const cid = plain();
  if (!cid || !lit(',"val":"')) return undefined;
  const valBytes = hex();
  if (!valBytes || !lit(',"col_version":')) return undefined;
  const colVersion = int();
  if (colVersion === undefined || !lit(',"db_version":')) return undefined;
  const dbVersion = int();
  if (dbVersion === undefined || !lit(',"site_id":"')) return undefined;
  const siteId = hex();
  if (!siteId || siteId.length !== 16 || !lit(',"cl":')) return undefined;
  const cl = int();
  if (cl === undefined || !lit(',"seq":')) return undefined;
  const seq = int();
  if (seq === undefined || !lit('}') || i !== line.length) return undefined;
  let val;
  try {
    val = unpackValue(valBytes);
  } catch {
    return undefined;
  }
  return { table, pk, cid, val, colVersion, dbVersion, siteId, cl, seq };
}
