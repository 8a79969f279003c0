/**
 * Merging under a pusher's write guard, as the engine does (engine/guard.ts mergeGuarded): source
 * transaction by source transaction, each refused whole when one of its changes is of a table or
 * column no rule covers, or a row it touches fails every rule's `where` before or after the change;
 * the others merge (into one db_version, seqs continuing). The same checks, in the same order, with
 * the same messages; the rows' states come from PostgreSQL, the predicates run in SQLite
 * (predicates.ts), and a refused transaction is rolled back to a savepoint.
 */
import type { Sql } from 'postgres';
import { isEven } from '../../../base/int64.ts';
import {
  columnsFit,
  compareValues,
  coversColumn,
  keyText,
  labelOf,
  rulesOf,
  SENTINEL,
  sourceTransactions,
  touchedRows,
  type Change,
  type Refusal,
  type RowRule,
  type SqlValue,
  type TableInfo,
  type TouchedRowOf,
  type WriteGuard,
} from '../../../engine/index.ts';
import type { ConflictNotes } from './conflicts.ts';
import { mergeCells, rowId, type CellIO, type MergeResult, type SiteOrdinals, type StoredCell } from './merge.ts';
import type { ScratchPredicates } from './predicates.ts';

type TouchedRow = TouchedRowOf<TableInfo>;

/** A row's state as a predicate sees it: undefined if the row doesn't exist. */
type RowNow = ReadonlyMap<string, SqlValue> | undefined;

/** The current state of `rows` (a row exists while its causal length is odd). */
async function rowsNow(io: CellIO, rows: readonly TouchedRow[]): Promise<Map<TouchedRow, RowNow>> {
  const byTable = new Map<string, TouchedRow[]>();
  for (const r of rows) {
    let list = byTable.get(r.table.name);
    if (!list) byTable.set(r.table.name, (list = []));
    list.push(r);
  }
  const out = new Map<TouchedRow, RowNow>();
  for (const [table, list] of byTable) {
    const loaded = await io.load(table, list.map((r) => r.pkBytes));
    for (const r of list) out.set(r, stateOf(loaded.get(rowId(r.pkBytes))));
  }
  return out;
}

function stateOf(cells: readonly StoredCell[] | undefined): RowNow {
  if (!cells || cells.length === 0) return undefined;
  const sentinel = cells.find((c) => c.cid === SENTINEL);
  if (sentinel && isEven(sentinel.colVersion)) return undefined;
  return new Map(cells.filter((c) => c.cid !== SENTINEL).map((c) => [c.cid, c.val]));
}

/** Whether the row satisfies the rule's `where`; undefined when the row doesn't exist. */
function holds(predicates: ScratchPredicates, guard: WriteGuard, row: TouchedRow, rule: RowRule, now: RowNow): boolean | undefined {
  if (now === undefined) return undefined;
  return predicates.test(row.table, rule.where!, guard.params, [{ pk: row.pk, values: now }])[0];
}

/**
 * Forgets the cells of columns some rule doesn't cover that leave the value as it is (the row's
 * value, or NULL for a new row: the hub's tables have no defaults).
 */
function dropNeutral(row: TouchedRow, rules: readonly RowRule[], now: RowNow): void {
  for (const [cid, val] of row.columns) {
    if (cid === SENTINEL || rules.every((r) => coversColumn(r, cid))) continue;
    const base = now ? (now.get(cid) ?? null) : null;
    if (compareValues(val, base) === 0) row.columns.delete(cid);
  }
}

/**
 * Merges `changes` at `version` under `guard`, inside the transaction open on `tx` (a reserved
 * connection). `io(sql)` gives the cell I/O on it.
 */
export async function mergeGuardedCells(
  tx: Sql,
  io: (sql: Sql) => CellIO,
  tables: ReadonlyMap<string, TableInfo>,
  sites: SiteOrdinals,
  changes: Iterable<Change>,
  version: number,
  guard: WriteGuard,
  predicates: ScratchPredicates,
  conflicts?: ConflictNotes,
): Promise<MergeResult & { refused: Refusal[] }> {
  const total: MergeResult & { refused: Refusal[] } = { received: 0, applied: 0, nextSeq: 0, refused: [] };
  const open = new Set(guard.rules.filter((r) => r.columns === undefined && r.where === undefined).map((r) => r.table));
  const txIO = io(tx);
  for (const group of sourceTransactions(changes)) {
    total.received += group.changes.length;
    const refuse = (table: string, pk: Uint8Array, rule: string, why: string): void => {
      total.refused.push({ siteId: group.siteId, dbVersion: group.dbVersion, table, pk, rule, message: why });
    };
    const rows = group.changes.every((c) => open.has(c.table)) ? [] : touchedRows(tables, (t) => t.pks.length, group.changes);
    const before = await rowsNow(txIO, rows);
    for (const row of rows) dropNeutral(row, rulesOf(guard.rules, row.table.name), before.get(row));
    // Static rules first.
    const candidates = new Map<TouchedRow, RowRule[]>();
    let refused = false;
    for (const row of rows) {
      const fit = columnsFit(guard.rules, row.table.name, [...row.columns.keys()]);
      if (!('fits' in fit)) {
        refuse(row.table.name, row.pkBytes, fit.rule, `${fit.why} (key ${keyText(row.pk)})`);
        refused = true;
        break;
      }
      candidates.set(row, fit.fits);
    }
    if (refused) continue;
    // The row before.
    for (const [row, fits] of candidates) {
      const ok = fits.filter((r) => r.where === undefined || holds(predicates, guard, row, r, before.get(row)) !== false);
      if (ok.length === 0) {
        refuse(row.table.name, row.pkBytes, fits.map(labelOf).join(' | '), `row ${keyText(row.pk)} of ${row.table.name} is outside the write rules before the change`);
        refused = true;
        break;
      }
      candidates.set(row, ok);
    }
    if (refused) continue;
    // Merge in a savepoint; the row after must satisfy a rule still standing.
    await tx.unsafe('SAVEPOINT ddcp_guard');
    const mark = conflicts?.mark() ?? 0;
    const result = await mergeCells(txIO, tables, sites, group.changes, version, total.nextSeq, conflicts).catch(async (err: unknown) => {
      await tx.unsafe('ROLLBACK TO SAVEPOINT ddcp_guard');
      throw err;
    });
    const after = await rowsNow(txIO, [...candidates.keys()]);
    let offender: [TouchedRow, RowRule[]] | undefined;
    for (const [row, ok] of candidates) {
      if (ok.some((r) => r.where === undefined || holds(predicates, guard, row, r, after.get(row)) !== false)) continue;
      offender = [row, ok];
      break;
    }
    if (offender) {
      const [row, ok] = offender;
      await tx.unsafe('ROLLBACK TO SAVEPOINT ddcp_guard');
      await tx.unsafe('RELEASE SAVEPOINT ddcp_guard');
      conflicts?.rollbackTo(mark);
      refuse(row.table.name, row.pkBytes, ok.map(labelOf).join(' | '), `row ${keyText(row.pk)} of ${row.table.name} would be outside the write rules after the change`);
      continue;
    }
    await tx.unsafe('RELEASE SAVEPOINT ddcp_guard');
    total.nextSeq = result.nextSeq;
    total.applied += result.applied;
  }
  return total;
}
