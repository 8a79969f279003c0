/** The hub store conformance suite over the PostgreSQL store (a throwaway schema per test). */
import { after } from 'node:test';
import { PgHubStore } from '../src/hub/storage/postgres/store.ts';
import { runHubStoreTests } from './support/hub-store-suite.ts';
import { dropSchema, testClient, testSchema } from './support/postgres.ts';

const sql = testClient();
after(() => sql.end());

runHubStoreTests('postgres', async () => {
  const schema = testSchema();
  return { open: async () => PgHubStore.open({ url: sql, schema }), cleanup: async () => dropSchema(sql, schema) };
});
