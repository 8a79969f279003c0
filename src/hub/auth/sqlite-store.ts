/**
 * The embedded {@link AuthStore}: one SQLite file in the hub's data folder (node:sqlite through the
 * engine's `openDatabase`: WAL, busy timeout). Revocations made by another process on the same file
 * (`ddcp hub credentials revoke` while the hub runs) are noticed by polling `PRAGMA data_version`,
 * which changes only when another connection commits, and reading the revocation log past the last
 * entry seen; the poll runs only while someone listens.
 */
import { EventEmitter } from 'node:events';
import { openDatabase, type SqliteConnection } from '../../engine/index.ts';
import type { AuthStore, CredentialRecord, DeviceRecord, Revocation } from './store.ts';

/** The auth store's file in a hub's data folder. */
export const AUTH_DB_FILE = 'auth.db';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS auth_credentials (
  key TEXT PRIMARY KEY, app TEXT NOT NULL, sealed_secret BLOB NOT NULL,
  created_at INTEGER NOT NULL, revoked_at INTEGER, idp TEXT
) STRICT;
CREATE TABLE IF NOT EXISTS auth_nonces (
  scope TEXT NOT NULL, nonce TEXT NOT NULL, expires_at INTEGER NOT NULL, PRIMARY KEY (scope, nonce)
) STRICT, WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS auth_devices (
  address TEXT PRIMARY KEY, app TEXT NOT NULL, user TEXT NOT NULL, created_at INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS auth_revocations (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, app TEXT NOT NULL, key TEXT, address TEXT, at INTEGER NOT NULL
) STRICT;
`;

/** How often expired nonces are swept (ms). */
const SWEEP_MS = 60_000;

export interface SqliteAuthStoreOptions {
  /** How often another process's revocations are looked for while someone listens (ms; default 250). */
  pollMs?: number;
}

interface CredentialRow { key: string; app: string; sealed_secret: Uint8Array; created_at: number; revoked_at: number | null; idp: string | null }

export class SqliteAuthStore implements AuthStore {
  readonly #db: SqliteConnection;
  readonly #events = new EventEmitter();
  readonly #pollMs: number;
  #timer: NodeJS.Timeout | undefined;
  #dataVersion = 0;
  #lastSeq = 0;
  /** Revocations this connection wrote (already told; the poll skips them). */
  readonly #own = new Set<number>();
  #lastSweep = 0;

  /** Opens (creating if needed) the store at `path` (a file, or `:memory:`). */
  constructor(path: string, options: SqliteAuthStoreOptions = {}) {
    this.#db = openDatabase(path);
    this.#db.exec(SCHEMA);
    this.#pollMs = options.pollMs ?? 250;
  }

  async addCredential(c: CredentialRecord): Promise<void> {
    this.#db.prepare('INSERT INTO auth_credentials (key, app, sealed_secret, created_at, revoked_at, idp) VALUES (?, ?, ?, ?, ?, ?)')
      .run(c.key, c.app, c.sealedSecret, c.createdAt, c.revokedAt ?? null, c.idp ? JSON.stringify(c.idp) : null);
  }

  async credential(key: string): Promise<CredentialRecord | undefined> {
    const row = this.#db.prepare('SELECT * FROM auth_credentials WHERE key = ?').get(key) as CredentialRow | undefined;
    return row && credentialOf(row);
  }

  async credentials(): Promise<CredentialRecord[]> {
    return (this.#db.prepare('SELECT * FROM auth_credentials ORDER BY created_at, key').all() as CredentialRow[]).map(credentialOf);
  }

  async revokeCredential(key: string, at: number): Promise<Revocation | undefined> {
    const row = this.#db.prepare('UPDATE auth_credentials SET revoked_at = ? WHERE key = ? AND revoked_at IS NULL RETURNING app').get(at, key) as { app: string } | undefined;
    if (!row) return undefined;
    return this.#revoked({ app: row.app, key }, at);
  }

  async addNonce(scope: string, nonce: string, expiresAt: number, now: number): Promise<boolean> {
    this.#sweep(now);
    // An expired entry with the same nonce is taken over: the nonce is new again.
    const row = this.#db.prepare(`INSERT INTO auth_nonces (scope, nonce, expires_at) VALUES (?, ?, ?)
      ON CONFLICT (scope, nonce) DO UPDATE SET expires_at = excluded.expires_at WHERE auth_nonces.expires_at <= ? RETURNING 1 AS ok`)
      .get(scope, nonce, expiresAt, now);
    return row !== undefined;
  }

  async takeNonce(scope: string, nonce: string, now: number): Promise<boolean> {
    const row = this.#db.prepare('DELETE FROM auth_nonces WHERE scope = ? AND nonce = ? RETURNING expires_at AS e').get(scope, nonce) as { e: number } | undefined;
    return row !== undefined && row.e > now;
  }

  async enrollDevice(d: DeviceRecord): Promise<boolean> {
    const row = this.#db.prepare(`INSERT INTO auth_devices (address, app, user, created_at) VALUES (?, ?, ?, ?)
      ON CONFLICT (address) DO UPDATE SET user = excluded.user, created_at = excluded.created_at WHERE auth_devices.app = excluded.app RETURNING 1 AS ok`)
      .get(d.address, d.app, d.user, d.createdAt);
    return row !== undefined;
  }

  async removeDevice(address: string, app: string): Promise<boolean> {
    const row = this.#db.prepare('DELETE FROM auth_devices WHERE address = ? AND app = ? RETURNING 1 AS ok').get(address, app);
    if (!row) return false;
    this.#revoked({ app, address }, Date.now());
    return true;
  }

  async device(address: string): Promise<DeviceRecord | undefined> {
    const row = this.#db.prepare('SELECT address, app, user, created_at FROM auth_devices WHERE address = ?').get(address) as
      { address: string; app: string; user: string; created_at: number } | undefined;
    return row && { address: row.address, app: row.app, user: row.user, createdAt: row.created_at };
  }

  async accessChanged(app: string, at: number): Promise<void> {
    this.#revoked({ app }, at);
  }

  onRevoked(listener: (r: Revocation) => void): () => void {
    this.#events.on('revoked', listener);
    this.#startPolling();
    return () => {
      this.#events.off('revoked', listener);
      if (this.#events.listenerCount('revoked') === 0) this.#stopPolling();
    };
  }

  async close(): Promise<void> {
    this.#stopPolling();
    this.#events.removeAllListeners();
    this.#db.close();
  }

  /** Logs a revocation (for other processes) and tells this process's listeners. */
  #revoked(r: Revocation, at: number): Revocation {
    const { seq } = this.#db.prepare('INSERT INTO auth_revocations (app, key, address, at) VALUES (?, ?, ?, ?) RETURNING seq')
      .get(r.app, r.key ?? null, r.address ?? null, at) as { seq: number };
    this.#own.add(seq);
    this.#events.emit('revoked', r);
    return r;
  }

  #sweep(now: number): void {
    if (now - this.#lastSweep < SWEEP_MS) return;
    this.#lastSweep = now;
    this.#db.prepare('DELETE FROM auth_nonces WHERE expires_at <= ?').run(now);
  }

  #startPolling(): void {
    if (this.#timer) return;
    // Only what is revoked from now on: what came before was already in force when the listener came.
    this.#dataVersion = this.#version();
    this.#lastSeq = Number((this.#db.prepare('SELECT coalesce(max(seq), 0) AS s FROM auth_revocations').get() as { s: number }).s);
    this.#own.clear();
    this.#timer = setInterval(() => this.#poll(), this.#pollMs);
    this.#timer.unref(); // listening never keeps the process alive
  }

  #stopPolling(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #version(): number {
    return Number((this.#db.prepare('PRAGMA data_version').get() as { data_version: number }).data_version);
  }

  /** Tells the listeners of revocations another process logged since the last look. */
  #poll(): void {
    const version = this.#version();
    if (version === this.#dataVersion) return;
    this.#dataVersion = version;
    const rows = this.#db.prepare('SELECT seq, app, key, address FROM auth_revocations WHERE seq > ? ORDER BY seq').all(this.#lastSeq) as
      { seq: number; app: string; key: string | null; address: string | null }[];
    for (const row of rows) {
      this.#lastSeq = row.seq;
      if (this.#own.delete(row.seq)) continue;
      this.#events.emit('revoked', { app: row.app, ...(row.key !== null && { key: row.key }), ...(row.address !== null && { address: row.address }) });
    }
  }
}

function credentialOf(row: CredentialRow): CredentialRecord {
  return {
    key: row.key,
    app: row.app,
    sealedSecret: new Uint8Array(row.sealed_secret),
    createdAt: row.created_at,
    ...(row.revoked_at !== null && { revokedAt: row.revoked_at }),
    ...(row.idp !== null && { idp: JSON.parse(row.idp) }),
  };
}
