/**
 * Reading and writing one hosted database's cells in PostgreSQL (the `cells` table, see schema.ts):
 * whole rows by key, with a few set-based statements over `unnest` arrays however many rows.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Sql } from 'postgres';
import { int64, type Int64 } from '../../../base/int64.ts';
import { packValue, SENTINEL, unpackValue, type Change, type SqlValue } from '../../../engine/index.ts';
import { rowId, type CellIO, type RowWrite, type StoredCell } from './merge.ts';

/** A bytea parameter (postgres.js serializes Buffers). */
/**
 * For `sql.unsafe` statements run over and over (merges, fan-out reads): a named prepared statement
 * per connection. Unprepared, postgres.js sends a statement with parameters as Parse + Describe and
 * waits for the parameter types before it sends Bind + Execute — a second write and a round trip
 * each time, which defeated the merge's pipelining. Only for fixed SQL text (one statement per
 * text and connection is kept).
 */
export const PREPARED = { prepare: true } as const;

export const bytea = (b: Uint8Array): Buffer => (Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength));

/** A plain Uint8Array view of a Buffer PostgreSQL returned (what the rest of ddcp compares and encodes). */
export const bytes = (b: Buffer): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);

/**
 * The cells of one key (`h`, hex) of table $2 of database $1, for `LATERAL` over a list of keys: an
 * index probe per key whatever the planner's statistics say (`OFFSET 0` keeps it from turning the
 * list into a hash join over the whole table, as it would on a table not analyzed yet).
 */
export const byKey = (schema: string, columns: string, where = ''): string =>
  `SELECT ${columns} FROM ${schema}.cells WHERE db = $1 AND tbl = $2 AND pk = decode(h, 'hex')${where} OFFSET 0`;

/** Bytes as hex text. */
export const hex = (b: Uint8Array): string => bytea(b).toString('hex');

/** A stored value: packed as cr-sqlite packs a value (NULL: no bytes). */
export const valueOf = (b: Buffer | null): SqlValue => (b === null ? null : unpackValue(bytes(b)));

/**
 * A bigint column as postgres.js returns it (decimal text) as a 64-bit value: a number while exact,
 * a bigint beyond 2^53 (clocks are 64-bit; a cast to float8 would round them).
 */
export const int8 = (text: string): Int64 => (text.length < 16 ? Number(text) : int64(BigInt(text)));

const ARRAY = { text: 1009, int4: 1007, int8: 1016 } as const;

/** New cells from which a save uses COPY. */
const COPY_FROM = 500;

/** A loaded cell: `i` is the (1-based) position of its key in the list asked for, `site` hex text. */
interface CellRow {
  i: number;
  cid: string;
  val: Buffer | null;
  col_version: string;
  db_version: number;
  site: string;
  seq: number;
}

/** Rows whose cells a merge's I/O keeps known (beyond it, it stops keeping them). */
const KNOWN_ROWS = 50_000;

/**
 * The merge's I/O for database `db` on `sql` (a transaction's handle, on one connection), for one
 * transaction holding its database's lock.
 *
 * Writes are pipelined: {@link save} sends its statements without waiting for their answers (the
 * connection runs them in order, so a later load sees them), and the caller collects them with
 * {@link written} together with its own last statements and COMMIT. Rows loaded are kept known,
 * and what is saved is applied to them, so the merges of several pushes in one transaction load
 * each row once; loads given in advance ({@link preload}) go out with the transaction's first
 * statements. A caller that rolls back part of the transaction calls {@link uncached} first.
 */
export class PgCellIO implements CellIO {
  private readonly sql: Sql;
  private readonly s: string;
  private readonly db: string;
  private readonly sent: Promise<unknown>[] = [];
  /** Rows' cells as stored now (a row known absent: []), by table and row id; undefined: not kept. */
  private known: Map<string, Map<string, StoredCell[]>> | undefined = new Map();
  private knownRows = 0;
  /** Writes of rows kept known, not sent yet: per table and row, as one write (see flush). */
  private readonly buffered = new Map<string, Map<string, { pk: Uint8Array; cleared: boolean; stored: Set<string>; cells: Map<string, StoredCell> }>>();
  /** Loads sent in advance, not yet answered. */
  private readonly loading: Promise<unknown>[] = [];
  /** The rows saved, by table and row id (for {@link storedChanges}); undefined once one was not kept known. */
  private saved: Map<string, Map<string, Uint8Array>> | undefined = new Map();
  constructor(sql: Sql, schema: string, db: string) {
    this.sql = sql;
    this.s = schema;
    this.db = db;
  }

  /** Sends the loads of these rows now (keys packed as the merge packs them). */
  preload(rows: ReadonlyMap<string, readonly Uint8Array[]>): void {
    for (const [table, pks] of rows) {
      const p = this.fetch(table, pks);
      p.catch(() => {}); // a failed transaction is reported by the statement the caller awaits
      this.loading.push(p);
    }
  }

  /** Stops keeping rows (part of the transaction is about to be rolled back). */
  async uncached(): Promise<void> {
    await this.flush();
    this.known = undefined;
    this.saved = undefined;
  }

  /**
   * The rows the transaction saved, each with its cells stamped after version `since` as stored now
   * — as the feed reads them back (feed.ts: with the row's causal length) — by table and row id
   * (`<table>\u0000<id>`). From the rows it keeps known, which hold every saved row as stored. Right
   * only if nothing else wrote the database's cells after `since` (the caller held its lock, and
   * knows who wrote before); undefined if a saved row was not kept known (too many rows, or a
   * guard's savepoints).
   */
  storedRows(since: number): Map<string, Change[]> | undefined {
    const known = this.known;
    if (!known || !this.saved) return undefined;
    const out = new Map<string, Change[]>();
    for (const [table, rows] of this.saved) {
      const byId = known.get(table);
      if (!byId) return undefined;
      for (const [id, pk] of rows) {
        const cells = byId.get(id);
        if (!cells) return undefined;
        const sentinel = cells.find((c) => c.cid === SENTINEL);
        const cl = sentinel ? sentinel.colVersion : 1;
        const changes: Change[] = [];
        for (const c of cells) {
          if (c.dbVersion > since) changes.push({ table, pk, cid: c.cid, val: c.val, colVersion: c.colVersion, dbVersion: c.dbVersion, siteId: c.site, seq: c.seq, cl });
        }
        out.set(`${table}\u0000${id}`, changes);
      }
    }
    return out;
  }

  /**
   * Sends the writes kept for the end; resolves when the caller may send its own statements after
   * them (at once, unless they go by COPY, which must finish first).
   */
  async flushed(): Promise<void> {
    await this.flush();
  }

  /** The transaction failed: drops what was kept to write; resolves when what was sent is answered (rejects with the first that failed). */
  async abandoned(): Promise<void> {
    this.buffered.clear();
    this.known = undefined;
    await Promise.all(this.sent);
  }

  /** Every write, sent and answered (rejects with the first that failed). */
  async written(): Promise<void> {
    await this.flush();
    await Promise.all(this.sent);
  }

  /**
   * Sends the buffered writes: each row's last cells, as one write per row — deleted first if any
   * merge cleared it, and a cell stored (updated, not inserted) if it was there before and survives that.
   */
  private flush(): Promise<void> | undefined {
    if (this.buffered.size === 0) return undefined;
    const rows: RowWrite[] = [];
    for (const [table, byId] of this.buffered) {
      for (const b of byId.values()) {
        const cells = [...b.cells.values()];
        rows.push({ table, pk: b.pk, cleared: b.cleared, cells, stored: cells.map((c) => b.stored.has(c.cid) && (c.cid === '-1' || !b.cleared)) });
      }
    }
    this.buffered.clear();
    return this.dispatch(rows);
  }

  /** Sends rows' writes; returns what to await before anything else is sent if they go by COPY. */
  private dispatch(rows: readonly RowWrite[]): Promise<void> | undefined {
    const p = this.write(rows);
    p.catch(() => {}); // awaited in written()
    this.sent.push(p);
    return newCells(rows) >= COPY_FROM ? p : undefined;
  }

  private send(q: Promise<unknown> & { execute(): unknown }): void {
    q.execute();
    q.catch(() => {}); // awaited in written(); an unhandled rejection must not end the process first
    this.sent.push(q);
  }

  async load(table: string, pks: readonly Uint8Array[]): Promise<Map<string, StoredCell[]>> {
    if (this.loading.length > 0) await Promise.all(this.loading.splice(0));
    const known = this.known?.get(table);
    if (!known) return this.fetch(table, pks);
    const out = new Map<string, StoredCell[]>();
    const missing: Uint8Array[] = [];
    for (const pk of pks) {
      const id = rowId(pk);
      const cells = known.get(id);
      if (cells === undefined) missing.push(pk);
      else if (cells.length > 0) out.set(id, cells);
    }
    if (missing.length > 0) for (const [id, cells] of await this.fetch(table, missing)) out.set(id, cells);
    return out;
  }

  /** Loads rows from PostgreSQL, and keeps them known. */
  private async fetch(table: string, pks: readonly Uint8Array[]): Promise<Map<string, StoredCell[]>> {
    const out = await this.query(table, pks);
    if (this.known && this.knownRows + pks.length > KNOWN_ROWS) await this.uncached();
    if (this.known) {
      let known = this.known.get(table);
      if (!known) this.known.set(table, (known = new Map()));
      for (const pk of pks) {
        const id = rowId(pk);
        if (!known.has(id)) this.knownRows++;
        known.set(id, out.get(id) ?? []);
      }
    }
    return out;
  }

  /** Applies saved rows to the known ones (a merge saves only rows it loaded). */
  private remember(rows: readonly RowWrite[]): void {
    for (const r of rows) {
      const known = this.known?.get(r.table);
      const id = rowId(r.pk);
      const before = known?.get(id);
      if (!known || before === undefined) {
        this.saved = undefined;
        continue;
      }
      if (this.saved) {
        let saved = this.saved.get(r.table);
        if (!saved) this.saved.set(r.table, (saved = new Map()));
        saved.set(id, r.pk);
      }
      const cells = r.cleared ? before.filter((c) => c.cid === '-1') : [...before];
      for (const c of r.cells) {
        const i = cells.findIndex((x) => x.cid === c.cid);
        if (i >= 0) cells[i] = c;
        else cells.push(c);
      }
      known.set(id, cells);
    }
  }

  /** Keeps known rows' writes to send at the end (before {@link remember}: their stored cells are PostgreSQL's). */
  private buffer(rows: readonly RowWrite[]): void {
    for (const r of rows) {
      const id = rowId(r.pk);
      let byId = this.buffered.get(r.table);
      if (!byId) this.buffered.set(r.table, (byId = new Map()));
      let b = byId.get(id);
      if (!b) byId.set(id, (b = { pk: r.pk, cleared: false, stored: new Set(this.known!.get(r.table)!.get(id)!.map((c) => c.cid)), cells: new Map() }));
      if (r.cleared) {
        b.cleared = true;
        for (const cid of b.cells.keys()) if (cid !== '-1') b.cells.delete(cid);
      }
      for (const c of r.cells) b.cells.set(c.cid, c);
    }
  }

  private async query(table: string, pks: readonly Uint8Array[]): Promise<Map<string, StoredCell[]>> {
    const out = new Map<string, StoredCell[]>();
    if (pks.length === 0) return out;
    // Each cell comes back with the position of its key in the list (not the key: no bytea to parse
    // per cell, and the map key is the caller's bytes, which are the stored ones), its site as hex
    // text (most cells share a few sites: one Uint8Array each).
    const rows = await this.sql.unsafe<CellRow[]>(
      `SELECT h.i::int4 AS i, c.* FROM unnest($3::text[]) WITH ORDINALITY h(h, i), LATERAL (${byKey(this.s, "cid, val, col_version, db_version::float8 AS db_version, encode(site, 'hex') AS site, seq")}) c`,
      [this.db, table, this.sql.array(pks.map(hex) as never[], ARRAY.text)],
      PREPARED,
    );
    const sites = new Map<string, Uint8Array>();
    let lastI = 0;
    let cells: StoredCell[] = [];
    for (const r of rows) {
      if (r.i !== lastI) {
        const id = rowId(pks[r.i - 1]!);
        const had = out.get(id);
        if (had) cells = had;
        else out.set(id, (cells = []));
        lastI = r.i;
      }
      let site = sites.get(r.site);
      if (!site) sites.set(r.site, (site = new Uint8Array(Buffer.from(r.site, 'hex'))));
      cells.push({ cid: r.cid, val: valueOf(r.val), colVersion: int8(r.col_version), dbVersion: r.db_version, site, seq: r.seq });
    }
    return out;
  }

  async save(rows: readonly RowWrite[]): Promise<void> {
    // Rows kept known are written at the end, once each, whatever number of merges changed them.
    const known = this.known;
    if (known && rows.every((r) => known.get(r.table)?.has(rowId(r.pk)))) {
      this.buffer(rows);
      this.remember(rows);
      return;
    }
    await this.flush();
    this.remember(rows);
    await this.dispatch(rows);
  }

  /** Writes rows' cells: the deletes, inserts and updates, pipelined (see {@link send}). */
  private async write(rows: readonly RowWrite[]): Promise<void> {
    const before = [...this.sent];
    const a = this.sql.array.bind(this.sql) as (xs: unknown[], type: number) => never;
    const cleared = rows.filter((r) => r.cleared);
    if (cleared.length > 0) {
      this.send(this.sql.unsafe(
        `DELETE FROM ${this.s}.cells WHERE ctid = ANY(ARRAY(
           SELECT c.ctid FROM unnest($2::text[], $3::text[]) AS r(tbl, pk),
             LATERAL (SELECT ctid FROM ${this.s}.cells WHERE db = $1 AND tbl = r.tbl AND pk = decode(r.pk, 'hex') AND cid <> '-1' OFFSET 0) c))`,
        [this.db, a(cleared.map((r) => r.table), ARRAY.text), a(cleared.map((r) => hex(r.pk)), ARRAY.text)],
        PREPARED,
      ));
    }
    // New cells are inserted, stored ones updated: an upsert (ON CONFLICT) costs PostgreSQL about
    // twice a plain INSERT.
    // Many new cells go in by COPY (a third faster than INSERT from unnest); a few by one INSERT,
    // which is one round trip where COPY takes two and waits on the socket in between.
    const copy = newCells(rows) >= COPY_FROM;
    const lines: string[] = [];
    const siteHex = new SiteHex();
    const inserts = new CellArrays();
    const updates = new CellArrays();
    for (const r of rows) {
      const key = hex(r.pk);
      r.cells.forEach((c, i) => {
        if (r.stored[i]) updates.add(r.table, key, c);
        else if (copy) lines.push(copyLine(this.db, r.table, key, c, siteHex.of(c.site)));
        else inserts.add(r.table, key, c);
      });
    }
    if (lines.length > 0) {
      await Promise.all(before); // COPY takes the connection to itself
      const into = await this.sql.unsafe(`COPY ${this.s}.cells (db, tbl, pk, cid, val, col_version, db_version, site, seq) FROM STDIN`).writable();
      await pipeline(Readable.from([lines.join('')]), into);
    }
    if (inserts.size > 0) this.send(this.sql.unsafe(insertCells(this.s, 2), [this.db as never, ...inserts.params(a)], PREPARED));
    if (updates.size > 0) this.send(this.sql.unsafe(updateCells(this.s, 2), [this.db as never, ...updates.params(a)], PREPARED));
  }

  /**
   * The writes kept for the end as common table expressions of the caller's last statement
   * (`name AS (INSERT …), …`, parameters from $`at` on, $1 being the database) instead of statements
   * of their own: one statement fewer per transaction. Only when they are inserts and updates of
   * distinct cells (no row cleared — a delete and an insert of one cell can't share a statement —
   * and too few new cells for COPY); undefined otherwise, and then nothing was taken. Nothing else
   * of the transaction may read the cells before that statement.
   */
  foldWrites(at: number): { ctes: string[]; params: never[] } | undefined {
    if (this.buffered.size === 0) return { ctes: [], params: [] };
    let fresh = 0;
    for (const byId of this.buffered.values()) {
      for (const b of byId.values()) {
        if (b.cleared) return undefined;
        for (const cid of b.cells.keys()) if (!b.stored.has(cid)) fresh++;
      }
    }
    if (fresh >= COPY_FROM) return undefined;
    const a = this.sql.array.bind(this.sql) as (xs: unknown[], type: number) => never;
    const inserts = new CellArrays();
    const updates = new CellArrays();
    for (const [table, byId] of this.buffered) {
      for (const b of byId.values()) {
        const key = hex(b.pk);
        for (const c of b.cells.values()) (b.stored.has(c.cid) ? updates : inserts).add(table, key, c);
      }
    }
    this.buffered.clear();
    const ctes: string[] = [];
    const params: never[] = [];
    if (inserts.size > 0) {
      ctes.push(`ci AS (${insertCells(this.s, at)})`);
      params.push(...inserts.params(a));
    }
    if (updates.size > 0) {
      ctes.push(`cu AS (${updateCells(this.s, at + params.length)})`);
      params.push(...updates.params(a));
    }
    return { ctes, params };
  }
}

/** The cells rows' writes insert (not stored yet). */
const newCells = (rows: readonly RowWrite[]): number => rows.reduce((n, r) => n + r.stored.filter((x) => !x).length, 0);

/** The cells' parallel arrays as rows, from parameter $`at` on (the site ids' array follows them: {@link sitesAt}). */
const unnestAt = (at: number): string =>
  `unnest($${at}::text[], $${at + 1}::text[], $${at + 2}::text[], $${at + 3}::text[], $${at + 4}::int8[], $${at + 5}::int8[], $${at + 6}::int4[], $${at + 7}::int4[]) AS x(tbl, pk, cid, val, cv, dv, site, seq)`;
const sitesAt = (at: number): string => `$${at + 8}::text[]`;

/** New cells inserted, from parameter $`at` on ($1: the database). */
const insertCells = (s: string, at: number): string =>
  `INSERT INTO ${s}.cells (db, tbl, pk, cid, val, col_version, db_version, site, seq)
   SELECT $1, x.tbl, decode(x.pk, 'hex'), x.cid, decode(x.val, 'hex'), x.cv, x.dv, decode((${sitesAt(at)})[x.site], 'hex'), x.seq
   FROM ${unnestAt(at)}`;

/** Stored cells updated, from parameter $`at` on ($1: the database). */
const updateCells = (s: string, at: number): string =>
  `UPDATE ${s}.cells c SET val = decode(x.val, 'hex'), col_version = x.cv, db_version = x.dv, site = decode((${sitesAt(at)})[x.site], 'hex'), seq = x.seq
   FROM ${unnestAt(at)}
   WHERE c.db = $1 AND c.tbl = x.tbl AND c.pk = decode(x.pk, 'hex') AND c.cid = x.cid`;


/** A text field of COPY's text format. */
const copyText = (t: string): string => (/[\\\t\n\r]/.test(t) ? t.replace(/[\\\t\n\r]/g, (ch) => ({ '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' })[ch]!) : t);

/** One cell as a line of COPY's text format (bytea as `\\x` hex, NULL as `\\N`). */
function copyLine(db: string, table: string, pk: string, c: StoredCell, site: string): string {
  const val = c.val === null ? '\\N' : `\\\\x${hex(packValue(c.val))}`;
  return `${db}\t${copyText(table)}\t\\\\x${pk}\t${copyText(c.cid)}\t${val}\t${c.colVersion}\t${c.dbVersion}\t\\\\x${site}\t${c.seq}\n`;
}

/**
 * Cells as the parallel arrays of {@link unnestAt} — bytes as hex text (postgres.js would
 * escape bytea's backslashes one by one) — and the site ids, once each, referred to by index (the ninth).
 */
class CellArrays {
  private readonly tbl: string[] = [];
  private readonly pk: string[] = [];
  private readonly cid: string[] = [];
  private readonly val: (string | null)[] = [];
  private readonly colVersion: Int64[] = [];
  private readonly dbVersion: number[] = [];
  private readonly site: number[] = [];
  private readonly seq: number[] = [];
  private readonly sites: string[] = [];
  private readonly siteIndex = new Map<string, number>();
  private readonly siteHex = new SiteHex();

  get size(): number {
    return this.tbl.length;
  }

  add(table: string, pk: string, c: StoredCell): void {
    this.tbl.push(table);
    this.pk.push(pk);
    this.cid.push(c.cid);
    this.val.push(c.val === null ? null : hex(packValue(c.val)));
    this.colVersion.push(c.colVersion);
    this.dbVersion.push(c.dbVersion);
    const id = this.siteHex.of(c.site);
    let i = this.siteIndex.get(id);
    if (i === undefined) {
      this.siteIndex.set(id, (i = this.sites.length + 1));
      this.sites.push(id);
    }
    this.site.push(i);
    this.seq.push(c.seq);
  }

  /** The nine parameters of {@link insertCells} or {@link updateCells}. */
  params(a: (xs: unknown[], type: number) => never): never[] {
    return [a(this.tbl, ARRAY.text), a(this.pk, ARRAY.text), a(this.cid, ARRAY.text), a(this.val, ARRAY.text), a(this.colVersion, ARRAY.int8), a(this.dbVersion, ARRAY.int8), a(this.site, ARRAY.int4), a(this.seq, ARRAY.int4), a(this.sites, ARRAY.text)];
  }
}

/** Site ids as hex, each converted once: a merge's cells share the few site objects of its `SiteOrdinals`. */
class SiteHex {
  private readonly known = new Map<Uint8Array, string>();
  of(site: Uint8Array): string {
    let h = this.known.get(site);
    if (h === undefined) this.known.set(site, (h = hex(site)));
    return h;
  }
}
