/**
 * Reading a hosted database's changes from PostgreSQL, as the engine reads them from SQLite
 * (engine/changes.ts): every cell after `since` in (db_version, seq) order, with the row's causal
 * length, leaving out `exceptSite`'s where they came straight from it; through a read filter, only the tables, columns and rows it
 * allows — a row predicate tested on the row's current values (predicates.ts), deletes always, and
 * for `since` > 0 a changed row that is allowed now sent whole, its older cells at the position of
 * its first change after `since`.
 *
 * A read is one snapshot. Small reads (the common case: a follower's next few changes) are one
 * statement; a read larger than a batch, or one through a row predicate, runs in a REPEATABLE READ
 * transaction on a reserved connection, through a server-side cursor, so memory stays bounded.
 */
import type { Sql } from 'postgres';
import { isEven } from '../../../base/int64.ts';
import { coversColumn, rulesOf, SENTINEL, unpackColumns, type Change, type ReadFilter, type SqlValue, type TableInfo } from '../../../engine/index.ts';
import { BATCH_CHANGES, batchByVersion, batchByVersionAsync, type Batch } from '../../../sync/batches.ts';
import { bytea, byKey, bytes, hex, int8, valueOf, PREPARED } from './cells.ts';
import { rowId } from './merge.ts';
import type { ScratchPredicates } from './predicates.ts';

interface ChangeRow {
  tbl: string;
  pk: Buffer;
  cid: string;
  val: Buffer | null;
  /** bigint columns as decimal text (see int8). */
  col_version: string;
  db_version: number;
  site: Buffer;
  seq: number;
  cl: string;
}

/** Cursor rows per round trip. */
const CURSOR_ROWS = 1000;
/** Row-predicate results remembered per read (then forgotten: memory stays bounded). */
const PREDICATE_CACHE = 50_000;

/** The columns of a change row; `c` is the cell, `$1` the database. */
const COLUMNS = `c.tbl, c.pk, c.cid, c.val, c.col_version, c.db_version::float8 AS db_version, c.site, c.seq,
  (CASE WHEN c.cid = '-1' THEN c.col_version
   ELSE coalesce((SELECT s.col_version FROM {S}.cells s WHERE s.db = c.db AND s.tbl = c.tbl AND s.pk = c.pk AND s.cid = '-1'), 1) END) AS cl`;

/**
 * Leaves out, for the asking site ($3), the versions merged straight from it (the engine's
 * EXCEPT_DIRECT): it holds what it pushed, its own changes and what it relayed. Its changes that
 * arrived any other way (relayed by another, forged) are sent to it too.
 */
const exceptDirect = (S: string): string =>
  `NOT EXISTS (SELECT 1 FROM ${S}.direct_versions dv WHERE dv.db = c.db AND dv.db_version = c.db_version AND dv.site = $3)`;

/** Site id bytes, shared per read (most changes come from a few sites). */
class SiteIds {
  private readonly known = new Map<string, Uint8Array>();
  of(b: Buffer): Uint8Array {
    const hex = b.toString('latin1'); // a map key, not text
    let s = this.known.get(hex);
    if (!s) this.known.set(hex, (s = new Uint8Array(b)));
    return s;
  }
}

function toChange(r: ChangeRow, sites: SiteIds): Change {
  return { table: r.tbl, pk: bytes(r.pk), cid: r.cid, val: valueOf(r.val), colVersion: int8(r.col_version), dbVersion: r.db_version, siteId: sites.of(r.site), seq: r.seq, cl: int8(r.cl) };
}

export interface FeedSource {
  sql: Sql;
  schema: string;
  /** The database's id. */
  db: string;
  predicates: ScratchPredicates;
}

/**
 * The database's changes after `since` as batches (engine rules; see the file comment), ending with
 * an empty complete batch at the version it was at when the read began.
 */
export async function* readBatches(src: FeedSource, since: number, exceptSite: Uint8Array, read?: ReadFilter): AsyncGenerator<Batch> {
  const { sql, schema: S } = src;
  if (!read) {
    // One statement: the version and up to a batch of changes, from one snapshot.
    const rows = await sql.unsafe<(ChangeRow & { open: number })[]>(
      `SELECT d.open_version::float8 AS open, x.* FROM ${S}.databases d LEFT JOIN LATERAL (
         SELECT ${COLUMNS.replaceAll('{S}', S)} FROM ${S}.cells c
         WHERE c.db = d.id AND c.db_version > $2 AND ${exceptDirect(S)} ORDER BY c.db_version, c.seq LIMIT $4) x ON true
       WHERE d.id = $1 ORDER BY x.db_version, x.seq`,
      [src.db, since, bytea(exceptSite), BATCH_CHANGES + 1],
      PREPARED,
    );
    const at = Number(rows[0]?.open ?? 1) - 1;
    const changes = rows.filter((r) => r.tbl !== null);
    if (changes.length <= BATCH_CHANGES) {
      const sites = new SiteIds();
      yield* finish(batchByVersion(changes.map((r) => toChange(r, sites)), undefined, since), since, at);
      return;
    }
  }
  // Larger, or filtered: a snapshot of its own.
  const r = await sql.reserve();
  try {
    await r.unsafe('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const [v] = await r.unsafe<{ open: number; tables: TableInfo[] }[]>(`SELECT open_version::float8 AS open, tables FROM ${S}.databases WHERE id = $1`, [src.db]);
    const at = Number(v?.open ?? 1) - 1;
    const tables = v?.tables ?? [];
    const changes = read ? filtered(r as unknown as Sql, src, tables, since, exceptSite, read) : all(r as unknown as Sql, src, since, exceptSite);
    yield* finishAsync(batchByVersionAsync(changes, undefined, since), since, at);
  } finally {
    await r.unsafe('ROLLBACK').catch(() => {});
    r.release();
  }
}

function* finish(batches: Iterable<Batch>, since: number, at: number): Generator<Batch> {
  let last = since;
  for (const b of batches) {
    last = b.version;
    yield b;
  }
  yield { changes: [], version: Math.max(at, last), complete: true };
}

async function* finishAsync(batches: AsyncIterable<Batch>, since: number, at: number): AsyncGenerator<Batch> {
  let last = since;
  for await (const b of batches) {
    last = b.version;
    yield b;
  }
  yield { changes: [], version: Math.max(at, last), complete: true };
}

async function* all(sql: Sql, src: FeedSource, since: number, exceptSite: Uint8Array): AsyncGenerator<Change> {
  const S = src.schema;
  const sites = new SiteIds();
  const q = pages<ChangeRow>(sql, `SELECT ${COLUMNS.replaceAll('{S}', S)} FROM ${S}.cells c WHERE c.db = $1 AND c.db_version > $2 AND ${exceptDirect(S)} ORDER BY c.db_version, c.seq`, [
    src.db,
    since,
    bytea(exceptSite),
  ]);
  for await (const rows of q) for (const row of rows) yield toChange(row, sites);
}

/**
 * The rows of `query` in pages, through a server-side cursor of the open transaction (other queries
 * may run on the connection between pages, unlike with a protocol-level cursor).
 */
async function* pages<T>(sql: Sql, query: string, params: unknown[]): AsyncGenerator<T[]> {
  await sql.unsafe(`DECLARE ddcp_feed NO SCROLL CURSOR FOR ${query}`, params as never[]);
  for (;;) {
    const rows = await sql.unsafe<T[]>(`FETCH ${CURSOR_ROWS} FROM ddcp_feed`);
    if (rows.length > 0) yield [...rows];
    if (rows.length < CURSOR_ROWS) break;
  }
  await sql.unsafe('CLOSE ddcp_feed');
}

/**
 * Through a read filter: tables without a rule are not read; a table whose rules test rows is read
 * whole-row when `since` > 0 (engine/changes.ts rowChangesQuery); each cell is kept if it is a
 * delete, or some rule covers its column and (if it has a `where`) the row exists and satisfies it.
 */
async function* filtered(sql: Sql, src: FeedSource, tables: TableInfo[], since: number, exceptSite: Uint8Array, read: ReadFilter): AsyncGenerator<Change> {
  const S = src.schema;
  const byName = new Map(tables.map((t) => [t.name, t]));
  const ruled = tables.filter((t) => rulesOf(read.rules, t.name).length > 0);
  const hasWhere = (t: TableInfo): boolean => rulesOf(read.rules, t.name).some((r) => r.where !== undefined);
  const whole = since > 0 ? ruled.filter(hasWhere).map((t) => t.name) : [];
  const plain = ruled.map((t) => t.name).filter((n) => !whole.includes(n));
  if (ruled.length === 0) return;
  const cols = COLUMNS.replaceAll('{S}', S);
  const parts: string[] = [];
  if (plain.length > 0) parts.push(`SELECT ${cols}, c.db_version::float8 AS pos FROM ${S}.cells c WHERE c.db = $1 AND c.db_version > $2 AND ${exceptDirect(S)} AND c.tbl = ANY($4::text[])`);
  if (whole.length > 0) {
    parts.push(`SELECT ${cols}, (CASE WHEN c.db_version > $2 THEN c.db_version ELSE m.first END)::float8 AS pos
      FROM (SELECT tbl, pk, min(db_version) AS first FROM ${S}.cells WHERE db = $1 AND db_version > $2 AND tbl = ANY($5::text[]) GROUP BY tbl, pk) m
      JOIN ${S}.cells c ON c.db = $1 AND c.tbl = m.tbl AND c.pk = m.pk
      WHERE ${exceptDirect(S)}`);
  }
  const q = pages<ChangeRow & { pos: number }>(sql, `${parts.join(' UNION ALL ')} ORDER BY pos, seq, tbl, pk, cid`, [
    src.db,
    since,
    bytea(exceptSite),
    sql.array(plain as never[], 1009),
    sql.array(whole as never[], 1009),
  ]);
  const sites = new SiteIds();
  const allowed = new Map<string, boolean[]>(); // per row: which of the table's rules its predicate passes
  for await (const rows of q) {
    // Test the rows of this page that predicates need, a query and one SQLite pass per table and rule.
    const need = new Map<string, Map<string, { pk: Buffer; alive: boolean }>>();
    for (const r of rows) {
      const rules = rulesOf(read.rules, r.tbl);
      if (!rules.some((x) => x.where !== undefined) || allowed.has(`${r.tbl}\u0000${rowId(r.pk)}`)) continue;
      let m = need.get(r.tbl);
      if (!m) need.set(r.tbl, (m = new Map()));
      m.set(rowId(r.pk), { pk: r.pk, alive: !isEven(int8(r.cl)) });
    }
    if (allowed.size > PREDICATE_CACHE) allowed.clear();
    for (const [tbl, rowsOf] of need) await testRows(sql, src, byName.get(tbl)!, rulesOf(read.rules, tbl), read.params, [...rowsOf.values()], allowed);
    for (const r of rows) {
      const c = toChange(r, sites);
      if (c.cid === SENTINEL && isEven(c.colVersion)) {
        yield c; // a delete: the row is gone, nothing to test
        continue;
      }
      const rules = rulesOf(read.rules, r.tbl);
      const passes = allowed.get(`${r.tbl}\u0000${rowId(r.pk)}`);
      if (rules.some((rule, i) => coversColumn(rule, c.cid) && (rule.where === undefined || passes?.[i] === true))) yield c;
    }
  }
}

/** Records, per row, which rules' predicates it satisfies (a row that doesn't exist satisfies none). */
async function testRows(
  sql: Sql,
  src: FeedSource,
  table: TableInfo,
  rules: readonly { where?: string }[],
  params: ReadFilter['params'],
  rows: { pk: Buffer; alive: boolean }[],
  allowed: Map<string, boolean[]>,
): Promise<void> {
  const alive = rows.filter((r) => r.alive);
  const values = new Map<string, Map<string, SqlValue>>();
  if (alive.length > 0) {
    const cells = await sql.unsafe<{ pk: Buffer; cid: string; val: Buffer | null }[]>(
      `SELECT c.* FROM unnest($3::text[]) h, LATERAL (${byKey(src.schema, 'pk, cid, val', ` AND cid <> '-1'`)}) c`,
      [src.db, table.name, sql.array(alive.map((r) => hex(r.pk)) as never[], 1009)],
    );
    for (const c of cells) {
      const id = rowId(c.pk);
      let m = values.get(id);
      if (!m) values.set(id, (m = new Map()));
      m.set(c.cid, valueOf(c.val));
    }
  }
  const tested = alive.map((r) => ({ pk: unpackColumns(bytes(r.pk)), values: values.get(rowId(r.pk)) ?? new Map<string, SqlValue>() }));
  const results = rules.map((rule) => (rule.where === undefined ? tested.map(() => true) : src.predicates.test(table, rule.where, params, tested)));
  for (const r of rows) allowed.set(`${table.name}\u0000${rowId(r.pk)}`, rules.map(() => false));
  alive.forEach((r, i) => allowed.set(`${table.name}\u0000${rowId(r.pk)}`, results.map((res) => res[i]!)));
}
