/**
 * The plain-SQL half of change tracking. Triggers only append "which row, which operation, which
 * columns" to the table's log — no clocks, no functions — so any SQLite client (the sqlite3 shell,
 * Python, another process) is tracked without loading anything, and an app's write costs one small
 * append. `seal` turns the log into clocks later, in one transaction, under one db_version.
 */
import type { CrrNames } from './names.ts';
import type { TableInfo } from './schema.ts';
import { ident } from './sqlite.ts';

/** Log operations. */
export const Op = { Insert: 1, Update: 2, Delete: 3, UpdateKey: 4 } as const;
export type Op = (typeof Op)[keyof typeof Op];

/** Bits per mask column: SQLite integers are signed 64-bit, keep clear of the sign bit. */
export const MASK_BITS = 62;

export function maskColumnCount(info: TableInfo): number {
  return Math.ceil(info.columns.length / MASK_BITS);
}

const keyCol = (i: number): string => `k${i}`;
const oldKeyCol = (i: number): string => `o${i}`;
const maskCol = (i: number): string => `m${i}`;

/** Log column names: new key columns, old key columns (key updates), change masks. */
export function logColumns(info: TableInfo): { keys: string[]; oldKeys: string[]; masks: string[] } {
  return {
    keys: info.pks.map((_, i) => keyCol(i)),
    oldKeys: info.pks.map((_, i) => oldKeyCol(i)),
    masks: Array.from({ length: maskColumnCount(info) }, (_, i) => maskCol(i)),
  };
}

/** DDL for the bookkeeping tables of a CRR (idempotent). */
export function tablesSql(info: TableInfo, n: CrrNames): string {
  const pkDecl = info.pks.map((p) => ident(p)).join(', ');
  const lc = logColumns(info);
  return `
CREATE TABLE IF NOT EXISTS ${n.pks} (__key INTEGER PRIMARY KEY, ${pkDecl}, UNIQUE (${pkDecl}));
CREATE TABLE IF NOT EXISTS ${n.clock} (
  key INTEGER NOT NULL,
  cid TEXT NOT NULL,
  col_version INTEGER NOT NULL,
  db_version INTEGER NOT NULL,
  site INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  PRIMARY KEY (key, cid)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ${n.clockDbvIndex} ON ${n.clock} (db_version, seq);
${logTableSql(info, n, lc)}`;
}

function logTableSql(info: TableInfo, n: CrrNames, lc = logColumns(info)): string {
  const cols = ['seq INTEGER PRIMARY KEY', 'op INTEGER NOT NULL', ...lc.keys, ...lc.oldKeys, ...lc.masks];
  return `CREATE TABLE IF NOT EXISTS ${n.log} (${cols.join(', ')});`;
}

/** DDL that rebuilds the log table for a changed shape (the log must be empty). */
export function recreateLogSql(info: TableInfo, n: CrrNames): string {
  return `DROP TABLE IF EXISTS ${n.log};\n${logTableSql(info, n)}`;
}

function maskExprs(info: TableInfo): string[] {
  const out: string[] = [];
  for (let m = 0; m * MASK_BITS < info.columns.length; m++) {
    const part = info.columns.slice(m * MASK_BITS, (m + 1) * MASK_BITS);
    out.push(part.map((c, i) => `((NEW.${ident(c)} IS NOT OLD.${ident(c)}) << ${i})`).join(' | '));
  }
  return out;
}

/** DDL for the four tracking triggers. */
export function triggersSql(info: TableInfo, n: CrrNames): string {
  const t = ident(info.name);
  const lc = logColumns(info);
  const newKeys = info.pks.map((p) => `NEW.${ident(p)}`);
  const oldKeys = info.pks.map((p) => `OLD.${ident(p)}`);
  const sameKey = info.pks.map((p) => `NEW.${ident(p)} IS OLD.${ident(p)}`).join(' AND ');
  const masks = maskExprs(info);
  return `
CREATE TRIGGER IF NOT EXISTS ${n.triggers.insert} AFTER INSERT ON ${t} BEGIN
  INSERT INTO ${n.log} (op, ${lc.keys.join(', ')}) VALUES (1, ${newKeys.join(', ')});
END;
CREATE TRIGGER IF NOT EXISTS ${n.triggers.update} AFTER UPDATE ON ${t} WHEN ${sameKey} BEGIN
  INSERT INTO ${n.log} (op, ${[...lc.keys, ...lc.masks].join(', ')}) VALUES (2, ${[...newKeys, ...masks].join(', ')});
END;
CREATE TRIGGER IF NOT EXISTS ${n.triggers.updateKey} AFTER UPDATE ON ${t} WHEN NOT (${sameKey}) BEGIN
  INSERT INTO ${n.log} (op, ${[...lc.keys, ...lc.oldKeys].join(', ')}) VALUES (4, ${[...newKeys, ...oldKeys].join(', ')});
END;
CREATE TRIGGER IF NOT EXISTS ${n.triggers.delete} AFTER DELETE ON ${t} BEGIN
  INSERT INTO ${n.log} (op, ${lc.keys.join(', ')}) VALUES (3, ${oldKeys.join(', ')});
END;`;
}

export function dropTriggersSql(n: CrrNames): string {
  return Object.values(n.triggers)
    .map((trig) => `DROP TRIGGER IF EXISTS ${trig};`)
    .join('\n');
}
