/**
 * The PostgreSQL the tests use (127.0.0.1:5432, trust auth, database `test`; `.ci/run` starts it),
 * one client per test file, and throwaway schemas named so parallel runs don't collide.
 */
import { randomBytes } from 'node:crypto';
import { after, before } from 'node:test';
import postgres, { type Sql } from 'postgres';
import { PgHubStore } from '../../src/hub/storage/postgres/store.ts';

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

/**
 * A PostgreSQL hub store in a fresh schema of its own for the surrounding `describe`: opened before
 * its tests, closed and dropped (client ended) after them. `store` is there once `before` ran.
 */
export function storeInOwnSchema(max = 4): { sql: Sql; schema: string; readonly store: PgHubStore } {
  const sql = testClient(max);
  const schema = testSchema();
  let store: PgHubStore | undefined;
  before(async () => {
    store = await PgHubStore.open({ url: sql, schema });
  });
  after(async () => {
    await store?.close();
    await dropSchema(sql, schema);
    await sql.end();
  });
  return {
    sql,
    schema,
    get store(): PgHubStore {
      if (!store) throw new Error('the PostgreSQL store is opened in before()');
      return store;
    },
  };
}
