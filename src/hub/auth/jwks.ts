/**
 * JWTs from an app's own identity provider, verified with jose against the key set the app
 * configured: a JWKS URL (fetched on first use, cached and refreshed by jose when an unknown `kid`
 * appears) or a PEM public key. The token must carry the provider's issuer, the audience if one is
 * configured, a subject (the user) and an expiry (a session ends with it).
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { createRemoteJWKSet, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { AuthFailure } from './errors.ts';
import type { IdentityProvider } from './store.ts';

/** The asymmetric algorithms accepted from a provider (never `none` or a shared-secret HS*). */
const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];

export class IdentityProviders {
  /** Key sets by JWKS URL, or public keys by PEM: one fetcher/cache each, shared by the apps naming it. */
  readonly #keys = new Map<string, JWTVerifyGetKey | KeyObject>();

  /** The user and expiry of a JWT valid under `idp`; an {@link AuthFailure} saying why not. */
  async verify(token: string, idp: IdentityProvider, now: number): Promise<{ user: string; expiresAt: number }> {
    try {
      const key = this.#keyOf(idp);
      const options = { issuer: idp.issuer, ...(idp.audience !== undefined && { audience: idp.audience }), algorithms: ALGORITHMS, currentDate: new Date(now), requiredClaims: ['exp', 'sub'] };
      const { payload } = typeof key === 'function' ? await jwtVerify(token, key, options) : await jwtVerify(token, key, options);
      return { user: payload.sub!, expiresAt: payload.exp! * 1000 };
    } catch (cause) {
      throw new AuthFailure(`identity provider token refused (${idp.issuer}): ${(cause as Error).message}`, { cause });
    }
  }

  #keyOf(idp: IdentityProvider): JWTVerifyGetKey | KeyObject {
    const id = idp.jwksUrl ?? idp.publicKey!;
    let key = this.#keys.get(id);
    if (!key) {
      key = idp.jwksUrl !== undefined ? createRemoteJWKSet(new URL(idp.jwksUrl), { timeoutDuration: 5000 }) : createPublicKey(idp.publicKey!);
      this.#keys.set(id, key);
    }
    return key;
  }
}
