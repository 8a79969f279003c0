/**
 * The PostgreSQL the tests use (127.0.0.1:5432, trust auth, database `test`; `.ci/run` starts it),
 * one client per test file, and throwaway schemas named so parallel runs don't collide.
 */
import { randomBytes } from 'node:crypto';
import postgres, { type Sql } from 'postgres';

export const PG_URL = process.env.DDCP_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A client for the test file (end it in `after`). */
export function testClient(max = 4): Sql {
  return postgres(PG_URL, { max, onnotice: () => {} });
}

/** A fresh schema name: `ddcp_hubpg_test_<random>`. */
export const testSchema = (): string => `ddcp_hubpg_test_${randomBytes(6).toString('hex')}`;

/** Drops a test schema and everything in it. */
export async function dropSchema(sql: Sql, schema: string): Promise<void> {
  await sql.unsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
}
