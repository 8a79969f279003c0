/**
 * Rules that limit what a reader receives and what a writer may change: per table, the columns and a
 * row predicate (an SQL expression over the row's columns, with named parameters). The engine only
 * evaluates them; who they are for (peers, policies) is decided above it.
 */
import { ident, literal, type SqlValue } from './sqlite.ts';
import { SENTINEL } from './schema.ts';
import type { CrrTable } from './table.ts';

/** One table's rule: which columns (all if omitted) of which rows (all if `where` is omitted). */
export interface RowRule {
  table: string;
  /** Columns covered; primary-key columns and the row's existence are always covered. */
  columns?: readonly string[];
  /** An SQL expression over the row's columns, e.g. `owner = :peer`. NULL counts as false. */
  where?: string;
  /** How to name the rule in refusals (e.g. the policy's own text). */
  label?: string;
}

/** What a reader may receive: changes of the listed tables only, as their rules allow. */
export interface ReadFilter {
  rules: readonly RowRule[];
  /** Values of the named parameters the `where` expressions use (`{ peer: '12D3…' }` for `:peer`). */
  params?: Readonly<Record<string, SqlValue>>;
}

/**
 * What a writer may change: a change must be of a listed table and covered column, and its row
 * before (if it existed) and after (if it exists) must satisfy the rule's `where`.
 */
export interface WriteGuard {
  rules: readonly RowRule[];
  params?: Readonly<Record<string, SqlValue>>;
}

/** The rules of one table (several rules of a table are alternatives: any one may allow). */
export function rulesOf(rules: readonly RowRule[], table: string): RowRule[] {
  return rules.filter((r) => r.table === table);
}

/** Whether a rule covers column `cid` (the row sentinel is covered by every rule of its table). */
export function coversColumn(rule: RowRule, cid: string): boolean {
  return cid === SENTINEL || rule.columns === undefined || rule.columns.includes(cid);
}

/** How a rule is named in a refusal: its label, else its table, columns and predicate. */
export const labelOf = (r: RowRule): string => r.label ?? `${r.table}${r.columns ? `(${r.columns.join(',')})` : ''}${r.where !== undefined ? ` WHERE ${r.where}` : ''}`;

/**
 * The rules of `table` that cover every one of `columns` (the columns a source transaction changes
 * in one row) — or, when none does, the refusal: the rules tried and why, without looking at any row.
 */
export function columnsFit(rules: readonly RowRule[], table: string, columns: readonly string[]): { fits: RowRule[] } | { rule: string; why: string } {
  const mine = rulesOf(rules, table);
  const fits = mine.filter((r) => columns.every((c) => coversColumn(r, c)));
  if (fits.length > 0) return { fits };
  if (mine.length === 0) return { rule: 'none', why: `table ${table} is not writable` };
  const cols = columns.filter((c) => c !== SENTINEL);
  const bad = cols.find((c) => !mine.some((r) => coversColumn(r, c)));
  return { rule: mine.map(labelOf).join(' | '), why: bad !== undefined ? `column ${table}.${bad} is not writable` : `columns ${cols.join(', ')} of ${table} are not writable together` };
}

/**
 * The SQL condition, over the change query's aliases `c` (clock) and `p` (keys), that keeps the
 * changes `rules` allow of `table`; undefined when they allow everything. The row predicate is
 * evaluated set-based, as one uncorrelated `IN (SELECT keys FROM table WHERE …)` per rule that SQLite
 * computes once per query. A delete (sentinel with an even causal length) is kept whenever the table
 * is: the row is gone, so there is nothing to test, and the delete carries only the key.
 */
export function readCondition(table: CrrTable, rules: readonly RowRule[]): string | undefined {
  const alternatives: string[] = [];
  for (const rule of rules) {
    const parts: string[] = [];
    if (rule.columns !== undefined) {
      const cols = [SENTINEL, ...rule.columns.filter((c) => table.columnSet.has(c))];
      parts.push(`c.cid IN (${cols.map(literal).join(', ')})`);
    }
    if (rule.where !== undefined) parts.push(rowPredicate(table, rule.where, 'p'));
    if (parts.length === 0) return undefined;
    alternatives.push(parts.join(' AND '));
  }
  if (alternatives.length === 0) return '0';
  return `((c.cid = '${SENTINEL}' AND c.col_version % 2 = 0) OR ${alternatives.map((a) => `(${a})`).join(' OR ')})`;
}

/**
 * A rule's `where` as a condition on the row whose key columns the alias `keys` has (the key map's
 * row in the change queries): an uncorrelated `IN (SELECT keys FROM table WHERE …)`, computed once
 * per query.
 */
export function rowPredicate(table: CrrTable, where: string, keys: string): string {
  const { info } = table;
  const names = info.pks.map(ident);
  const own = info.pks.map((p) => `${keys}.${table.names.pkCol(p)}`);
  const outer = own.length === 1 ? own[0]! : `(${own.join(', ')})`;
  return `${outer} IN (SELECT ${names.join(', ')} FROM ${ident(info.name)} WHERE (${where}))`;
}
