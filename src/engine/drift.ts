/**
 * Schema drift: a CRR changed by a program that doesn't know about ddcp (the sqlite3 shell, an app's
 * migration) — dropped, renamed, dropped and created again, or given other columns without
 * `crsql_begin_alter`. SQLite drops a table's triggers with it and moves them with a rename, but
 * leaves ddcp's per-table tables behind, so without this every later read of the CRRs failed with
 * `no such table`. The engine looks for drift on open and whenever the schema changes, and repairs
 * it (see Engine's reconcile): a table that is gone, or can no longer be a CRR as it was, stops being
 * tracked; one that is still a CRR with the same primary key is tracked again in its new shape, as
 * `crsql_commit_alter` would. Each repair is reported in one line.
 *
 * The shape the tracking triggers were made for is kept in `ddcp_state` (`crr_shape:<table>`), since
 * the log's change masks are column positions in that shape.
 */
import { SchemaError } from './errors.ts';
import { crrNames } from './names.ts';
import { checkCrrTable, INTERNAL_MARK, introspect, type TableInfo } from './schema.ts';
import type { SqliteConnection } from './sqlite.ts';
import { dropTriggersSql } from './triggers.ts';

export type Drift =
  /** The table is gone. */
  | { kind: 'dropped'; table: string }
  /** The table was renamed to `to` (its triggers went with it). */
  | { kind: 'renamed'; table: string; to: string }
  /** Still a CRR with the same primary key; `before` is the shape its tracking was made for. */
  | { kind: 'changed'; table: string; before: TableInfo; now: TableInfo }
  /** The table is there but can't be a CRR as it was (`reason`). */
  | { kind: 'unfit'; table: string; reason: string };

const SHAPE_KEY = (table: string): string => `crr_shape:${table}`;

/** The shape the tracking of `table` was made for, if recorded. */
export function storedShape(db: SqliteConnection, table: string): TableInfo | undefined {
  const r = db.prepare('SELECT value FROM ddcp_state WHERE key = ?').get(SHAPE_KEY(table)) as { value: string } | undefined;
  if (!r) return undefined;
  const { pks, columns } = JSON.parse(String(r.value)) as { pks: string[]; columns: string[] };
  return { name: table, pks, columns };
}

export function storeShape(db: SqliteConnection, info: TableInfo): void {
  db.prepare('INSERT OR REPLACE INTO ddcp_state (key, value) VALUES (?, ?)').run(SHAPE_KEY(info.name), JSON.stringify({ pks: info.pks, columns: info.columns }));
}

const sameShape = (a: TableInfo, b: TableInfo): boolean => a.pks.join('\0') === b.pks.join('\0') && a.columns.join('\0') === b.columns.join('\0');

/** The trigger names of a CRR, unquoted (as sqlite_master has them). */
function triggerNames(table: string): string[] {
  return ['ins', 'upd', 'updkey', 'del'].map((s) => `${table}${INTERNAL_MARK}${s}`);
}

/**
 * Every CRR (not being altered) whose table no longer matches its tracking. `untracked`: the database
 * is kept without tracking triggers (a merge-only engine's, see {@link isMergeOnly}), so a CRR with
 * none is as it should be.
 */
export function findDrift(db: SqliteConnection, untracked = false): Drift[] {
  const out: Drift[] = [];
  const crrs = db.prepare('SELECT tbl FROM ddcp_crrs WHERE altering = 0 ORDER BY tbl').all() as { tbl: string }[];
  const triggersOf = db.prepare(`SELECT name, tbl_name FROM main.sqlite_master WHERE type = 'trigger' AND name IN (?, ?, ?, ?)`);
  const exists = db.prepare(`SELECT 1 FROM main.sqlite_master WHERE type = 'table' AND name = ?`);
  for (const { tbl } of crrs) {
    const triggers = triggersOf.all(...triggerNames(tbl)) as { name: string; tbl_name: string }[];
    if (!exists.get(tbl)) {
      const moved = triggers.find((t) => t.tbl_name !== tbl);
      out.push(moved ? { kind: 'renamed', table: tbl, to: moved.tbl_name } : { kind: 'dropped', table: tbl });
      continue;
    }
    const before = storedShape(db, tbl);
    const tracked = untracked ? triggers.length === 0 : triggers.length === 4 && triggers.every((t) => t.tbl_name === tbl);
    const current = introspect(db, tbl);
    if (!before && tracked) {
      storeShape(db, current); // made by a ddcp that didn't record shapes: the triggers match the table
      continue;
    }
    if (before && tracked && sameShape(before, current)) continue;
    // Drifted: only now ask whether it can still be a CRR (an untouched CRR is never re-judged).
    let now: TableInfo;
    try {
      now = checkCrrTable(db, tbl);
    } catch (err) {
      if (!(err instanceof SchemaError)) throw err;
      out.push({ kind: 'unfit', table: tbl, reason: err.message });
      continue;
    }
    const was = before ?? now;
    if (was.pks.join('\0') !== now.pks.join('\0')) {
      out.push({ kind: 'unfit', table: tbl, reason: `its primary key changed (was ${was.pks.join(', ')}, now ${now.pks.join(', ')})` });
      continue;
    }
    out.push({ kind: 'changed', table: tbl, before: was, now });
  }
  return out;
}

/** What a repair of `d` is reported as (one line). */
export function driftNotice(d: Drift): string {
  switch (d.kind) {
    case 'dropped':
      return `table ${d.table} was dropped by another program; its tracking was removed (its changes no longer sync, and peers' changes for it are refused)`;
    case 'renamed':
      return `table ${d.table} was renamed to ${d.to} by another program; it is no longer tracked (${d.to} is a plain table now: SELECT crsql_as_crr('${d.to}') tracks it afresh)`;
    case 'unfit':
      return `table ${d.table} was changed by another program so that it can no longer be a CRR as it was (${d.reason}); it is no longer tracked`;
    case 'changed': {
      const gone = d.before.columns.filter((c) => !d.now.columns.includes(c));
      const added = d.now.columns.filter((c) => !d.before.columns.includes(c));
      const what = gone.length + added.length === 0 ? 'created again or its tracking triggers removed' : `columns ${[...gone.map((c) => `-${c}`), ...added.map((c) => `+${c}`)].join(' ')}`;
      return `table ${d.table} was changed by another program (${what}); its tracking was updated, as crsql_commit_alter would`;
    }
  }
}

/** SQL that stops tracking `table`: its triggers (wherever a rename took them) and ddcp's tables for it. The table itself is left alone. */
export function untrackSql(table: string): string {
  const n = crrNames(table);
  return `${dropTriggersSql(n)}
DROP TABLE IF EXISTS ${n.pks};
DROP VIEW IF EXISTS ${n.clock};
DROP TABLE IF EXISTS ${n.cells};
DROP TABLE IF EXISTS ${n.sentinels};
DROP TABLE IF EXISTS ${n.log};`;
}

const MERGE_ONLY_KEY = 'merge_only';

/** The database's CRRs are kept without tracking triggers: the last engine to fit them was merge-only (EngineOptions.mergeOnly). */
export function isMergeOnly(db: SqliteConnection): boolean {
  return db.prepare('SELECT 1 FROM ddcp_state WHERE key = ?').get(MERGE_ONLY_KEY) !== undefined;
}

/** Records whether the CRRs are kept without tracking triggers (see {@link isMergeOnly}). */
export function markMergeOnly(db: SqliteConnection, on: boolean): void {
  if (on) db.prepare('INSERT OR REPLACE INTO ddcp_state (key, value) VALUES (?, 1)').run(MERGE_ONLY_KEY);
  else db.prepare('DELETE FROM ddcp_state WHERE key = ?').run(MERGE_ONLY_KEY);
}

/** Forgets a table that is no longer tracked (after {@link untrackSql}). */
export function forgetCrr(db: SqliteConnection, table: string): void {
  db.prepare('DELETE FROM ddcp_crrs WHERE tbl = ?').run(table);
  db.prepare('DELETE FROM ddcp_state WHERE key = ?').run(SHAPE_KEY(table));
}
