/**
 * The hub operator's access to the inspector: admin tokens (made by `ddcp hub admin-token create`,
 * stored hashed), exchanged at a login for a session (a random cookie value, stored hashed, valid
 * {@link SESSION_TTL_MS}). Failed logins are counted like other authentication failures
 * (auth/ratelimit.ts): 10 a minute per remote address, after which that address is refused outright
 * until the minute is over; a token id with 10 failures is refused only to addresses that failed
 * too, so a guesser cannot lock the operator out.
 */
import { FailureLimiter, type RateLimitOptions } from '../auth/ratelimit.ts';
import { AdminLoginError, AdminTokenError } from './errors.ts';
import type { AdminStore } from './store.ts';
import { isAdminTokenId, makeAdminToken, newSessionValue, parseAdminToken, secretMatches, sessionKey } from './tokens.ts';

/** How long an inspector session lasts (8 hours; log in again after). */
export const SESSION_TTL_MS = 8 * 3600_000;

/** A token's label: what `--name` takes. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;

/** A token as `list` shows it: never its hash. */
export interface AdminTokenInfo {
  id: string;
  name: string;
  createdAt: number;
  revokedAt?: number;
}

export interface AdminAccessOptions {
  store: AdminStore;
  rateLimit?: RateLimitOptions;
  /** Where logins and refused logins (with the reason) are told; never a token. */
  log?: (level: 'info' | 'warn', line: string) => void;
  now?: () => number;
}

/** Throws {@link AdminTokenError} unless `name` is a valid admin token label (checked by `create`; callers may check before opening a store). */
export function checkAdminTokenName(name: string): void {
  if (!NAME.test(name)) throw new AdminTokenError(`admin token name ${JSON.stringify(name)} is not valid: 1–64 letters, digits, . _ @ - (starting with a letter or digit)`);
}

export class AdminAccess {
  readonly #store: AdminStore;
  readonly #failures: FailureLimiter;
  readonly #log: (level: 'info' | 'warn', line: string) => void;
  readonly #now: () => number;

  constructor(options: AdminAccessOptions) {
    this.#store = options.store;
    this.#failures = new FailureLimiter(options.rateLimit);
    this.#log = options.log ?? (() => {});
    this.#now = options.now ?? Date.now;
  }

  /** Makes a token labelled `name`; the token is returned only now. */
  async create(name: string): Promise<{ id: string; name: string; token: string }> {
    checkAdminTokenName(name);
    const t = makeAdminToken();
    await this.#store.addToken({ id: t.id, name, hash: t.hash, createdAt: this.#now() });
    return { id: t.id, name, token: t.token };
  }

  async list(): Promise<AdminTokenInfo[]> {
    return (await this.#store.tokens()).map(({ hash: _, ...info }) => info);
  }

  /** Revokes a token by id: its sessions end at their next request, in every hub process. */
  async revoke(id: string): Promise<void> {
    if (!isAdminTokenId(id)) throw new AdminTokenError(`${JSON.stringify(id)} is not an admin token id (16 hex digits, as ddcp hub admin-token list shows)`);
    if (!(await this.#store.revokeToken(id, this.#now()))) {
      const known = await this.#store.token(id);
      throw new AdminTokenError(known ? `admin token ${id} is already revoked` : `no admin token ${id} (see: ddcp hub admin-token list)`);
    }
  }

  /**
   * Checks a presented token and opens a session: the cookie value to set and when it expires.
   * Throws {@link AdminLoginError} (generic message, reason for the log) for a wrong, revoked or
   * malformed token, or an address over the rate limit.
   */
  async login(presented: string, remoteAddress: string): Promise<{ session: string; expiresAt: number }> {
    const now = this.#now();
    const parsed = parseAdminToken(presented);
    const address = `addr:${remoteAddress}`;
    const keys = [address, ...(parsed ? [`admin:${parsed.id}`] : [])];
    if (this.#failures.blocked([address], now) || (this.#failures.blocked(keys.slice(1), now) && this.#failures.failed(address, now))) {
      return this.#refuse(remoteAddress, 'rate limited: too many failed logins', undefined);
    }
    const record = parsed && (await this.#store.token(parsed.id));
    // Compared even without a record (against a hash nothing matches), so a miss takes as long as a hit.
    const matches = secretMatches(record?.hash, parsed?.secret ?? '');
    if (!parsed || !record || !matches || record.revokedAt !== undefined) {
      this.#failures.fail(keys, now);
      const reason = !parsed ? 'not an admin token' : !record ? `unknown admin token ${parsed.id}` : !matches ? `wrong secret for admin token ${parsed.id}` : `revoked admin token ${parsed.id}`;
      return this.#refuse(remoteAddress, reason, parsed?.id);
    }
    const session = newSessionValue();
    const expiresAt = now + SESSION_TTL_MS;
    await this.#store.addSession(sessionKey(session)!, record.id, expiresAt);
    this.#log('info', `inspector login from ${remoteAddress} with admin token ${record.id} (${record.name})`);
    return { session, expiresAt };
  }

  /** The admin token id behind a session cookie value, if the session is open and its token active. */
  async session(value: string | undefined): Promise<string | undefined> {
    const key = value === undefined ? undefined : sessionKey(value);
    return key === undefined ? undefined : await this.#store.session(key, this.#now());
  }

  /** Ends a session (and sweeps expired ones). */
  async logout(value: string | undefined): Promise<void> {
    const key = value === undefined ? undefined : sessionKey(value);
    if (key !== undefined) await this.#store.removeSession(key, this.#now());
  }

  #refuse(remoteAddress: string, reason: string, id: string | undefined): never {
    this.#log('warn', `refused an inspector login from ${remoteAddress}${id ? ` [${id}]` : ''}: ${reason}`);
    throw new AdminLoginError(reason);
  }
}
