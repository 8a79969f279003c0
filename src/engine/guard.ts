/**
 * Merging under a {@link WriteGuard}: changes are grouped by source transaction (origin site id and
 * the db_version the sender stamped them with), and each group is merged in a savepoint, checked, and
 * kept or rolled back whole. A group is refused when one of its changes is of a table or column no
 * rule covers, or when a row it touches failed every rule's `where` before (if the row existed) or
 * fails it after (if the row exists).
 */
import type { Change } from './change.ts';
import type { Sites } from './clock.ts';
import type { ConflictRecorder } from './conflicts.ts';
import { columnsFit, coversColumn, labelOf, rulesOf, type RowRule, type WriteGuard } from './filter.ts';
import type { MergeCounts } from './history.ts';
import { mergeChanges, type MergeResult } from './merge.ts';
import { unpackColumns } from './pack.ts';
import { SENTINEL } from './schema.ts';
import { compareValues } from './value.ts';
import { ident, literal, type SqlValue, type SqliteConnection, type Statement } from './sqlite.ts';
import type { CrrTable } from './table.ts';
import type { StoredReport } from './stored.ts';
import { toHex } from '../base/hex.ts';
import { latin1 } from '../base/portable.ts';
import type { Int64 } from '../base/int64.ts';

/** A source transaction the guard refused: nothing of it was applied. */
export interface Refusal {
  /** The origin site of the refused changes. */
  siteId: Uint8Array;
  /** The db_version the sender gave them (with `siteId`, names the source transaction). */
  dbVersion: Int64;
  /** The first offending change's table and packed primary key. */
  table: string;
  pk: Uint8Array;
  /** The rule (or rules) it broke, by label; `none` when no rule covers the table. */
  rule: string;
  /** One line saying what was refused and why. */
  message: string;
}

interface Group {
  siteId: Uint8Array;
  dbVersion: Int64;
  changes: Change[];
}

/**
 * Splits a stream into source transactions: runs of one db_version, split by origin site, in the
 * order first seen. Only one run is held in memory (a sender streams in db_version order).
 */
export function* sourceTransactions(changes: Iterable<Change>): Generator<Group> {
  let run = new Map<string, Group>();
  let version: Int64 | undefined;
  for (const c of changes) {
    if (c.dbVersion !== version) {
      yield* run.values();
      run = new Map();
      version = c.dbVersion;
    }
    const site = c.siteId instanceof Uint8Array ? toHex(c.siteId) : '';
    let g = run.get(site);
    if (!g) run.set(site, (g = { siteId: c.siteId, dbVersion: c.dbVersion, changes: [] }));
    g.changes.push(c);
  }
  yield* run.values();
}

/** A row a source transaction touches, of a table described by `T`, with the columns it changes there. */
export interface TouchedRowOf<T> {
  table: T;
  pkBytes: Uint8Array;
  pk: SqlValue[];
  /** The columns it changes, with the last value it gives each. */
  columns: Map<string, SqlValue>;
}

type TouchedRow = TouchedRowOf<CrrTable>;

/** SQL text of a key, for messages: `(1, 'a')`. */
export function keyText(pk: readonly SqlValue[]): string {
  const one = (v: SqlValue): string =>
    v === null ? 'NULL' : typeof v === 'string' ? `'${v.replaceAll("'", "''")}'` : v instanceof Uint8Array ? `X'${toHex(v)}'` : String(v);
  return `(${pk.map(one).join(', ')})`;
}


/** Evaluates rule predicates on the current rows (statements cached per table and rule). */
class Predicates {
  private readonly cache = new Map<string, Statement>();
  private readonly db: SqliteConnection;
  private readonly params: Record<string, SqlValue>;
  constructor(db: SqliteConnection, params: Readonly<Record<string, SqlValue>> | undefined) {
    this.db = db;
    this.params = { ...(params ?? {}) };
  }
  private statement(id: string, sql: () => string): Statement {
    let s = this.cache.get(id);
    if (!s) {
      s = this.db.prepare(sql());
      s.setAllowUnknownNamedParameters?.(true);
      s.setReadBigInts(true);
      s.setReturnArrays(true);
      this.cache.set(id, s);
    }
    return s;
  }

  /** The key as named parameters (`:__k0`…), beside the rule's own (positional ones don't mix with names). */
  private bind(pk: SqlValue[]): Record<string, SqlValue> {
    const p = { ...this.params };
    pk.forEach((v, i) => (p[`__k${i}`] = v));
    return p;
  }

  private keyWhere(table: CrrTable): string {
    return table.info.pks.map((p, i) => `${ident(p)} = :__k${i}`).join(' AND ');
  }

  /** undefined: the row doesn't exist; otherwise whether it satisfies `rule.where`. */
  holds(table: CrrTable, rule: RowRule, pk: SqlValue[]): boolean | undefined {
    const s = this.statement(`w\u0000${table.info.name}\u0000${rule.where}`, () => `SELECT CASE WHEN (${rule.where}) THEN 1 ELSE 0 END FROM ${ident(table.info.name)} WHERE ${this.keyWhere(table)}`);
    const r = s.get(this.bind(pk)) as [bigint] | undefined;
    return r === undefined ? undefined : r[0] === 1n;
  }

  /** The row's current value of `cid`, or undefined if the row doesn't exist. */
  current(table: CrrTable, cid: string, pk: SqlValue[]): { value: SqlValue } | undefined {
    const s = this.statement(`v\u0000${table.info.name}\u0000${cid}`, () => `SELECT ${ident(cid)} FROM ${ident(table.info.name)} WHERE ${this.keyWhere(table)}`);
    const r = s.get(this.bind(pk)) as [SqlValue] | undefined;
    return r && { value: r[0] };
  }

  /** The value a new row gets in `cid` when none is given: its DEFAULT, or NULL. */
  fresh(table: CrrTable, cid: string): SqlValue {
    const s = this.statement(`d\u0000${table.info.name}`, () => `SELECT name, dflt_value FROM pragma_table_xinfo(${literal(table.info.name)})`);
    const row = (s.all() as [string, string | null][]).find((r) => r[0] === cid);
    if (!row || row[1] === null) return null;
    return (this.statement(`e\u0000${row[1]}`, () => `SELECT (${row[1]})`).get() as [SqlValue])[0];
  }
}

/**
 * Merges `changes` like {@link mergeChanges}, one source transaction at a time under `guard`. Must run
 * inside a transaction. Changes that are invalid or don't fit our schema still throw (nothing applied).
 */
export function mergeGuarded(
  db: SqliteConnection,
  tables: ReadonlyMap<string, CrrTable>,
  sites: Sites,
  changes: Iterable<Change>,
  version: number,
  conflicts: ConflictRecorder,
  guard: WriteGuard,
  report?: StoredReport,
): MergeResult & { refused: Refusal[] } {
  const total: MergeResult & { refused: Refusal[] } = { received: 0, applied: 0, tables: Object.create(null) as Record<string, MergeCounts>, nextSeq: 0, refused: [] };
  const predicates = new Predicates(db, guard.params);
  const open = new Set(guard.rules.filter((r) => r.columns === undefined && r.where === undefined).map((r) => r.table));
  for (const group of sourceTransactions(changes)) {
    total.received += group.changes.length;
    const refuse = (table: string, pk: Uint8Array, rule: string, why: string): void => {
      total.refused.push({ siteId: group.siteId, dbVersion: group.dbVersion, table, pk, rule, message: why });
    };
    // Tables with a rule that allows everything of them need no row-level checks.
    const rows = group.changes.every((c) => open.has(c.table)) ? [] : touchedRows(tables, (t) => t.info.pks.length, group.changes);
    for (const row of rows) dropNeutral(row, rulesOf(guard.rules, row.table.info.name), predicates);
    // Static rules first: no database work for a table or column nobody may write.
    const candidates = new Map<TouchedRow, RowRule[]>();
    let refused = false;
    for (const row of rows) {
      const fit = columnsFit(guard.rules, row.table.info.name, [...row.columns.keys()]);
      if (!('fits' in fit)) {
        refuse(row.table.info.name, row.pkBytes, fit.rule, `${fit.why} (key ${keyText(row.pk)})`);
        refused = true;
        break;
      }
      candidates.set(row, fit.fits);
    }
    if (refused) continue;
    // The row before: a rule whose predicate the existing row fails can't allow changing it.
    for (const [row, fits] of candidates) {
      const ok = fits.filter((r) => r.where === undefined || predicates.holds(row.table, r, row.pk) !== false);
      if (ok.length === 0) {
        refuse(row.table.info.name, row.pkBytes, fits.map(labelOf).join(' | '), `row ${keyText(row.pk)} of ${row.table.info.name} is outside the write rules before the change`);
        refused = true;
        break;
      }
      candidates.set(row, ok);
    }
    if (refused) continue;
    db.exec('SAVEPOINT ddcp_guard');
    const fork = conflicts.fork();
    let result: MergeResult;
    try {
      result = mergeChanges(tables, sites, group.changes, version, fork, total.nextSeq, report ? { report } : {});
    } catch (err) {
      db.exec('ROLLBACK TO ddcp_guard');
      db.exec('RELEASE ddcp_guard');
      if (report) report.broken = true; // it noted rows now undone
      throw err;
    }
    // The row after: it must satisfy one of the rules still standing (a deleted row has nothing to test).
    let after: string | undefined;
    let offender: TouchedRow | undefined;
    for (const [row, ok] of candidates) {
      if (ok.some((r) => r.where === undefined || predicates.holds(row.table, r, row.pk) !== false)) continue;
      offender = row;
      after = ok.map(labelOf).join(' | ');
      break;
    }
    if (offender) {
      db.exec('ROLLBACK TO ddcp_guard');
      db.exec('RELEASE ddcp_guard');
      sites.reload(); // site ordinals added in the rolled-back savepoint are gone
      if (report) report.broken = true; // it noted rows now undone
      refuse(offender.table.info.name, offender.pkBytes, after!, `row ${keyText(offender.pk)} of ${offender.table.info.name} would be outside the write rules after the change`);
      continue;
    }
    db.exec('RELEASE ddcp_guard');
    conflicts.adopt(fork);
    total.nextSeq = result.nextSeq;
    total.applied += result.applied;
    for (const [name, c] of Object.entries(result.tables)) {
      const t = (total.tables[name] ??= { received: 0, applied: 0 });
      t.received += c.received;
      t.applied += c.applied;
    }
  }
  return total;
}

/**
 * Forgets the cells of columns some rule doesn't cover that leave the value as it is: the value the
 * row has, or for a new row the one it would get anyway (a local INSERT gives every column a clock,
 * so without this no peer limited to some columns could ever insert a row).
 */
function dropNeutral(row: TouchedRow, rules: readonly RowRule[], predicates: Predicates): void {
  for (const [cid, val] of row.columns) {
    if (cid === SENTINEL || rules.every((r) => coversColumn(r, cid))) continue;
    const cur = predicates.current(row.table, cid, row.pk);
    const base = cur ? cur.value : predicates.fresh(row.table, cid);
    if (compareValues(val, base) === 0) row.columns.delete(cid);
  }
}

/**
 * The rows `changes` touch, of tables we have (`keyWidth`: a table's number of key columns), each
 * with the last value a change gives each column. Changes that don't fit are left out, for the merge
 * to reject with the reason. Shared by the engine's guard and the PostgreSQL store's.
 */
export function touchedRows<T>(tables: ReadonlyMap<string, T>, keyWidth: (table: T) => number, changes: readonly Change[]): TouchedRowOf<T>[] {
  const rows = new Map<string, TouchedRowOf<T>>();
  for (const c of changes) {
    const table = tables.get(c.table);
    if (table === undefined || !(c.pk instanceof Uint8Array)) continue;
    const id = `${c.table}\u0000${latin1(c.pk)}`;
    let row = rows.get(id);
    if (!row) {
      let pk: SqlValue[];
      try {
        pk = unpackColumns(c.pk);
      } catch {
        continue;
      }
      if (pk.length !== keyWidth(table)) continue;
      rows.set(id, (row = { table, pkBytes: c.pk, pk, columns: new Map() }));
    }
    row.columns.set(c.cid, c.val);
  }
  return [...rows.values()];
}
