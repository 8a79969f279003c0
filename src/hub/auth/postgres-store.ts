/**
 * The PostgreSQL {@link AuthStore}: every hub process on one database shares credentials, the replay
 * cache, challenges and enrollments, so any process can serve any client and a signature accepted
 * by one is refused by all. Revocations travel with `NOTIFY` in the revoking transaction (sent only
 * if it commits) and every store `LISTEN`s, its own process included, so listeners fire the same way
 * whoever revoked. The tables live in their own schema (default `ddcp_hub`), migrated at open under an
 * advisory lock so that hubs starting together do not race.
 */
import { EventEmitter } from 'node:events';
import postgres from 'postgres';
import type { AuthStore, CredentialRecord, DeviceRecord, Revocation } from './store.ts';

/** The schema the auth tables live in unless told otherwise. */
export const DEFAULT_AUTH_SCHEMA = 'ddcp_hub';

/** How often expired nonces are swept (ms). */
const SWEEP_MS = 60_000;

export interface PostgresAuthStoreOptions {
  /** The schema of the auth tables (created if missing; default {@link DEFAULT_AUTH_SCHEMA}). */
  schema?: string;
  /** Connections in the pool (default 4). */
  max?: number;
}

interface CredentialRow { key: string; app: string; sealed_secret: Buffer; created_at: string; revoked_at: string | null; idp: string | null }

const quote = (name: string): string => `"${name.replaceAll('"', '""')}"`;

export class PostgresAuthStore implements AuthStore {
  readonly #sql: postgres.Sql;
  readonly #channel: string;
  readonly #events = new EventEmitter();
  #listening: { unlisten(): Promise<void> } | undefined;
  #lastSweep = 0;

  private constructor(sql: postgres.Sql, channel: string) {
    this.#sql = sql;
    this.#channel = channel;
  }

  /** Connects, migrates the schema and starts listening for revocations. */
  static async open(url: string, options: PostgresAuthStoreOptions = {}): Promise<PostgresAuthStore> {
    const schema = options.schema ?? DEFAULT_AUTH_SCHEMA;
    const sql = postgres(url, { max: options.max ?? 4, onnotice: () => {}, connection: { search_path: schema } });
    try {
      await migrate(sql, schema);
      const store = new PostgresAuthStore(sql, `ddcp_auth_revoked_${schema}`.slice(0, 63));
      let first = true;
      const listened = (): void => {
        if (first) first = false;
        else void store.#caughtUp();
      };
      store.#listening = await sql.listen(store.#channel, (payload) => store.#events.emit('revoked', JSON.parse(payload) as Revocation), listened);
      return store;
    } catch (err) {
      await sql.end({ timeout: 1 });
      throw err;
    }
  }

  /**
   * Listening again after the connection dropped: what was revoked meanwhile was never heard (a
   * NOTIFY reaches only who listens then), so every app's sessions are told to check again.
   */
  async #caughtUp(): Promise<void> {
    let apps: Set<string>;
    try {
      apps = new Set((await this.credentials()).map((c) => c.app));
    } catch {
      return; // down again: the next reconnect catches up
    }
    for (const app of apps) this.#events.emit('revoked', { app } satisfies Revocation);
  }

  async addCredential(c: CredentialRecord): Promise<void> {
    await this.#sql`INSERT INTO auth_credentials (key, app, sealed_secret, created_at, revoked_at, idp)
      VALUES (${c.key}, ${c.app}, ${Buffer.from(c.sealedSecret)}, ${c.createdAt}, ${c.revokedAt ?? null}, ${c.idp ? JSON.stringify(c.idp) : null})`;
  }

  async credential(key: string): Promise<CredentialRecord | undefined> {
    const [row] = await this.#sql<CredentialRow[]>`SELECT * FROM auth_credentials WHERE key = ${key}`;
    return row && credentialOf(row);
  }

  async credentials(): Promise<CredentialRecord[]> {
    return (await this.#sql<CredentialRow[]>`SELECT * FROM auth_credentials ORDER BY created_at, key`).map(credentialOf);
  }

  async revokeCredential(key: string, at: number): Promise<Revocation | undefined> {
    return await this.#sql.begin(async (tx) => {
      const [row] = await tx<{ app: string }[]>`UPDATE auth_credentials SET revoked_at = ${at} WHERE key = ${key} AND revoked_at IS NULL RETURNING app`;
      if (!row) return undefined;
      const r: Revocation = { app: row.app, key };
      await tx`SELECT pg_notify(${this.#channel}, ${JSON.stringify(r)})`;
      return r;
    });
  }

  async addNonce(scope: string, nonce: string, expiresAt: number, now: number): Promise<boolean> {
    await this.#sweep(now);
    // An expired entry with the same nonce is taken over; ON CONFLICT makes the claim atomic across processes.
    const rows = await this.#sql`INSERT INTO auth_nonces (scope, nonce, expires_at) VALUES (${scope}, ${nonce}, ${expiresAt})
      ON CONFLICT (scope, nonce) DO UPDATE SET expires_at = excluded.expires_at WHERE auth_nonces.expires_at <= ${now} RETURNING 1`;
    return rows.length === 1;
  }

  async takeNonce(scope: string, nonce: string, now: number): Promise<boolean> {
    const [row] = await this.#sql<{ e: string }[]>`DELETE FROM auth_nonces WHERE scope = ${scope} AND nonce = ${nonce} RETURNING expires_at AS e`;
    return row !== undefined && Number(row.e) > now;
  }

  async enrollDevice(d: DeviceRecord): Promise<boolean> {
    const rows = await this.#sql`INSERT INTO auth_devices (address, app, user_name, created_at) VALUES (${d.address}, ${d.app}, ${d.user}, ${d.createdAt})
      ON CONFLICT (address) DO UPDATE SET user_name = excluded.user_name, created_at = excluded.created_at WHERE auth_devices.app = excluded.app RETURNING 1`;
    return rows.length === 1;
  }

  async removeDevice(address: string, app: string): Promise<boolean> {
    return await this.#sql.begin(async (tx) => {
      const rows = await tx`DELETE FROM auth_devices WHERE address = ${address} AND app = ${app} RETURNING 1`;
      if (rows.length === 0) return false;
      await tx`SELECT pg_notify(${this.#channel}, ${JSON.stringify({ app, address } satisfies Revocation)})`;
      return true;
    });
  }

  async device(address: string): Promise<DeviceRecord | undefined> {
    const [row] = await this.#sql<{ address: string; app: string; user_name: string; created_at: string }[]>`
      SELECT address, app, user_name, created_at FROM auth_devices WHERE address = ${address}`;
    return row && { address: row.address, app: row.app, user: row.user_name, createdAt: Number(row.created_at) };
  }

  async accessChanged(app: string, _at: number): Promise<void> {
    await this.#sql`SELECT pg_notify(${this.#channel}, ${JSON.stringify({ app } satisfies Revocation)})`;
  }

  onRevoked(listener: (r: Revocation) => void): () => void {
    this.#events.on('revoked', listener);
    return () => void this.#events.off('revoked', listener);
  }

  async close(): Promise<void> {
    this.#events.removeAllListeners();
    await this.#listening?.unlisten().catch(() => {});
    await this.#sql.end({ timeout: 5 });
  }

  async #sweep(now: number): Promise<void> {
    if (now - this.#lastSweep < SWEEP_MS) return;
    this.#lastSweep = now;
    await this.#sql`DELETE FROM auth_nonces WHERE expires_at <= ${now}`;
  }
}

/** Creates the schema and tables if missing, one process at a time. */
async function migrate(sql: postgres.Sql, schema: string): Promise<void> {
  const s = quote(schema);
  await sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(hashtext(${'ddcp_auth:' + schema}))`;
    await tx.unsafe(`
      CREATE SCHEMA IF NOT EXISTS ${s};
      CREATE TABLE IF NOT EXISTS ${s}.auth_credentials (
        key text PRIMARY KEY, app text NOT NULL, sealed_secret bytea NOT NULL,
        created_at bigint NOT NULL, revoked_at bigint, idp text);
      CREATE TABLE IF NOT EXISTS ${s}.auth_nonces (
        scope text NOT NULL, nonce text NOT NULL, expires_at bigint NOT NULL, PRIMARY KEY (scope, nonce));
      CREATE TABLE IF NOT EXISTS ${s}.auth_devices (
        address text PRIMARY KEY, app text NOT NULL, user_name text NOT NULL, created_at bigint NOT NULL);`);
  });
}

function credentialOf(row: CredentialRow): CredentialRecord {
  return {
    key: row.key,
    app: row.app,
    sealedSecret: new Uint8Array(row.sealed_secret),
    createdAt: Number(row.created_at),
    ...(row.revoked_at !== null && { revokedAt: Number(row.revoked_at) }),
    ...(row.idp !== null && { idp: JSON.parse(row.idp) }),
  };
}
