/**
 * The PostgreSQL {@link AdminStore}: tables `admin_tokens` and `admin_sessions` in the auth schema
 * (default `ddcp_hub`), so every hub process on the database accepts the same tokens and sessions.
 * Migrated at open under an advisory lock, like the auth store.
 */
import postgres from 'postgres';
import { DEFAULT_AUTH_SCHEMA } from '../auth/postgres-store.ts';
import type { AdminStore, AdminTokenRecord } from './store.ts';

interface TokenRow { id: string; name: string; hash: Buffer; created_at: string; revoked_at: string | null }

const quote = (name: string): string => `"${name.replaceAll('"', '""')}"`;

export class PostgresAdminStore implements AdminStore {
  readonly #sql: postgres.Sql;

  private constructor(sql: postgres.Sql) {
    this.#sql = sql;
  }

  /** Connects (a small pool: the inspector is used by few) and creates the tables if missing. */
  static async open(url: string, options: { schema?: string; max?: number } = {}): Promise<PostgresAdminStore> {
    const schema = options.schema ?? DEFAULT_AUTH_SCHEMA;
    const sql = postgres(url, { max: options.max ?? 2, onnotice: () => {}, connection: { search_path: schema } });
    try {
      const s = quote(schema);
      await sql.begin(async (tx) => {
        await tx`SELECT pg_advisory_xact_lock(hashtext(${'ddcp_admin:' + schema}))`;
        await tx.unsafe(`
          CREATE SCHEMA IF NOT EXISTS ${s};
          CREATE TABLE IF NOT EXISTS ${s}.admin_tokens (
            id text PRIMARY KEY, name text NOT NULL, hash bytea NOT NULL, created_at bigint NOT NULL, revoked_at bigint);
          CREATE TABLE IF NOT EXISTS ${s}.admin_sessions (
            key text PRIMARY KEY, token_id text NOT NULL, expires_at bigint NOT NULL);`);
      });
      return new PostgresAdminStore(sql);
    } catch (err) {
      await sql.end({ timeout: 1 });
      throw err;
    }
  }

  async addToken(t: AdminTokenRecord): Promise<void> {
    await this.#sql`INSERT INTO admin_tokens (id, name, hash, created_at, revoked_at) VALUES (${t.id}, ${t.name}, ${Buffer.from(t.hash)}, ${t.createdAt}, ${t.revokedAt ?? null})`;
  }

  async token(id: string): Promise<AdminTokenRecord | undefined> {
    const [row] = await this.#sql<TokenRow[]>`SELECT * FROM admin_tokens WHERE id = ${id}`;
    return row && tokenOf(row);
  }

  async tokens(): Promise<AdminTokenRecord[]> {
    return (await this.#sql<TokenRow[]>`SELECT * FROM admin_tokens ORDER BY created_at, id`).map(tokenOf);
  }

  async revokeToken(id: string, at: number): Promise<boolean> {
    return await this.#sql.begin(async (tx) => {
      const rows = await tx`UPDATE admin_tokens SET revoked_at = ${at} WHERE id = ${id} AND revoked_at IS NULL RETURNING 1`;
      await tx`DELETE FROM admin_sessions WHERE token_id = ${id}`;
      return rows.length === 1;
    });
  }

  async addSession(key: string, tokenId: string, expiresAt: number): Promise<void> {
    await this.#sql`INSERT INTO admin_sessions (key, token_id, expires_at) VALUES (${key}, ${tokenId}, ${expiresAt})`;
  }

  async session(key: string, now: number): Promise<string | undefined> {
    const [row] = await this.#sql<{ id: string }[]>`SELECT s.token_id AS id FROM admin_sessions s JOIN admin_tokens t ON t.id = s.token_id
      WHERE s.key = ${key} AND s.expires_at > ${now} AND t.revoked_at IS NULL`;
    return row?.id;
  }

  async removeSession(key: string, now: number): Promise<void> {
    await this.#sql`DELETE FROM admin_sessions WHERE key = ${key} OR expires_at <= ${now}`;
  }

  async close(): Promise<void> {
    await this.#sql.end({ timeout: 5 });
  }
}

function tokenOf(row: TokenRow): AdminTokenRecord {
  return { id: row.id, name: row.name, hash: new Uint8Array(row.hash), createdAt: Number(row.created_at), ...(row.revoked_at !== null && { revokedAt: Number(row.revoked_at) }) };
}
