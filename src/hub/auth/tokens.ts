/**
 * User tokens: short-lived JWTs (HS256) the hub mints for an app's backend, which hands them to its
 * end-user clients, so clients never hold the app secret. A JWT rather than an opaque token: any hub
 * process checks it without a store round trip, and its expiry travels in it; what a signature cannot
 * say (the minting key was revoked) is checked against the store on connect and on each revocation.
 * The signing key is derived (HKDF) from the master key, which every hub on one database shares.
 */
import { hkdfSync } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader, jwtVerify, SignJWT } from 'jose';
import { AuthFailure } from './errors.ts';

/** The `iss` and `aud` of the hub's own tokens (an app's provider's tokens carry its own issuer). */
export const HUB_ISSUER = 'ddcp-hub';
/** Default lifetime of a user token (15 minutes): a session ends then unless refreshed. */
export const DEFAULT_TOKEN_TTL_MS = 15 * 60_000;
/** The longest lifetime a backend may ask for (24 hours). */
export const MAX_TOKEN_TTL_MS = 24 * 60 * 60_000;

/** What a user token says. */
export interface UserTokenClaims {
  app: string;
  user: string;
  /** The API key that minted it (its revocation ends the token's sessions). */
  credential: string;
  /** When it expires (ms since the epoch). */
  expiresAt: number;
}

export class UserTokens {
  readonly #key: Uint8Array;

  constructor(masterKey: Uint8Array) {
    this.#key = new Uint8Array(hkdfSync('sha256', masterKey, new Uint8Array(0), 'ddcp hub user tokens v1', 32));
  }

  /** Mints a token for `user` of `app`, valid `ttlMs` from `now`. */
  async mint(claims: Omit<UserTokenClaims, 'expiresAt'>, ttlMs: number, now: number): Promise<{ token: string; expiresAt: number }> {
    // JWT times are whole seconds: the expiry is rounded down, never past what was asked.
    const exp = Math.floor((now + ttlMs) / 1000);
    const token = await new SignJWT({ app: claims.app })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid: claims.credential })
      .setIssuer(HUB_ISSUER)
      .setAudience(HUB_ISSUER)
      .setSubject(claims.user)
      .setIssuedAt(Math.floor(now / 1000))
      .setExpirationTime(exp)
      .sign(this.#key);
    return { token, expiresAt: exp * 1000 };
  }

  /** The claims of a valid token; an {@link AuthFailure} saying why not. */
  async verify(token: string, now: number): Promise<UserTokenClaims> {
    let result;
    try {
      result = await jwtVerify(token, this.#key, { issuer: HUB_ISSUER, audience: HUB_ISSUER, algorithms: ['HS256'], currentDate: new Date(now), requiredClaims: ['exp', 'sub'] });
    } catch (cause) {
      throw new AuthFailure(`user token refused: ${(cause as Error).message}`, { cause });
    }
    const { payload, protectedHeader } = result;
    if (typeof payload.app !== 'string' || typeof protectedHeader.kid !== 'string') throw new AuthFailure('user token refused: no app or key id');
    return { app: payload.app, user: payload.sub!, credential: protectedHeader.kid, expiresAt: payload.exp! * 1000 };
  }
}

/** The issuer and key id a JWT claims, read without verifying (to pick the verifier and the rate-limit key). */
export function peekJwt(token: string): { issuer?: string; keyId?: string } | undefined {
  try {
    const { iss } = decodeJwt(token);
    const { kid } = decodeProtectedHeader(token);
    return { ...(typeof iss === 'string' && { issuer: iss }), ...(typeof kid === 'string' && { keyId: kid }) };
  } catch {
    return undefined;
  }
}
