/**
 * The storage port of the inspector's admin access: admin tokens (only their secrets' hashes) and
 * the sessions a login opens (only their cookies' hashes). The embedded store keeps them in the
 * hub's `auth.db`, the PostgreSQL store in the auth schema, so every hub process on one storage
 * accepts the same tokens and sessions, and a revocation ends sessions everywhere at their next
 * request. All times are milliseconds since the epoch.
 */

export interface AdminTokenRecord {
  /** 16 hex digits: names the token in `list`/`revoke`. */
  id: string;
  /** The operator's label for it (who or what holds it). */
  name: string;
  /** SHA-256 of its secret (tokens.ts). */
  hash: Uint8Array;
  createdAt: number;
  revokedAt?: number;
}

export interface AdminStore {
  addToken(t: AdminTokenRecord): Promise<void>;
  token(id: string): Promise<AdminTokenRecord | undefined>;
  /** Every token, revoked ones included, oldest first. */
  tokens(): Promise<AdminTokenRecord[]>;
  /** Revokes an active token and deletes its sessions; false if unknown or already revoked. */
  revokeToken(id: string, at: number): Promise<boolean>;
  /** Records a session (`key`: the hash of its cookie) of a token until `expiresAt`. */
  addSession(key: string, tokenId: string, expiresAt: number): Promise<void>;
  /** The token id of a session that exists, has not expired and whose token is not revoked. */
  session(key: string, now: number): Promise<string | undefined>;
  /** Ends a session (logout); expired ones are swept now and then. */
  removeSession(key: string, now: number): Promise<void>;
  close(): Promise<void>;
}
