/**
 * What declaring a schema to a hosted database means, whatever stores it: the tables to create and
 * the columns to add so the database holds every declared table, or the {@link SchemaDeclareError}
 * naming the table (and column) that cannot fit. The schema only grows: a declared schema narrower
 * than ours (a client that has not migrated yet) changes nothing.
 */
import { INTERNAL_MARK, INTERNAL_PREFIX, SENTINEL, type TableInfo } from '../../engine/index.ts';
import { SchemaDeclareError } from './errors.ts';

export interface DeclarePlan {
  /** New tables, whole. */
  create: TableInfo[];
  /** New columns of existing tables, in declared order. */
  add: { table: string; columns: string[] }[];
}

const reserved = (name: string): boolean => name.startsWith(INTERNAL_PREFIX) || name.startsWith('sqlite_') || name.includes(INTERNAL_MARK);

/** Checks one declared table on its own: a usable name, a primary key, no column twice. */
function checkTable(t: TableInfo): void {
  const bad = (why: string, column?: string): never => {
    throw new SchemaDeclareError(`table ${t.name}${column === undefined ? '' : `, column ${column}`}: ${why}`, t.name, column);
  };
  if (typeof t.name !== 'string' || t.name === '' || reserved(t.name)) bad('the name is reserved for SQLite or ddcp');
  if (t.pks.length === 0) bad('it has no primary key');
  const seen = new Set<string>();
  for (const c of [...t.pks, ...t.columns]) {
    if (typeof c !== 'string' || c === '' || c === SENTINEL || c.includes(INTERNAL_MARK)) bad('the column name is reserved for ddcp', String(c));
    if (seen.has(c)) bad(t.pks.includes(c) && t.columns.includes(c) ? 'it is declared both as a key column and as a non-key column' : 'it is declared twice', c);
    seen.add(c);
  }
}

/** The plan that makes `ours` hold `declared`; throws {@link SchemaDeclareError} if it cannot. */
export function planDeclare(ours: readonly TableInfo[], declared: readonly TableInfo[]): DeclarePlan {
  const mine = new Map(ours.map((t) => [t.name, t]));
  const plan: DeclarePlan = { create: [], add: [] };
  const names = new Set<string>();
  for (const t of declared) {
    checkTable(t);
    if (names.has(t.name)) throw new SchemaDeclareError(`table ${t.name} is declared twice`, t.name);
    names.add(t.name);
    const m = mine.get(t.name);
    if (!m) {
      plan.create.push({ name: t.name, pks: [...t.pks], columns: [...t.columns] });
      continue;
    }
    if (m.pks.join('\0') !== t.pks.join('\0')) {
      throw new SchemaDeclareError(`table ${t.name} has primary key (${t.pks.join(', ')}) there, (${m.pks.join(', ')}) here`, t.name);
    }
    const cols = new Set(m.columns);
    const added = t.columns.filter((c) => !cols.has(c));
    if (added.length > 0) plan.add.push({ table: t.name, columns: added });
  }
  return plan;
}

/**
 * Checks that `ours` already holds `declared` — for a user who may use the database but not grow its
 * schema — throwing {@link SchemaDeclareError} for a declared schema that cannot fit (as
 * {@link planDeclare}) or names a table or column we don't have.
 */
export function checkHeld(ours: readonly TableInfo[], declared: readonly TableInfo[]): void {
  const plan = planDeclare(ours, declared);
  const t = plan.create[0];
  if (t) throw new SchemaDeclareError(`table ${t.name} is not in its schema`, t.name);
  const a = plan.add[0];
  if (a) throw new SchemaDeclareError(`table ${a.table}, column ${a.columns[0]} is not in its schema`, a.table, a.columns[0]);
}
