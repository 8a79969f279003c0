/**
 * Reading and writing one hosted database's cells in PostgreSQL (the `cells` table, see schema.ts):
 * whole rows by key, with a few set-based statements over `unnest` arrays however many rows.
 */
import type { Sql } from 'postgres';
import { packValue, unpackValue, type SqlValue } from '../../../engine/index.ts';
import { rowId, type CellIO, type RowWrite, type StoredCell } from './merge.ts';

/** A bytea parameter (postgres.js serializes Buffers). */
export const bytea = (b: Uint8Array): Buffer => (Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength));

/** A plain Uint8Array view of a Buffer PostgreSQL returned (what the rest of ddcp compares and encodes). */
export const bytes = (b: Buffer): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);

/** Bytes as hex text. */
export const hex = (b: Uint8Array): string => bytea(b).toString('hex');

/** A stored value: packed as cr-sqlite packs a value (NULL: no bytes). */
export const valueOf = (b: Buffer | null): SqlValue => (b === null ? null : unpackValue(bytes(b)));

const ARRAY = { text: 1009, int4: 1007, int8: 1016 } as const;

interface CellRow {
  pk: Buffer;
  cid: string;
  val: Buffer | null;
  col_version: number;
  db_version: number;
  site: Buffer;
  seq: number;
}

/** The merge's I/O for database `db` on `sql` (a transaction's handle). */
export class PgCellIO implements CellIO {
  private readonly sql: Sql;
  private readonly s: string;
  private readonly db: string;
  constructor(sql: Sql, schema: string, db: string) {
    this.sql = sql;
    this.s = schema;
    this.db = db;
  }

  async load(table: string, pks: readonly Uint8Array[]): Promise<Map<string, StoredCell[]>> {
    const out = new Map<string, StoredCell[]>();
    if (pks.length === 0) return out;
    const rows = await this.sql.unsafe<CellRow[]>(
      `SELECT pk, cid, val, col_version::float8 AS col_version, db_version::float8 AS db_version, site, seq
       FROM ${this.s}.cells WHERE db = $1 AND tbl = $2 AND pk IN (SELECT decode(h, 'hex') FROM unnest($3::text[]) h)`,
      [this.db, table, this.sql.array(pks.map(hex) as never[], ARRAY.text)],
    );
    for (const r of rows) {
      const id = rowId(r.pk);
      let cells = out.get(id);
      if (!cells) out.set(id, (cells = []));
      cells.push({ cid: r.cid, val: valueOf(r.val), colVersion: r.col_version, dbVersion: r.db_version, site: bytes(r.site), seq: r.seq });
    }
    return out;
  }

  async save(rows: readonly RowWrite[]): Promise<void> {
    const a = this.sql.array.bind(this.sql) as (xs: unknown[], type: number) => never;
    const cleared = rows.filter((r) => r.cleared);
    if (cleared.length > 0) {
      await this.sql.unsafe(
        `DELETE FROM ${this.s}.cells c USING unnest($2::text[], $3::text[]) AS r(tbl, pk)
         WHERE c.db = $1 AND c.tbl = r.tbl AND c.pk = decode(r.pk, 'hex') AND c.cid <> '-1'`,
        [this.db, a(cleared.map((r) => r.table), ARRAY.text), a(cleared.map((r) => hex(r.pk)), ARRAY.text)],
      );
    }
    // Parallel arrays; bytes as hex text (postgres.js would escape bytea's backslashes one by one),
    // site ids once each and referred to by index.
    const tbl: string[] = [];
    const pk: string[] = [];
    const cid: string[] = [];
    const val: (string | null)[] = [];
    const colVersion: number[] = [];
    const dbVersion: number[] = [];
    const site: number[] = [];
    const seq: number[] = [];
    const sites: string[] = [];
    const siteIndex = new Map<string, number>();
    for (const r of rows) {
      const key = hex(r.pk);
      for (const c of r.cells) {
        tbl.push(r.table);
        pk.push(key);
        cid.push(c.cid);
        val.push(c.val === null ? null : hex(packValue(c.val)));
        colVersion.push(c.colVersion);
        dbVersion.push(c.dbVersion);
        const id = hex(c.site);
        let i = siteIndex.get(id);
        if (i === undefined) {
          siteIndex.set(id, (i = sites.length + 1));
          sites.push(id);
        }
        site.push(i);
        seq.push(c.seq);
      }
    }
    if (tbl.length === 0) return;
    await this.sql.unsafe(
      `INSERT INTO ${this.s}.cells (db, tbl, pk, cid, val, col_version, db_version, site, seq)
       SELECT $1, x.tbl, decode(x.pk, 'hex'), x.cid, decode(x.val, 'hex'), x.cv, x.dv, decode(($10::text[])[x.site], 'hex'), x.seq
       FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::int8[], $7::int8[], $8::int4[], $9::int4[]) AS x(tbl, pk, cid, val, cv, dv, site, seq)
       ON CONFLICT (db, tbl, pk, cid) DO UPDATE SET val = excluded.val, col_version = excluded.col_version,
         db_version = excluded.db_version, site = excluded.site, seq = excluded.seq`,
      [this.db, a(tbl, ARRAY.text), a(pk, ARRAY.text), a(cid, ARRAY.text), a(val, ARRAY.text), a(colVersion, ARRAY.int8), a(dbVersion, ARRAY.int8), a(site, ARRAY.int4), a(seq, ARRAY.int4), a(sites, ARRAY.text)],
    );
  }
}
