/** Both auth stores pass the conformance suite: SQLite (two connections on one file) and PostgreSQL (two pools on one schema). */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { PostgresAuthStore } from '../../src/hub/auth/postgres-store.ts';
import { SqliteAuthStore } from '../../src/hub/auth/sqlite-store.ts';
import { authStoreSuite } from './auth-store-suite.ts';
import { PG_URL, pgSchemaName } from './pg.ts';

authStoreSuite('SQLite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ddcp-auth-store-'));
  return {
    open: async () => new SqliteAuthStore(join(dir, 'auth.db'), { pollMs: 20 }),
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  };
});

authStoreSuite('PostgreSQL', async () => {
  const schema = pgSchemaName('store');
  return {
    open: () => PostgresAuthStore.open(PG_URL, { schema, max: 2 }),
    cleanup: async () => {
      const sql = postgres(PG_URL, { max: 1, onnotice: () => {} });
      await sql.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await sql.end();
    },
  };
});
