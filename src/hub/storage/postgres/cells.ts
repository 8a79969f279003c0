/**
 * Reading and writing one hosted database's cells in PostgreSQL (the `cells` table, see schema.ts):
 * whole rows by key, with a few set-based statements over `unnest` arrays however many rows.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Sql } from 'postgres';
import { int64, type Int64 } from '../../../base/int64.ts';
import { packValue, unpackValue, type SqlValue } from '../../../engine/index.ts';
import { rowId, type CellIO, type RowWrite, type StoredCell } from './merge.ts';

/** A bytea parameter (postgres.js serializes Buffers). */
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

/**
 * The merge's I/O for database `db` on `sql` (a transaction's handle, on one connection).
 *
 * Writes are pipelined: {@link save} sends its statements without waiting for their answers (the
 * connection runs them in order, so a later load sees them), and the caller collects them with
 * {@link written} together with its own last statements and COMMIT — a push costs one round trip
 * for all its writes. Loads given in advance ({@link preload}) go out with the transaction's first
 * statements and answer the merge's first loads, until its first save.
 */
export class PgCellIO implements CellIO {
  private readonly sql: Sql;
  private readonly s: string;
  private readonly db: string;
  private readonly sent: Promise<unknown>[] = [];
  private preloaded: Map<string, { ids: Set<string>; cells: Promise<Map<string, StoredCell[]>> }> | undefined;
  constructor(sql: Sql, schema: string, db: string) {
    this.sql = sql;
    this.s = schema;
    this.db = db;
  }

  /**
   * Sends the loads of these rows now (keys packed as the merge packs them), to be answered from
   * when the merge asks for no other rows before its first save.
   */
  preload(rows: ReadonlyMap<string, readonly Uint8Array[]>): void {
    this.preloaded = new Map();
    for (const [table, pks] of rows) {
      const cells = this.query(table, pks);
      cells.catch(() => {}); // a failed transaction is reported by its lock; this may never be asked for
      this.preloaded.set(table, { ids: new Set(pks.map(rowId)), cells });
    }
  }

  /** Every write sent so far, answered (rejects with the first that failed). */
  async written(): Promise<void> {
    await Promise.all(this.sent);
  }

  private send(q: Promise<unknown> & { execute(): unknown }): void {
    q.execute();
    q.catch(() => {}); // awaited in written(); an unhandled rejection must not end the process first
    this.sent.push(q);
  }

  async load(table: string, pks: readonly Uint8Array[]): Promise<Map<string, StoredCell[]>> {
    const ready = this.preloaded?.get(table);
    if (ready && pks.every((pk) => ready.ids.has(rowId(pk)))) return ready.cells;
    return this.query(table, pks);
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
    this.preloaded = undefined; // what was loaded before is stale from here
    const a = this.sql.array.bind(this.sql) as (xs: unknown[], type: number) => never;
    const cleared = rows.filter((r) => r.cleared);
    if (cleared.length > 0) {
      this.send(this.sql.unsafe(
        `DELETE FROM ${this.s}.cells WHERE ctid = ANY(ARRAY(
           SELECT c.ctid FROM unnest($2::text[], $3::text[]) AS r(tbl, pk),
             LATERAL (SELECT ctid FROM ${this.s}.cells WHERE db = $1 AND tbl = r.tbl AND pk = decode(r.pk, 'hex') AND cid <> '-1' OFFSET 0) c))`,
        [this.db, a(cleared.map((r) => r.table), ARRAY.text), a(cleared.map((r) => hex(r.pk)), ARRAY.text)],
      ));
    }
    // New cells are inserted, stored ones updated: an upsert (ON CONFLICT) costs PostgreSQL about
    // twice a plain INSERT.
    let inserted = 0;
    for (const r of rows) inserted += r.stored.filter((x) => !x).length;
    // Many new cells go in by COPY (a third faster than INSERT from unnest); a few by one INSERT,
    // which is one round trip where COPY takes two and waits on the socket in between.
    const copy = inserted >= COPY_FROM;
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
      await this.written(); // COPY takes the connection to itself
      const into = await this.sql.unsafe(`COPY ${this.s}.cells (db, tbl, pk, cid, val, col_version, db_version, site, seq) FROM STDIN`).writable();
      await pipeline(Readable.from([lines.join('')]), into);
    }
    if (inserts.size > 0) {
      this.send(this.sql.unsafe(
        `INSERT INTO ${this.s}.cells (db, tbl, pk, cid, val, col_version, db_version, site, seq)
         SELECT $1, x.tbl, decode(x.pk, 'hex'), x.cid, decode(x.val, 'hex'), x.cv, x.dv, decode(($10::text[])[x.site], 'hex'), x.seq
         FROM ${UNNEST}`,
        inserts.params(this.db, a),
      ));
    }
    if (updates.size > 0) {
      this.send(this.sql.unsafe(
        `UPDATE ${this.s}.cells c SET val = decode(x.val, 'hex'), col_version = x.cv, db_version = x.dv, site = decode(($10::text[])[x.site], 'hex'), seq = x.seq
         FROM ${UNNEST}
         WHERE c.db = $1 AND c.tbl = x.tbl AND c.pk = decode(x.pk, 'hex') AND c.cid = x.cid`,
        updates.params(this.db, a),
      ));
    }
  }
}

const UNNEST = `unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::int8[], $7::int8[], $8::int4[], $9::int4[]) AS x(tbl, pk, cid, val, cv, dv, site, seq)`;

/** A text field of COPY's text format. */
const copyText = (t: string): string => (/[\\\t\n\r]/.test(t) ? t.replace(/[\\\t\n\r]/g, (ch) => ({ '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' })[ch]!) : t);

/** One cell as a line of COPY's text format (bytea as `\\x` hex, NULL as `\\N`). */
function copyLine(db: string, table: string, pk: string, c: StoredCell, site: string): string {
  const val = c.val === null ? '\\N' : `\\\\x${hex(packValue(c.val))}`;
  return `${db}\t${copyText(table)}\t\\\\x${pk}\t${copyText(c.cid)}\t${val}\t${c.colVersion}\t${c.dbVersion}\t\\\\x${site}\t${c.seq}\n`;
}

/**
 * Cells as the parallel arrays of {@link UNNEST} ($2…$9) — bytes as hex text (postgres.js would
 * escape bytea's backslashes one by one) — and the site ids, once each, referred to by index ($10).
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

  params(db: string, a: (xs: unknown[], type: number) => never): never[] {
    return [db as never, a(this.tbl, ARRAY.text), a(this.pk, ARRAY.text), a(this.cid, ARRAY.text), a(this.val, ARRAY.text), a(this.colVersion, ARRAY.int8), a(this.dbVersion, ARRAY.int8), a(this.site, ARRAY.int4), a(this.seq, ARRAY.int4), a(this.sites, ARRAY.text)];
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
