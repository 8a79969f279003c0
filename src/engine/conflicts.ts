/**
 * Conflicts a merge saw, kept so people can see values that lost. A conflict is a cell where an
 * incoming change and the value held here have the SAME col_version and DIFFERENT values: two
 * replicas changed the cell from the same base without seeing each other's write, and the
 * tie-break (the greater value) picked one. Recorded whichever side won.
 *
 * Not recorded (the clocks can't tell): an incoming change with a greater col_version replacing a
 * value here that its writer never saw (e.g. one side edited twice, the other once), and a delete
 * at a greater causal length over a concurrent edit. Per-cell counters don't say what the writer
 * had seen, so these are indistinguishable from ordinary sequential overwrites.
 *
 * Recording costs nothing on the merge's common paths: the rules call back only where they compare
 * two different values, notes are buffered (at most the retention bound), and written with
 * multi-row inserts at the end of the merge, in its transaction, which also prunes the table to the
 * newest `keep` rows.
 */
import { inGroups, placeholders, StatementCache } from './bulk.ts';
import type { Sites } from './clock.ts';
import { keepHiddenClasses } from '../base/hidden-classes.ts';
import { packColumns } from './pack.ts';
import type { CellClock, IncomingCell } from './rules.ts';
import type { SqlValue, SqliteConnection } from './sqlite.ts';
import { int64, type Int64 } from '../base/int64.ts';

/** Conflicts kept by default (the newest). */
export const DEFAULT_KEEP_CONFLICTS = 10_000;

export const CONFLICTS_SCHEMA = `
CREATE TABLE IF NOT EXISTS ddcp_conflicts (
  id INTEGER PRIMARY KEY,
  at INTEGER NOT NULL,
  db_version INTEGER,
  source TEXT,
  tbl TEXT NOT NULL,
  pk BLOB NOT NULL,
  cid TEXT NOT NULL,
  local_val,
  local_col_version INTEGER NOT NULL,
  local_site INTEGER NOT NULL,
  incoming_val,
  incoming_col_version INTEGER NOT NULL,
  incoming_site INTEGER NOT NULL,
  winner TEXT NOT NULL
);`;

/** One side of a conflict: a value, its col_version and the site that wrote it. */
export interface ConflictSide {
  value: SqlValue;
  colVersion: Int64;
  /** The site that made the value (16 bytes); this database's own site id for a local write. */
  siteId: Uint8Array;
}

/** A cell where a merge met a concurrent value (see the module comment for the definition). */
export interface Conflict {
  /** Increases with every conflict recorded. */
  id: number;
  /** When the merge ran (ms since the epoch). */
  at: number;
  /** The merge's db_version, or undefined if the merge changed nothing (every incoming value lost). */
  dbVersion?: number;
  /** The merge's source label, as its caller gave it. */
  source?: string;
  table: string;
  /** The primary key, packed as `crsql_pack_columns` packs it. */
  pk: Uint8Array;
  cid: string;
  /** The value this database held when the change arrived. */
  local: ConflictSide;
  /** The value that arrived. */
  incoming: ConflictSide;
  winner: 'local' | 'incoming';
}

interface Note {
  table: string;
  pk: SqlValue[];
  cid: string;
  localVal: SqlValue;
  local: CellClock;
  incoming: IncomingCell;
  /** The incoming change's origin as a local ordinal (a conflict names it, so it is kept). */
  incomingSite: number;
  incomingWins: boolean;
}

/** Rows per multi-row insert (14 parameters each). */
const GROUP = 32;
const COLUMNS = 'at, db_version, source, tbl, pk, cid, local_val, local_col_version, local_site, incoming_val, incoming_col_version, incoming_site, winner';

/** Collects one merge's conflicts; {@link write} stores the newest `keep` of them. */
export class ConflictRecorder {
  private notes: Note[] = [];
  /** Conflicts seen in this merge (also those beyond the retention bound). */
  count = 0;
  private readonly keep: number;

  constructor(keep: number) {
    this.keep = keep;
  }

  note(table: string, pk: SqlValue[], incoming: IncomingCell, incomingSite: () => number, local: CellClock, localVal: SqlValue, incomingWins: boolean): void {
    this.count++;
    if (this.keep === 0) return;
    this.notes.push({ table, pk, cid: incoming.cid, localVal, local, incoming, incomingSite: incomingSite(), incomingWins });
    // Only the newest `keep` can survive the prune: drop older ones in halves, so memory stays bounded.
    if (this.notes.length >= 2 * this.keep) this.notes = this.notes.slice(-this.keep);
  }

  /** A new, empty recorder with the same bound (for part of a merge that may be rolled back). */
  fork(): ConflictRecorder {
    return new ConflictRecorder(this.keep);
  }

  /** Takes over the notes of a fork whose part of the merge was kept. */
  adopt(fork: ConflictRecorder): void {
    for (const n of fork.notes) this.notes.push(n);
    this.count += fork.count;
    if (this.notes.length >= 2 * this.keep) this.notes = this.notes.slice(-this.keep);
  }

  /** Inserts the notes and prunes the table to the newest `keep` rows (inside the merge's transaction). */
  write(db: SqliteConnection, merge: { at: number; dbVersion: number | undefined; source: string | undefined }): void {
    if (this.notes.length === 0) return;
    const notes = this.notes.length > this.keep ? this.notes.slice(-this.keep) : this.notes;
    this.notes = [];
    const cache = new StatementCache(db, (rows) => `INSERT INTO ddcp_conflicts (${COLUMNS}) VALUES ${placeholders(rows, 13)}`);
    const at = BigInt(merge.at);
    const version = merge.dbVersion === undefined ? null : BigInt(merge.dbVersion);
    const source = merge.source ?? null;
    inGroups(
      notes,
      GROUP,
      cache,
      (n) => [
        at,
        version,
        source,
        n.table,
        packColumns(n.pk),
        n.cid,
        n.localVal,
        BigInt(n.local.colVersion),
        BigInt(n.local.site),
        n.incoming.val,
        BigInt(n.incoming.colVersion),
        BigInt(n.incomingSite),
        n.incomingWins ? 'incoming' : 'local',
      ],
      (s, p) => void s.run(...p),
    );
    db.prepare('DELETE FROM ddcp_conflicts WHERE id <= (SELECT max(id) FROM ddcp_conflicts) - ?').run(BigInt(this.keep));
  }
}

// Every merge makes one and drops it (hidden-classes.ts).
keepHiddenClasses(new ConflictRecorder(0));

type Row = [bigint, bigint, bigint | null, string | null, string, Uint8Array, string, SqlValue, bigint, bigint, SqlValue, bigint, bigint, string];

/** The newest recorded conflicts, newest first, optionally of one table. */
export function readConflicts(db: SqliteConnection, sites: Sites, options: { limit: number; table?: string }): Conflict[] {
  const where = options.table !== undefined ? 'WHERE tbl = ?' : '';
  const stmt = db.prepare(`SELECT id, ${COLUMNS} FROM ddcp_conflicts ${where} ORDER BY id DESC LIMIT ?`);
  stmt.setReadBigInts(true);
  stmt.setReturnArrays(true);
  const params: SqlValue[] = options.table !== undefined ? [options.table, BigInt(options.limit)] : [BigInt(options.limit)];
  return (stmt.all(...params) as Row[]).map((r) => ({
    id: Number(r[0]),
    at: Number(r[1]),
    ...(r[2] !== null ? { dbVersion: Number(r[2]) } : {}),
    ...(r[3] !== null ? { source: r[3] } : {}),
    table: r[4],
    pk: new Uint8Array(r[5]),
    cid: r[6],
    local: { value: r[7], colVersion: int64(r[8]), siteId: sites.bytesOf(Number(r[9])) },
    incoming: { value: r[10], colVersion: int64(r[11]), siteId: sites.bytesOf(Number(r[12])) },
    winner: r[13] === 'incoming' ? 'incoming' : 'local',
  }));
}
