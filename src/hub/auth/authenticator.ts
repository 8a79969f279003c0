/**
 * The hub's {@link Authenticator}: who a connection or an admin call acts for. Three ways in for
 * clients — a user token the hub minted, a JWT from the app's own identity provider, an enrolled
 * device's signed challenge — and one for the app's backend (an HMAC-signed admin call). Every
 * refusal is counted against the rate limits (per remote address and per key), logged with its
 * reason, and answered with the one generic {@link AuthError}.
 */
import { Credentials } from './credentials.ts';
import { CHALLENGE_TTL_MS, DEVICE_SCHEME, deviceSignatureValid, newNonce, parseDeviceAuthorization } from './device.ts';
import { AuthError, AuthFailure, CredentialError } from './errors.ts';
import { inWindow, readAdminHeaders, signatureMatches, SIGNATURE_WINDOW_MS, ADMIN_HEADERS } from './hmac.ts';
import { IdentityProviders } from './jwks.ts';
import type { AuthRequest, Authenticator, Principal } from './port.ts';
import { FailureLimiter, type RateLimitOptions } from './ratelimit.ts';
import { ReplayCache } from './replay.ts';
import type { AuthStore, CredentialRecord } from './store.ts';
import { DEFAULT_TOKEN_TTL_MS, HUB_ISSUER, MAX_TOKEN_TTL_MS, peekJwt, UserTokens } from './tokens.ts';
import { isAddress } from '../../repo/address.ts';

/** One refused attempt, for the hub's log. */
export interface AuthEvent {
  /** Why it was refused (never sent to the client). */
  reason: string;
  method: 'hmac' | 'token' | 'jwt' | 'device' | 'none';
  remoteAddress: string;
  /** The API key, device address or token issuer the attempt named, if any. */
  key?: string;
}

export type AuthLogger = (event: AuthEvent) => void;

/** A principal with what the hub needs to re-check it: the minting key of a user token, a device's address, a provider JWT's issuer. */
export interface HubPrincipal extends Principal {
  credential?: string;
  address?: string;
  issuer?: string;
  /** A device's: the host its signature named (a refresh is checked against it). */
  host?: string;
}

/** Who an admin call comes from: the app (through one of its keys) and the user it acts for. */
export interface AdminPrincipal {
  app: string;
  key: string;
  email: string;
}

export interface HubAuthOptions {
  store: AuthStore;
  /** The hub's master key (masterkey.ts). */
  masterKey: Uint8Array;
  /** Where refusals are reported (default: nowhere). */
  log?: AuthLogger;
  /** The clock (ms since the epoch; tests move it). */
  now?: () => number;
  /** Failed attempts per remote address and per key. */
  rateLimit?: RateLimitOptions;
  /** Challenges handed out per remote address (default 60 a minute). */
  challengeLimit?: RateLimitOptions;
  /** Lifetime of a user token when the backend asks for none (default 15 min). */
  tokenTtlMs?: number;
}

/** The query parameter a browser puts a token in (a browser's WebSocket cannot set headers). */
export const TOKEN_PARAM = 'access_token';

/** A request URL as logs may show it: an `access_token` parameter's value replaced (tokens are secrets). */
export function redactUrl(url: string | undefined): string {
  return (url ?? '/').replace(new RegExp(`([?&]${TOKEN_PARAM}=)[^&#]*`, 'g'), '$1[redacted]');
}

type Attempt = { method: AuthEvent['method']; key?: string };

export class HubAuthenticator implements Authenticator {
  readonly credentials: Credentials;
  readonly #store: AuthStore;
  readonly #log: AuthLogger;
  readonly #now: () => number;
  readonly #failures: FailureLimiter;
  readonly #challenges: FailureLimiter;
  readonly #replay: ReplayCache;
  readonly #tokens: UserTokens;
  readonly #providers = new IdentityProviders();
  readonly #tokenTtlMs: number;

  constructor(options: HubAuthOptions) {
    this.#store = options.store;
    this.credentials = new Credentials(options.store, options.masterKey);
    this.#log = options.log ?? (() => {});
    this.#now = options.now ?? Date.now;
    this.#failures = new FailureLimiter(options.rateLimit);
    this.#challenges = new FailureLimiter({ maxFailures: 60, windowMs: 60_000, ...options.challengeLimit });
    this.#replay = new ReplayCache(options.store);
    this.#tokens = new UserTokens(options.masterKey);
    this.#tokenTtlMs = options.tokenTtlMs ?? DEFAULT_TOKEN_TTL_MS;
  }

  async authenticate(req: AuthRequest): Promise<Principal> {
    const presented = presentedCredential(req);
    const attempt: Attempt = presented.kind === 'device'
      ? { method: 'device', key: presented.value.split(' ')[1] }
      : presented.kind === 'bearer' ? bearerAttempt(presented.value) : { method: 'none' };
    return await this.#guard(req.remoteAddress, attempt, async (now) => {
      if (presented.kind === 'none') throw new AuthFailure(presented.why);
      return presented.kind === 'device' ? await this.#device(presented.value, hostOf(req)) : await this.#bearer(presented.value, now);
    });
  }

  async refresh(p: Principal, token: string): Promise<Principal> {
    if (token === '') {
      if (await this.valid(p)) return p;
      this.#log({ reason: 'session no longer valid (revoked or expired)', method: p.method, remoteAddress: sessionAddress(p) });
      throw new AuthError();
    }
    const authorization = token.startsWith(`${DEVICE_SCHEME} `) || token.startsWith('Bearer ') ? token : `Bearer ${token}`;
    const host = (p as HubPrincipal).host;
    const next = await this.authenticate({ headers: { authorization, ...(host !== undefined && { host }) }, remoteAddress: sessionAddress(p), url: '/' });
    if (next.app !== p.app || next.user !== p.user) {
      this.#log({ reason: `refresh names another user (${next.app}/${next.user})`, method: next.method, remoteAddress: sessionAddress(p) });
      throw new AuthError();
    }
    return next;
  }

  async valid(p: Principal): Promise<boolean> {
    if (p.expiresAt !== undefined && this.#now() >= p.expiresAt) return false;
    const hp = p as HubPrincipal;
    if (p.method === 'token' && hp.credential !== undefined) {
      const c = await this.#store.credential(hp.credential);
      return c !== undefined && c.revokedAt === undefined && c.app === p.app;
    }
    if (p.method === 'device' && hp.address !== undefined) {
      const d = await this.#store.device(hp.address);
      if (!d || d.app !== p.app || d.user !== p.user) return false;
    }
    // A provider's JWT holds while a key of its app still trusts that provider (not merely any key of the app).
    if (p.method === 'jwt' && hp.issuer !== undefined) return (await this.#store.credentials()).some((c) => c.app === p.app && c.revokedAt === undefined && c.idp?.issuer === hp.issuer);
    return await this.#appActive(p.app);
  }

  async accessChanged(app: string): Promise<void> {
    await this.#store.accessChanged(app, this.#now());
  }

  onRevoked(listener: (app: string) => void): () => void {
    return this.#store.onRevoked((r) => listener(r.app));
  }

  /**
   * Authenticates an admin call: the HMAC headers over `body` (the exact bytes received), within
   * the window, not seen before, with an active key.
   */
  async authenticateAdmin(req: AuthRequest, body: string | Uint8Array): Promise<AdminPrincipal> {
    const key = req.headers[ADMIN_HEADERS.key];
    return await this.#guard(req.remoteAddress, { method: 'hmac', ...(typeof key === 'string' && { key: key.slice(0, 200) }) }, async (now) => {
      const claims = readAdminHeaders(req.headers);
      if (!inWindow(claims.timestamp, now, SIGNATURE_WINDOW_MS)) throw new AuthFailure(`admin call timestamp ${claims.timestamp} is outside the ${SIGNATURE_WINDOW_MS / 60_000}-minute window`);
      const active = await this.credentials.active(claims.key);
      if (!active) throw new AuthFailure('admin call with an unknown or revoked API key');
      if (!signatureMatches(active.secret, claims, body)) throw new AuthFailure('admin call signature does not match');
      // Recorded only once the signature is right: unsigned junk never fills the cache.
      if (!(await this.#replay.accept(claims.signature, claims.timestamp, now))) throw new AuthFailure('admin call signature already used (replay)');
      return { app: active.record.app, key: claims.key, email: claims.email };
    });
  }

  /** Mints a user token for the user an admin call acts for (`ttlMs` bounded to 1 s … 24 h). */
  async mintUserToken(admin: AdminPrincipal, ttlMs: number = this.#tokenTtlMs): Promise<{ token: string; expiresAt: number }> {
    if (!Number.isFinite(ttlMs) || ttlMs < 1000 || ttlMs > MAX_TOKEN_TTL_MS) throw new CredentialError(`a token lives 1 s to ${MAX_TOKEN_TTL_MS / 3_600_000} h; asked for ${ttlMs} ms`);
    return await this.#tokens.mint({ app: admin.app, user: admin.email, credential: admin.key }, ttlMs, this.#now());
  }

  /** A single-use nonce for a device to sign; rate-limited per remote address (each one is stored). */
  async issueChallenge(remoteAddress: string): Promise<{ nonce: string; expiresAt: number }> {
    const now = this.#now();
    const keys = [`addr:${remoteAddress}`];
    if (this.#challenges.blocked(keys, now)) {
      this.#log({ reason: 'too many challenges asked', method: 'device', remoteAddress });
      throw new AuthError();
    }
    this.#challenges.fail(keys, now);
    const nonce = newNonce();
    const expiresAt = now + CHALLENGE_TTL_MS;
    await this.#store.addNonce('challenge', nonce, expiresAt, now);
    return { nonce, expiresAt };
  }

  /**
   * Enrolls a device (its address) to the user an admin call acts for. Moved from another user of
   * the app, its open sessions as that user are checked again (through onRevoked) and end.
   */
  async enrollDevice(admin: AdminPrincipal, address: string): Promise<void> {
    if (!isAddress(address)) throw new CredentialError(`${JSON.stringify(address)} is not a repository address (12D3KooW…)`);
    const before = await this.#store.device(address);
    const ok = await this.#store.enrollDevice({ address, app: admin.app, user: admin.email, createdAt: this.#now() });
    if (!ok) throw new CredentialError(`device ${address} is enrolled to another app`);
    if (before !== undefined && before.app === admin.app && before.user !== admin.email) await this.#store.accessChanged(admin.app, this.#now());
  }

  /** Removes an app's enrollment of a device (its open sessions are told through onRevoked); false if none. */
  async removeDevice(admin: AdminPrincipal, address: string): Promise<boolean> {
    return await this.#store.removeDevice(address, admin.app);
  }

  /**
   * Runs one attempt under the rate limits: a refusal is counted, logged with its reason and answered
   * generically. A blocked address is refused outright. A blocked key is refused only to addresses
   * that failed in this window too: a key is no secret (a user token names the key that minted it), so
   * a block must not let anyone lock the app's own backend or clients out — it stops guessers, who
   * get one try per address and window.
   */
  async #guard<T>(remoteAddress: string, attempt: Attempt, check: (now: number) => Promise<T>): Promise<T> {
    const now = this.#now();
    const address = `addr:${remoteAddress}`;
    const keys = [address, ...(attempt.key !== undefined ? [`key:${attempt.key}`] : [])];
    const event = { method: attempt.method, remoteAddress, ...(attempt.key !== undefined && { key: attempt.key }) };
    if (this.#failures.blocked([address], now) || (this.#failures.blocked(keys.slice(1), now) && this.#failures.failed(address, now))) {
      this.#log({ reason: 'rate limited: too many failed attempts', ...event });
      throw new AuthError();
    }
    try {
      return await check(now);
    } catch (err) {
      if (!(err instanceof AuthFailure)) throw err; // the hub's own trouble (storage down), not the client's
      this.#failures.fail(keys, now);
      this.#log({ reason: err.message, ...event });
      throw new AuthError();
    }
  }

  async #bearer(token: string, now: number): Promise<HubPrincipal> {
    const peek = peekJwt(token);
    if (!peek) throw new AuthFailure('bearer token is not a JWT');
    if (peek.issuer === HUB_ISSUER) {
      const claims = await this.#tokens.verify(token, now);
      const c = await this.#store.credential(claims.credential);
      if (!c || c.revokedAt !== undefined || c.app !== claims.app) throw new AuthFailure('user token of a revoked or unknown API key');
      return { app: claims.app, user: claims.user, method: 'token', expiresAt: claims.expiresAt, credential: claims.credential };
    }
    if (peek.issuer === undefined) throw new AuthFailure('JWT without an issuer');
    const issuer = peek.issuer;
    const trusting = (await this.#store.credentials()).filter((x) => x.revokedAt === undefined && x.idp?.issuer === issuer);
    if (trusting.length === 0) throw new AuthFailure(`JWT of issuer ${issuer}, which no active app trusts`);
    const { app, user, expiresAt } = await this.#verifyForOneApp(token, trusting, now);
    return { app, user, method: 'jwt', expiresAt, issuer };
  }

  /**
   * The app whose provider setting a JWT is valid under, among the active keys trusting its issuer:
   * several apps may use one provider (told apart by audience) and one app may have several keys
   * (rotating its provider's key). An app naming the token's audience goes before one taking any; a
   * token still valid for two apps is refused rather than given to either.
   */
  async #verifyForOneApp(token: string, trusting: readonly CredentialRecord[], now: number): Promise<{ app: string; user: string; expiresAt: number }> {
    const valid: { app: string; user: string; expiresAt: number; audience: boolean }[] = [];
    const failures: AuthFailure[] = [];
    for (const c of trusting) {
      try {
        valid.push({ app: c.app, ...(await this.#providers.verify(token, c.idp!, now)), audience: c.idp!.audience !== undefined });
      } catch (err) {
        if (!(err instanceof AuthFailure)) throw err;
        failures.push(err);
      }
    }
    if (valid.length === 0) throw failures.length === 1 ? failures[0]! : new AuthFailure(failures.map((e) => e.message).join('; '), { cause: failures[0] });
    const best = valid.some((v) => v.audience) ? valid.filter((v) => v.audience) : valid;
    const apps = [...new Set(best.map((v) => v.app))].sort();
    if (apps.length > 1) throw new AuthFailure(`JWT valid for several apps (${apps.join(', ')}): give each app its provider's audience`);
    return best[0]!;
  }

  async #device(header: string, host: string | undefined): Promise<HubPrincipal> {
    const parts = parseDeviceAuthorization(header);
    if (!parts) throw new AuthFailure('malformed DDCP-Device authorization');
    if (host === undefined) throw new AuthFailure('DDCP-Device authorization without a Host header (the signature names the hub)');
    const now = this.#now();
    // The nonce is spent by any attempt, right or wrong: one nonce, one try.
    if (!(await this.#store.takeNonce('challenge', parts.nonce, now))) throw new AuthFailure('device challenge unknown, used or expired');
    if (!deviceSignatureValid(parts.address, parts.nonce, parts.signature, host)) throw new AuthFailure(`device signature does not match its address and this hub (${host})`);
    const d = await this.#store.device(parts.address);
    if (!d) throw new AuthFailure('device not enrolled');
    if (!(await this.#appActive(d.app))) throw new AuthFailure('device of an app with no active API key');
    return { app: d.app, user: d.user, method: 'device', address: d.address, host };
  }

  async #appActive(app: string): Promise<boolean> {
    return (await this.#store.credentials()).some((c) => c.app === app && c.revokedAt === undefined);
  }
}

type Presented = { kind: 'bearer' | 'device'; value: string } | { kind: 'none'; why: string };

/** The credential a request carries: its Authorization header, or a token in the URL (browsers). */
function presentedCredential(req: AuthRequest): Presented {
  const h = req.headers.authorization;
  const header = Array.isArray(h) ? h[0] : h;
  if (header !== undefined) {
    if (header.startsWith('Bearer ')) return { kind: 'bearer', value: header.slice(7).trim() };
    if (header.startsWith(`${DEVICE_SCHEME} `)) return { kind: 'device', value: header };
    return { kind: 'none', why: 'Authorization header of an unknown scheme' };
  }
  const token = new URL(req.url, 'http://hub.invalid').searchParams.get(TOKEN_PARAM);
  return token ? { kind: 'bearer', value: token } : { kind: 'none', why: `no credentials (no Authorization header or ${TOKEN_PARAM})` };
}

/** The Host a request was sent to (what a device's signature must name). */
function hostOf(req: AuthRequest): string | undefined {
  const h = req.headers.host;
  return typeof h === 'string' && h !== '' ? h : undefined;
}

function bearerAttempt(token: string): Attempt {
  const peek = peekJwt(token);
  const key = peek?.issuer === HUB_ISSUER ? peek.keyId : peek?.issuer;
  return { method: peek?.issuer === HUB_ISSUER ? 'token' : 'jwt', ...(key !== undefined && { key: key.slice(0, 200) }) };
}

/** The rate-limit "address" of an open session's refresh: the user, so one user's failures don't block others. */
function sessionAddress(p: Principal): string {
  return `session:${p.app}/${p.user}`;
}
