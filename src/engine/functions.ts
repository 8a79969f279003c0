/**
 * cr-sqlite's SQL functions on a connection, so scripts written for cr-sqlite run unchanged:
 * `crsql_as_crr`, `crsql_as_table`, `crsql_begin_alter`, `crsql_commit_alter`, `crsql_site_id()`, `crsql_db_version()`
 * and `crsql_pack_columns(…)`. Only connections that want them need them: tracking itself is plain SQL.
 */
import type { Engine } from './engine.ts';
import { packColumns } from './pack.ts';
import type { SqlValue } from './sqlite.ts';

export function registerFunctions(engine: Engine): void {
  const db = engine.db;
  const table = (name: string, v: unknown): string => {
    if (typeof v !== 'string' || v === '') throw new TypeError(`${name}() takes a table name`);
    return v;
  };
  db.function('crsql_as_crr', { directOnly: true }, (t: unknown) => {
    engine.asCrr(table('crsql_as_crr', t));
    return 'OK';
  });
  db.function('crsql_begin_alter', { directOnly: true }, (t: unknown) => {
    engine.beginAlter(table('crsql_begin_alter', t));
    return 'OK';
  });
  db.function('crsql_commit_alter', { directOnly: true }, (t: unknown) => {
    engine.commitAlter(table('crsql_commit_alter', t));
    return 'OK';
  });
  db.function('crsql_as_table', { directOnly: true }, (t: unknown) => {
    engine.untrack(table('crsql_as_table', t));
    return 'OK';
  });
  db.function('crsql_site_id', { deterministic: true }, () => engine.siteId);
  db.function('crsql_db_version', {}, () => BigInt(engine.currentDbVersion()));
  db.function('crsql_pack_columns', { deterministic: true, varargs: true, useBigIntArguments: true }, (...values: SqlValue[]) => packColumns(values));
}
