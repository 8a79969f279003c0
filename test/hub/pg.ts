/** The test PostgreSQL (127.0.0.1:5432, trust, database `test`) and schema names no other run uses. */
import { randomBytes } from 'node:crypto';

export const PG_URL = process.env.DDCP_TEST_DATABASE_URL ?? 'postgres://127.0.0.1:5432/test';

/** A schema name unique to this run: `hubauth_<what>_<pid>_<random>`. */
export function pgSchemaName(what: string): string {
  return `hubauth_${what}_${process.pid}_${randomBytes(4).toString('hex')}`;
}
