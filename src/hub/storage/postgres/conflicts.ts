/**
 * Conflicts the PostgreSQL store's merges meet, recorded as the engine records them
 * (engine/conflicts.ts): a cell where an incoming value and the one stored have the same col_version
 * and different values. Noted by the merge rules' `onConcurrent` hook, kept in memory (at most the
 * bound), written with one statement in the merge's transaction, which also prunes the database's
 * conflicts to the newest {@link KEEP_CONFLICTS} — the engine's default bound.
 */
import type { Sql } from 'postgres';
import { int64 } from '../../../base/int64.ts';
import { packValue, type CellClock, type Conflict, type IncomingCell, type SqlValue } from '../../../engine/index.ts';
import { bytes, hex, valueOf } from './cells.ts';

/** Conflicts kept per database (the newest), as the engine's DEFAULT_KEEP_CONFLICTS. */
export const KEEP_CONFLICTS = 10_000;

interface Note {
  table: string;
  pk: Uint8Array;
  cid: string;
  localVal: SqlValue;
  localColVersion: bigint;
  localSite: Uint8Array;
  incomingVal: SqlValue;
  incomingColVersion: bigint;
  incomingSite: Uint8Array;
  winner: 'local' | 'incoming';
  dbVersion: number | undefined;
  source: string | undefined;
}

/** One transaction's conflicts, over its merges (each merge's version given when it is known). */
export class ConflictNotes {
  private notes: Note[] = [];
  /** Notes of the current merge, whose version is known only when it ends. */
  private open: Note[] = [];
  private readonly keep: number;

  /** `keep`: the conflicts kept per database (tests give a small one). */
  constructor(keep = KEEP_CONFLICTS) {
    this.keep = keep;
  }

  /** Notes one concurrent cell (the rules' `onConcurrent`); `localSite`: the site of the value stored. */
  note(table: string, pk: Uint8Array, ch: IncomingCell, mine: CellClock, localSite: Uint8Array, current: SqlValue, incomingWins: boolean): void {
    this.open.push({
      table,
      pk,
      cid: ch.cid,
      localVal: current,
      localColVersion: BigInt(mine.colVersion),
      localSite,
      incomingVal: ch.val,
      incomingColVersion: BigInt(ch.colVersion),
      incomingSite: new Uint8Array(ch.siteId),
      winner: incomingWins ? 'incoming' : 'local',
      dbVersion: undefined,
      source: undefined,
    });
  }

  /** Ends the current merge: its notes name `dbVersion` (undefined: it changed nothing) and its `source`. */
  close(dbVersion: number | undefined, source: string | undefined): void {
    for (const n of this.open) this.notes.push({ ...n, dbVersion, source });
    this.open = [];
    if (this.notes.length >= 2 * this.keep) this.notes = this.notes.slice(-this.keep);
  }

  /** Where the current merge's notes stand (before a part of it that may be rolled back). */
  mark(): number {
    return this.open.length;
  }

  /** Drops the notes made since `mark` (that part of the merge was rolled back). */
  rollbackTo(mark: number): void {
    this.open.length = mark;
  }

  /**
   * Inserts the notes and prunes the database's conflicts to the newest `keep`, in
   * the caller's transaction; undefined if there are none (nothing sent).
   */
  write(sql: Sql, schema: string, db: string, at: number): Promise<unknown> | undefined {
    this.open = [];
    if (this.notes.length === 0) return undefined;
    const notes = this.notes.length > this.keep ? this.notes.slice(-this.keep) : this.notes;
    this.notes = [];
    const a = sql.array.bind(sql) as (xs: unknown[], type: number) => never;
    const text = (xs: (string | null)[]): never => a(xs, 1009);
    const packed = (v: SqlValue): string | null => (v === null ? null : hex(packValue(v)));
    return sql.unsafe(
      `WITH i AS (INSERT INTO ${schema}.conflicts (db, at, db_version, source, tbl, pk, cid, local_val, local_col_version, local_site, incoming_val, incoming_col_version, incoming_site, winner)
         SELECT $1, $2, x.v, x.src, x.tbl, decode(x.pk, 'hex'), x.cid, decode(x.lv, 'hex'), x.lcv, decode(x.ls, 'hex'), decode(x.iv, 'hex'), x.icv, decode(x.isite, 'hex'), x.w
         FROM unnest($3::text[], $4::int8[], $5::text[], $6::text[], $7::text[], $8::text[], $9::int8[], $10::text[], $11::text[], $12::int8[], $13::text[], $14::text[])
           WITH ORDINALITY AS x(src, v, tbl, pk, cid, lv, lcv, ls, iv, icv, isite, w, n) ORDER BY x.n)
       DELETE FROM ${schema}.conflicts WHERE db = $1 AND ($15::int8 < 0 OR id < (SELECT id FROM ${schema}.conflicts WHERE db = $1 ORDER BY id DESC OFFSET GREATEST($15::int8, 0) LIMIT 1))`,
      [
        db as never,
        at as never,
        text(notes.map((n) => n.source ?? null)),
        a(notes.map((n) => n.dbVersion ?? null), 1016),
        text(notes.map((n) => n.table)),
        text(notes.map((n) => hex(n.pk))),
        text(notes.map((n) => n.cid)),
        text(notes.map((n) => packed(n.localVal))),
        a(notes.map((n) => n.localColVersion.toString()), 1016),
        text(notes.map((n) => hex(n.localSite))),
        text(notes.map((n) => packed(n.incomingVal))),
        a(notes.map((n) => n.incomingColVersion.toString()), 1016),
        text(notes.map((n) => hex(n.incomingSite))),
        text(notes.map((n) => n.winner)),
        // The DELETE sees the table before the INSERT (one snapshot): keep room for the new rows.
        (this.keep - notes.length - 1) as never,
      ],
    );
  }
}

interface Row {
  id: string;
  at: string;
  db_version: string | null;
  source: string | null;
  tbl: string;
  pk: Buffer;
  cid: string;
  local_val: Buffer | null;
  local_col_version: string;
  local_site: Buffer;
  incoming_val: Buffer | null;
  incoming_col_version: string;
  incoming_site: Buffer;
  winner: string;
}

/** The newest `limit` conflicts of database `db`, newest first, as the engine's `conflicts()` gives them. */
export async function readConflicts(sql: Sql, schema: string, db: string, limit: number): Promise<Conflict[]> {
  const rows = await sql.unsafe<Row[]>(`SELECT * FROM ${schema}.conflicts WHERE db = $1 ORDER BY id DESC LIMIT $2`, [db, limit]);
  return rows.map((r) => ({
    id: Number(r.id),
    at: Number(r.at),
    ...(r.db_version !== null ? { dbVersion: Number(r.db_version) } : {}),
    ...(r.source !== null ? { source: r.source } : {}),
    table: r.tbl,
    pk: new Uint8Array(bytes(r.pk)),
    cid: r.cid,
    local: { value: valueOf(r.local_val), colVersion: int64(BigInt(r.local_col_version)), siteId: new Uint8Array(bytes(r.local_site)) },
    incoming: { value: valueOf(r.incoming_val), colVersion: int64(BigInt(r.incoming_col_version)), siteId: new Uint8Array(bytes(r.incoming_site)) },
    winner: r.winner === 'incoming' ? 'incoming' : 'local',
  }));
}
