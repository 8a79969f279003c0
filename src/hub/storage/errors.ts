/** The hub storage's errors, and the rule for database names (the same for every store). */
import { DdcpError } from '../../base/errors.ts';

/** A hub store failed (its cause says how). */
export class HubStoreError extends DdcpError {
  override name = 'HubStoreError';
}

/** A database name that is not valid (see {@link checkDatabaseName}). */
export class DatabaseNameError extends HubStoreError {
  override name = 'DatabaseNameError';
}

/** A declared schema does not fit the database's: names the table and, where it is one, the column. */
export class SchemaDeclareError extends HubStoreError {
  override name = 'SchemaDeclareError';
  readonly table: string;
  readonly column: string | undefined;
  constructor(message: string, table: string, column?: string) {
    super(message);
    this.table = table;
    this.column = column;
  }
}

/** Database names: a URL path segment and a file name on every system. */
const NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;

/** Throws {@link DatabaseNameError} unless `name` is 1–63 of a–z, 0–9, '_' and '-', starting with a letter or digit. */
export function checkDatabaseName(name: string): void {
  if (!NAME.test(name)) throw new DatabaseNameError(`invalid database name ${JSON.stringify(name)}: use 1-63 of a-z, 0-9, '_' and '-', starting with a letter or digit`);
}
