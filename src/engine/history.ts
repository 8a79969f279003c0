/**
 * What each db_version was: a local commit (a seal of writes by any client) or a merge of changes
 * from elsewhere, with counts per table. Kept in `ddcp_versions` beside the time each version was
 * stamped, written in the transaction that stamps it, so history and data never disagree.
 *
 * Versions stamped by a ddcp that didn't keep history yet have only their time (kind NULL): they are
 * listed as `unrecorded`.
 */
import type { SqliteConnection } from './sqlite.ts';

/** Per table, what a local commit did: row operations as logged, and cell clocks stamped. */
export interface CommitCounts {
  /** Rows inserted (a primary-key update counts as a delete and an insert). */
  inserted: number;
  updated: number;
  deleted: number;
  /** Cells (columns of rows) given a new value. */
  cells: number;
}

/** Per table, what a merge did. */
export interface MergeCounts {
  /** Changes received for the table. */
  received: number;
  /** Of those, how many changed something here. */
  applied: number;
}

/** What a db_version was, as recorded when it was stamped. */
export type VersionRecord =
  | { kind: 'commit'; tables: Record<string, CommitCounts> }
  | {
      kind: 'merge';
      /** An opaque label the caller chose (the CLI passes a remote's name, a bundle or `apply (stdin)`). */
      source: string | undefined;
      received: number;
      applied: number;
      /** Cells where the merge compared two concurrent values (see `conflicts.ts`). */
      conflicts: number;
      tables: Record<string, MergeCounts>;
    };

/** One db_version in the history, newest first from {@link readHistory}. */
export type HistoryEntry = { dbVersion: number; /** ms since the epoch. */ at: number } & (
  | VersionRecord
  | { kind: 'unrecorded' }
);

/** Columns added to `ddcp_versions` (which older ddcp versions created with only db_version, at). */
const COLUMNS: [string, string][] = [
  ['kind', 'TEXT'],
  ['source', 'TEXT'],
  ['received', 'INTEGER'],
  ['applied', 'INTEGER'],
  ['conflicts', 'INTEGER'],
  ['tables', 'TEXT'],
];

/** Adds the history columns to `ddcp_versions` if they are missing (inside the caller's transaction). */
export function upgradeHistorySchema(db: SqliteConnection): void {
  const have = new Set((db.prepare('PRAGMA main.table_info(ddcp_versions)').all() as { name: string }[]).map((c) => c.name));
  for (const [name, type] of COLUMNS) if (!have.has(name)) db.exec(`ALTER TABLE ddcp_versions ADD COLUMN ${name} ${type}`);
}

/** The SQL that stamps a version with its time and record: parameters from {@link stampParams}. */
export const STAMP_SQL = 'INSERT OR REPLACE INTO ddcp_versions (db_version, at, kind, source, received, applied, conflicts, tables) VALUES (?, ?, ?, ?, ?, ?, ?, ?)';

export function stampParams(version: number, at: number, r: VersionRecord): (bigint | string | null)[] {
  const merge = r.kind === 'merge';
  return [
    BigInt(version),
    BigInt(at),
    r.kind,
    merge ? (r.source ?? null) : null,
    merge ? BigInt(r.received) : null,
    merge ? BigInt(r.applied) : null,
    merge ? BigInt(r.conflicts) : null,
    JSON.stringify(r.tables),
  ];
}

interface Row {
  db_version: bigint;
  at: bigint;
  kind: string | null;
  source: string | null;
  received: bigint | null;
  applied: bigint | null;
  conflicts: bigint | null;
  tables: string | null;
}

function toEntry(r: Row): HistoryEntry {
  const base = { dbVersion: Number(r.db_version), at: Number(r.at) };
  const tables = r.tables ? (JSON.parse(r.tables) as Record<string, never>) : {};
  if (r.kind === 'commit') return { ...base, kind: 'commit', tables };
  if (r.kind === 'merge') {
    return { ...base, kind: 'merge', source: r.source ?? undefined, received: Number(r.received ?? 0), applied: Number(r.applied ?? 0), conflicts: Number(r.conflicts ?? 0), tables };
  }
  return { ...base, kind: 'unrecorded' };
}

/**
 * History entries, newest first, lazily. `touches(entry)` decides, for `unrecorded` entries (which
 * carry no per-table counts), whether one belongs to the table asked for.
 */
export function* readHistory(db: SqliteConnection, options: { table?: string; touches?: (version: number) => boolean } = {}): Generator<HistoryEntry> {
  const stmt = db.prepare('SELECT db_version, at, kind, source, received, applied, conflicts, tables FROM ddcp_versions ORDER BY db_version DESC');
  stmt.setReadBigInts(true);
  for (const r of stmt.iterate() as Iterable<Row>) {
    const e = toEntry(r);
    if (options.table !== undefined) {
      if (e.kind === 'unrecorded' ? !options.touches?.(e.dbVersion) : !Object.hasOwn(e.tables, options.table)) continue;
    }
    yield e;
  }
}
