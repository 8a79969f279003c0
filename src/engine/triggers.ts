/**
 * The plain-SQL half of change tracking. Triggers only append "which row, which operation, which
 * columns" to the table's log — no clocks, no functions — so any SQLite client (the sqlite3 shell,
 * Python, another process) is tracked without loading anything, and an app's write costs one small
 * append. `seal` turns the log into clocks later, in one transaction, under one db_version.
 */
import { columnAffinities } from './affinity.ts';
import { clockViewSql, KEY_CLOCK_COLUMNS, layoutTablesSql } from './layout.ts';
import type { CrrNames } from './names.ts';
import { INTERNAL_MARK, type TableInfo } from './schema.ts';
import { ident, literal, type SqliteConnection } from './sqlite.ts';

/**
 * Bump when the trigger SQL or the log's shape changes: databases with older triggers get them
 * rebuilt on open (and the log table made anew, its entries kept: {@link upgradeLogSql}).
 * 4: the key-change trigger an UPDATE OF the key (keyChangingColumns). 5: no SQL function in the
 * update trigger (MaskKind `any`).
 */
export const TRIGGERS_VERSION = 5;

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

/**
 * DDL for the bookkeeping tables of a CRR (idempotent). The key map's columns get the affinities of
 * the table's key columns (`pkTypes`), so it compares keys as the table does.
 */
export function tablesSql(info: TableInfo, n: CrrNames, pkTypes: readonly string[] = []): string {
  const lc = logColumns(info);
  return `
${keyMapSql(info, n, pkTypes)}
${layoutTablesSql(n)}
${clockViewSql(info, n)}
${logTableSql(info, n, lc)}`;
}

/**
 * DDL of the key map (idempotent). Keyed by the table's rowid alias ({@link CrrNames.rowidKeyed}),
 * `__key` is the key itself, and the key column a virtual generated column for SQL that names it
 * (it stores nothing); otherwise `__key` numbers the rows and a copy of the key, UNIQUE, maps to it.
 */
export function keyMapSql(info: TableInfo, n: CrrNames, pkTypes: readonly string[] = []): string {
  const clocks = KEY_CLOCK_COLUMNS.map((c) => `${c} INTEGER`).join(', ');
  if (n.rowidKeyed) return `CREATE TABLE IF NOT EXISTS ${n.pks} (__key INTEGER PRIMARY KEY, ${ident(info.pks[0]!)} INTEGER AS (__key) VIRTUAL, ${clocks});`;
  const pkNames = info.pks.map((p) => ident(p)).join(', ');
  const pkDecl = info.pks.map((p, i) => (pkTypes[i] ? `${ident(p)} ${pkTypes[i]}` : ident(p))).join(', ');
  return `CREATE TABLE IF NOT EXISTS ${n.pks} (__key INTEGER PRIMARY KEY, ${pkDecl}, ${clocks}, UNIQUE (${pkNames}));`;
}

/**
 * The log: no constraint besides the rowid. A NOT NULL column (the log had one, on `op`) lets the
 * trigger's INSERT abort, and SQLite then gives every app UPDATE and DELETE a statement journal —
 * a copy of each page the statement touches: ~25 ms per 100,000 single-row statements.
 */
function logTableSql(info: TableInfo, n: CrrNames, lc = logColumns(info), name = n.log): string {
  const cols = ['seq INTEGER PRIMARY KEY', 'op INTEGER', ...lc.keys, ...lc.oldKeys, ...lc.masks];
  return `CREATE TABLE IF NOT EXISTS ${name} (${cols.join(', ')});`;
}

/**
 * DDL that gives a log made by an older ddcp (with `op INTEGER NOT NULL`) today's shape, keeping
 * its entries and their seqs: a repository may be opened with writes not yet sealed. Run with the
 * triggers dropped. Empty if the log is already so.
 */
export function upgradeLogSql(db: SqliteConnection, info: TableInfo, n: CrrNames): string {
  const cols = db.prepare(`PRAGMA main.table_info(${literal(`${info.name}${INTERNAL_MARK}log`)})`).all() as { name: string; notnull: number | bigint }[];
  if (!cols.some((c) => Number(c.notnull) !== 0)) return '';
  const lc = logColumns(info);
  const names = ['seq', 'op', ...lc.keys, ...lc.oldKeys, ...lc.masks].join(', ');
  const tmp = ident(`${info.name}${INTERNAL_MARK}log_new`);
  return `${logTableSql(info, n, lc, tmp)}
INSERT INTO ${tmp} (${names}) SELECT ${names} FROM ${n.log};
DROP TABLE ${n.log};
ALTER TABLE ${tmp} RENAME TO ${n.log};`;
}

/** DDL that rebuilds the log table for a changed shape (the log must be empty). */
export function recreateLogSql(info: TableInfo, n: CrrNames): string {
  return `DROP TABLE IF EXISTS ${n.log};\n${logTableSql(info, n)}`;
}

/**
 * How the update trigger tells a changed value from an unchanged one, by what the column can hold
 * once SQLite has applied its affinity (NEW and OLD in an AFTER trigger are both as stored):
 * - `exact`: TEXT or REAL affinity. Two values `IS` calls equal (bytes compared, BINARY) are of one
 *   storage class: a TEXT column holds no numbers, a REAL column holds every number as REAL.
 * - `integer`: INTEGER or NUMERIC affinity. Numbers are stored as INTEGER when they are integral,
 *   except -2^63 as a REAL (SQLite keeps that one REAL): an INTEGER and a REAL equal to each other
 *   can only both be -2^63, and their text then differs.
 * - `any`: no affinity (BLOB, or ANY in a STRICT table): 2 and 2.0 can both be stored. Two values
 *   `IS` calls equal are of one storage class but for an INTEGER and a REAL of equal value (a REAL
 *   renders with a `.`, an exponent or as `Inf`; equal REALs, -0.0 and 0.0 too, render alike), so
 *   equal numbers (`< ''`: numbers sort before every text) are compared as text — not by `typeof`.
 * All three give exactly what the type-blind test (`IS NOT … OR typeof(NEW.c) <> typeof(OLD.c)`)
 * gives (triggers.test.ts checks it on random values of every storage class), and none calls an SQL
 * function: a function anywhere in a trigger's body costs every firing of it ~0.25 µs (measured),
 * even in a branch never taken, and SQLite then counts every UPDATE of the table (and every upsert)
 * as a statement that may abort after writing, giving each a statement journal (each page it touches
 * copied first): an app's one-column UPDATE of 100,000 rows of untyped columns took 220 ms with
 * `typeof`, 184 without (docs/performance.md, *merge-journal*).
 */
export type MaskKind = 'exact' | 'integer' | 'any';

/** The {@link MaskKind} of each of the table's columns (`info.columns` order). */
export function maskKinds(db: SqliteConnection, info: TableInfo): MaskKind[] {
  return columnAffinities(db, info.name, info.columns).map((a) => (a === 'TEXT' || a === 'REAL' ? 'exact' : a === 'BLOB' ? 'any' : 'integer'));
}

/** 1 if column `c` changed in an update, else 0 (see {@link MaskKind}). */
function changedExpr(c: string, kind: MaskKind): string {
  const nw = `NEW.${ident(c)}`;
  const old = `OLD.${ident(c)}`;
  // `IS NOT` alone would apply the column's collation ('a' = 'A' under NOCASE): compare bytes.
  const differs = `${nw} IS NOT ${old} COLLATE BINARY`;
  switch (kind) {
    case 'exact':
      return `(${differs})`;
    case 'integer':
      return `(CASE WHEN ${differs} THEN 1 WHEN ${nw} < -9223372036854775807 THEN (${nw} || '') IS NOT (${old} || '') ELSE 0 END)`;
    case 'any':
      return `(CASE WHEN ${differs} THEN 1 WHEN ${nw} < '' THEN (${nw} || '') IS NOT (${old} || '') ELSE 0 END)`;
  }
}

function maskExprs(info: TableInfo, kinds: readonly MaskKind[]): string[] {
  const out: string[] = [];
  for (let m = 0; m * MASK_BITS < info.columns.length; m++) {
    const part = info.columns.slice(m * MASK_BITS, (m + 1) * MASK_BITS);
    out.push(part.map((c, i) => `(${changedExpr(c, kinds[m * MASK_BITS + i] ?? 'any')} << ${i})`).join(' | '));
  }
  return out;
}

/**
 * The columns whose naming in an UPDATE's SET can change a row's primary key: the key columns and,
 * for a table keyed by its rowid alias, the rowid's own names (`UPDATE t SET rowid = …` moves the
 * key too). Named in any table (UPDATE OF does not check them against its columns): a name that
 * is no column makes the trigger fire for nothing, which its WHEN then rejects.
 */
function keyChangingColumns(info: TableInfo): string[] {
  const out: string[] = [];
  for (const c of [...info.pks, 'rowid', 'oid', '_rowid_']) if (!out.some((o) => o.toLowerCase() === c.toLowerCase())) out.push(c);
  return out;
}

/** DDL for the four tracking triggers, with the change tests fitted to the table's column types. */
export function trackingSql(db: SqliteConnection, info: TableInfo, n: CrrNames): string {
  return triggersSql(info, n, maskKinds(db, info));
}

/**
 * DDL for the four tracking triggers. Without `kinds` every column's change is tested as `any`
 * (right for every column, slower). The key-change trigger is an `UPDATE OF` the columns that can
 * change the key ({@link keyChangingColumns}): SQLite then leaves it out of every UPDATE that
 * doesn't name one of them — most updates — instead of running it to find its WHEN false (a second
 * trigger program per updated row: ~5–7 ms per 100,000, measured).
 */
export function triggersSql(info: TableInfo, n: CrrNames, kinds: readonly MaskKind[] = []): string {
  const t = ident(info.name);
  const lc = logColumns(info);
  const newKeys = info.pks.map((p) => `NEW.${ident(p)}`);
  const oldKeys = info.pks.map((p) => `OLD.${ident(p)}`);
  const sameKey = info.pks.map((p) => `NEW.${ident(p)} IS OLD.${ident(p)}`).join(' AND ');
  const masks = maskExprs(info, kinds);
  return `
CREATE TRIGGER IF NOT EXISTS ${n.triggers.insert} AFTER INSERT ON ${t} BEGIN
  INSERT INTO ${n.log} (op, ${lc.keys.join(', ')}) VALUES (1, ${newKeys.join(', ')});
END;
CREATE TRIGGER IF NOT EXISTS ${n.triggers.update} AFTER UPDATE ON ${t} WHEN ${sameKey} BEGIN
  INSERT INTO ${n.log} (op, ${[...lc.keys, ...lc.masks].join(', ')}) VALUES (2, ${[...newKeys, ...masks].join(', ')});
END;
CREATE TRIGGER IF NOT EXISTS ${n.triggers.updateKey} AFTER UPDATE OF ${keyChangingColumns(info).map(ident).join(', ')} ON ${t} WHEN NOT (${sameKey}) BEGIN
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

/**
 * Logs what was written while the triggers were off (between begin and commit of an alter), as
 * cr-sqlite's commit_alter backfills it: rows we hold no live clocks for are inserts, rows our clocks
 * call alive but the table lacks are deletes, and a column without a clock in a live row is an update
 * of it where it differs from the column's default. (Updates of columns that already had clocks
 * can't be told apart from old values; cr-sqlite misses them too.)
 */
export function backfillSql(info: TableInfo, n: CrrNames, defaults: ReadonlyMap<string, string | null>): string {
  const t = ident(info.name);
  const lc = logColumns(info);
  const keyMatch = info.pks.map((p) => `p.${n.pkCol(p)} = t.${ident(p)}`).join(' AND ');
  const alive = (key: string): string => `EXISTS (SELECT 1 FROM ${n.clock} c WHERE c.key = ${key} AND (c.cid <> '-1' OR c.col_version % 2 = 1))`;
  const tKeys = info.pks.map((p) => `t.${ident(p)}`).join(', ');
  const pKeys = info.pks.map((p) => `p.${n.pkCol(p)}`).join(', ');
  const out = [
    `INSERT INTO ${n.log} (op, ${lc.keys.join(', ')}) SELECT 1, ${tKeys} FROM ${t} t WHERE NOT EXISTS (SELECT 1 FROM ${n.pks} p WHERE ${keyMatch} AND ${alive('p.__key')});`,
    `INSERT INTO ${n.log} (op, ${lc.keys.join(', ')}) SELECT 3, ${pKeys} FROM ${n.pks} p WHERE ${alive('p.__key')} AND NOT EXISTS (SELECT 1 FROM ${t} t WHERE ${keyMatch});`,
  ];
  info.columns.forEach((col, i) => {
    const mask = lc.masks[Math.floor(i / MASK_BITS)]!;
    const dflt = defaults.get(col) ?? 'NULL';
    out.push(
      `INSERT INTO ${n.log} (op, ${lc.keys.join(', ')}, ${mask}) SELECT 2, ${tKeys}, ${1n << BigInt(i % MASK_BITS)} FROM ${t} t JOIN ${n.pks} p ON ${keyMatch}
       WHERE ${alive('p.__key')} AND NOT EXISTS (SELECT 1 FROM ${n.clock} c WHERE c.key = p.__key AND c.cid = '${col.replaceAll("'", "''")}')
       AND (t.${ident(col)} IS NOT (${dflt}) COLLATE BINARY OR typeof(t.${ident(col)}) <> typeof(${dflt}));`,
    );
  });
  return out.join('\n');
}
