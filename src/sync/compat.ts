/** Whether changes from one CRR schema fit another. */
import { SENTINEL, type TableInfo } from '../engine/schema.ts';

/**
 * Why changes made under `theirs` would not fit `ours`, or undefined if they do: every table of
 * theirs must be a CRR here with the same primary key, and every column of theirs must exist here
 * (we may have more columns: a peer that hasn't migrated yet still syncs).
 */
export function schemaMismatch(ours: readonly TableInfo[], theirs: readonly TableInfo[]): string | undefined {
  const mine = new Map(ours.map((t) => [t.name, t]));
  for (const t of theirs) {
    const m = mine.get(t.name);
    if (!m) return `table ${t.name} is not a CRR here`;
    if (m.pks.join('\0') !== t.pks.join('\0')) return `table ${t.name} has primary key (${t.pks.join(', ')}) there, (${m.pks.join(', ')}) here`;
    const cols = new Set(m.columns);
    const missing = t.columns.filter((c) => !cols.has(c));
    if (missing.length > 0) return `table ${t.name} lacks column${missing.length > 1 ? 's' : ''} ${missing.join(', ')} here`;
  }
  return undefined;
}

/**
 * A check of single changes against `ours`: what a change does not fit (a table or column we lack,
 * named), or undefined if it fits.
 */
export function changeFit(ours: readonly TableInfo[]): (c: { table: string; cid: string }) => string | undefined {
  const tables = new Map(ours.map((t) => [t.name, new Set(t.columns)]));
  return (c) => {
    const cols = tables.get(c.table);
    if (!cols) return `table ${c.table}, which is not a CRR here`;
    if (c.cid !== SENTINEL && !cols.has(c.cid)) return `column ${c.table}.${c.cid}, which this database lacks`;
    return undefined;
  };
}
