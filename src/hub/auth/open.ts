/**
 * Opening hub authentication where the hub keeps its state: the embedded store in a data folder
 * (with the master key file beside it), or PostgreSQL (the master key from the environment, which
 * every hub on the database shares). What `ddcp hub serve` and `ddcp hub credentials` call.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { HubAuthenticator, type HubAuthOptions } from './authenticator.ts';
import { CredentialError } from './errors.ts';
import { loadMasterKey } from './masterkey.ts';
import { PostgresAuthStore } from './postgres-store.ts';
import { AUTH_DB_FILE, SqliteAuthStore } from './sqlite-store.ts';
import type { AuthStore } from './store.ts';

export interface HubAuthStorage {
  /** The hub's data folder (embedded storage; also where the master key file is, unless the environment gives it). */
  dataDir?: string;
  /** A PostgreSQL URL: all state there (the master key from the environment, or dataDir). */
  databaseUrl?: string;
  /** The PostgreSQL schema of the auth tables. */
  schema?: string;
  /** The environment to read the master key from (default process.env). */
  env?: Record<string, string | undefined>;
  /** Create the data folder and master key file if missing (the hub and `credentials create` do); else a missing folder is an error. */
  create?: boolean;
}

/** Opens the auth store: PostgreSQL if a URL is given, else the data folder's SQLite file. */
export async function openAuthStore(storage: HubAuthStorage): Promise<AuthStore> {
  if (storage.databaseUrl !== undefined) return await PostgresAuthStore.open(storage.databaseUrl, { ...(storage.schema !== undefined && { schema: storage.schema }) });
  if (storage.dataDir === undefined) throw new CredentialError('hub storage needs a data folder or a PostgreSQL URL');
  if (storage.create) mkdirSync(storage.dataDir, { recursive: true, mode: 0o700 });
  else if (!existsSync(join(storage.dataDir, AUTH_DB_FILE))) throw new CredentialError(`no hub credentials in ${storage.dataDir} (none created there yet)`);
  return new SqliteAuthStore(join(storage.dataDir, AUTH_DB_FILE));
}

/** Opens the store and the master key and makes the authenticator; `close` closes the store. */
export async function openHubAuth(storage: HubAuthStorage, options: Omit<HubAuthOptions, 'store' | 'masterKey'> = {}): Promise<{ auth: HubAuthenticator; store: AuthStore; close(): Promise<void> }> {
  const masterKey = loadMasterKey({ ...(storage.env && { env: storage.env }), ...(storage.dataDir !== undefined && { dataDir: storage.dataDir }), create: storage.create ?? false });
  const store = await openAuthStore(storage);
  const auth = new HubAuthenticator({ ...options, store, masterKey });
  return { auth, store, close: () => store.close() };
}
