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
