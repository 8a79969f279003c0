/**
 * Opening the admin store where the hub keeps its auth state: the data folder's `auth.db`, or the
 * PostgreSQL auth schema. What `ddcp hub serve` and `ddcp hub admin-token` call.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { HubAuthStorage } from '../auth/open.ts';
import { AUTH_DB_FILE } from '../auth/sqlite-store.ts';
import { AdminTokenError } from './errors.ts';
import { PostgresAdminStore } from './postgres-store.ts';
import { SqliteAdminStore } from './sqlite-store.ts';
import type { AdminStore } from './store.ts';

/** Opens the admin store: PostgreSQL if a URL is given, else the data folder's auth.db. */
export async function openAdminStore(storage: Pick<HubAuthStorage, 'dataDir' | 'databaseUrl' | 'schema' | 'create'>): Promise<AdminStore> {
  if (storage.databaseUrl !== undefined) return await PostgresAdminStore.open(storage.databaseUrl, { ...(storage.schema !== undefined && { schema: storage.schema }) });
  if (storage.dataDir === undefined) throw new AdminTokenError('hub storage needs a data folder or a PostgreSQL URL');
  const path = join(storage.dataDir, AUTH_DB_FILE);
  if (storage.create) mkdirSync(storage.dataDir, { recursive: true, mode: 0o700 });
  else if (!existsSync(path)) throw new AdminTokenError(`no hub in ${storage.dataDir} (no ${AUTH_DB_FILE} there yet)`);
  return new SqliteAdminStore(path);
}
