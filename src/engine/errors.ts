/**
 * The engine's errors: named classes (callers and tests match on `name`), a message that names the
 * cause, and the underlying error as `cause` where there is one.
 */
import { DdcpError } from '../base/errors.ts';

/** A table cannot be made a CRR safely (no primary key, unique index, …). Nothing was changed. */
export class SchemaError extends DdcpError {
  override name = 'SchemaError';
}

/** A change is invalid or doesn't fit our schema (unknown table or column, bad key). Nothing was applied. */
export class ChangeError extends DdcpError {
  override name = 'ChangeError';
}

/**
 * ddcp's own bookkeeping in the database is damaged (a table of it dropped or emptied by another
 * program): refused rather than rebuilt, since new values (a new site id, db_versions from 1) would
 * fork this database's history. Nothing was changed.
 */
export class StateError extends DdcpError {
  override name = 'StateError';
}
