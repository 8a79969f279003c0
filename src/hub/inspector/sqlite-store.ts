/**
 * The embedded {@link AdminStore}: two tables in the hub's `auth.db` (its own connection; WAL lets
 * `ddcp hub admin-token` write while the hub runs, and the hub reads every check fresh, so a
 * revocation holds from the next request).
 */
import { openDatabase, type SqliteConnection } from '../../engine/index.ts';
import type { AdminStore, AdminTokenRecord } from './store.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS admin_tokens (
  id TEXT PRIMARY KEY, name TEXT NOT NULL, hash BLOB NOT NULL, created_at INTEGER NOT NULL, revoked_at INTEGER
) STRICT;
CREATE TABLE IF NOT EXISTS admin_sessions (
  key TEXT PRIMARY KEY, token_id TEXT NOT NULL, expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;`;

interface TokenRow { id: string; name: string; hash: Uint8Array; created_at: number; revoked_at: number | null }

export class SqliteAdminStore implements AdminStore {
  readonly #db: SqliteConnection;

  /** Opens (creating the tables if needed) the store in the SQLite file at `path`. */
  constructor(path: string) {
    this.#db = openDatabase(path);
    this.#db.exec(SCHEMA);
  }

  async addToken(t: AdminTokenRecord): Promise<void> {
    this.#db.prepare('INSERT INTO admin_tokens (id, name, hash, created_at, revoked_at) VALUES (?, ?, ?, ?, ?)').run(t.id, t.name, t.hash, t.createdAt, t.revokedAt ?? null);
  }

  async token(id: string): Promise<AdminTokenRecord | undefined> {
    const row = this.#db.prepare('SELECT * FROM admin_tokens WHERE id = ?').get(id) as TokenRow | undefined;
    return row && tokenOf(row);
  }

  async tokens(): Promise<AdminTokenRecord[]> {
    return (this.#db.prepare('SELECT * FROM admin_tokens ORDER BY created_at, id').all() as unknown as TokenRow[]).map(tokenOf);
  }

  async revokeToken(id: string, at: number): Promise<boolean> {
    const row = this.#db.prepare('UPDATE admin_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL RETURNING 1 AS ok').get(at, id);
    this.#db.prepare('DELETE FROM admin_sessions WHERE token_id = ?').run(id);
    return row !== undefined;
  }

  async addSession(key: string, tokenId: string, expiresAt: number): Promise<void> {
    this.#db.prepare('INSERT INTO admin_sessions (key, token_id, expires_at) VALUES (?, ?, ?)').run(key, tokenId, expiresAt);
  }

  async session(key: string, now: number): Promise<string | undefined> {
    const row = this.#db.prepare(`SELECT s.token_id AS id FROM admin_sessions s JOIN admin_tokens t ON t.id = s.token_id
      WHERE s.key = ? AND s.expires_at > ? AND t.revoked_at IS NULL`).get(key, now) as { id: string } | undefined;
    return row?.id;
  }

  async removeSession(key: string, now: number): Promise<void> {
    this.#db.prepare('DELETE FROM admin_sessions WHERE key = ? OR expires_at <= ?').run(key, now);
  }

  async close(): Promise<void> {
    this.#db.close();
  }
}

function tokenOf(row: TokenRow): AdminTokenRecord {
  return { id: row.id, name: row.name, hash: new Uint8Array(row.hash), createdAt: row.created_at, ...(row.revoked_at !== null && { revokedAt: row.revoked_at }) };
}
