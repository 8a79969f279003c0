/**
 * The hub operator's admin tokens and inspector sessions, as values: making, parsing, hashing and
 * checking them (pure; storage is store.ts). An admin token is `ddcpa_<id>_<secret>`: the id (8
 * random bytes, hex) names the token in `list`/`revoke` and picks its record; the secret (32 random
 * bytes, hex) is kept only as its SHA-256 — a random 256-bit secret needs no slow hash — and a
 * presented secret is compared with the stored hash in constant time.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** What every admin token starts with (so a leaked one is recognisable, e.g. by secret scanners). */
export const ADMIN_TOKEN_PREFIX = 'ddcpa_';

const TOKEN_FORM = /^ddcpa_([0-9a-f]{16})_([0-9a-f]{64})$/;
const ID_FORM = /^[0-9a-f]{16}$/;
/** A session cookie's value: 32 random bytes, base64url. */
const SESSION_FORM = /^[A-Za-z0-9_-]{43}$/;

/** A new token: shown once; only `id` and `hash` are stored. */
export interface NewAdminToken {
  id: string;
  token: string;
  hash: Uint8Array;
}

/** Makes a token. */
export function makeAdminToken(): NewAdminToken {
  const id = randomBytes(8).toString('hex');
  const secret = randomBytes(32).toString('hex');
  return { id, token: `${ADMIN_TOKEN_PREFIX}${id}_${secret}`, hash: secretHash(secret) };
}

/** A token's id and secret, or undefined if `text` does not have a token's form. */
export function parseAdminToken(text: string): { id: string; secret: string } | undefined {
  const m = TOKEN_FORM.exec(text.trim());
  return m ? { id: m[1]!, secret: m[2]! } : undefined;
}

/** Whether `text` has the form of a token id (what `revoke` takes). */
export function isAdminTokenId(text: string): boolean {
  return ID_FORM.test(text);
}

/** The stored form of a secret. */
export function secretHash(secret: string): Uint8Array {
  return new Uint8Array(createHash('sha256').update(secret, 'utf8').digest());
}

/** A hash nothing matches, compared against when no record exists, so a miss costs what a hit costs. */
const NO_HASH = new Uint8Array(32);

/** Whether `secret` is the one `stored` is the hash of, compared in constant time (undefined: no record). */
export function secretMatches(stored: Uint8Array | undefined, secret: string): boolean {
  const presented = secretHash(secret);
  const against = stored?.length === 32 ? stored : NO_HASH;
  return timingSafeEqual(presented, against) && stored !== undefined && stored.length === 32;
}

/** A new session's cookie value (a bearer secret: only its hash is stored). */
export function newSessionValue(): string {
  return randomBytes(32).toString('base64url');
}

/** The stored key of a session, or undefined for a value that is not a session's form. */
export function sessionKey(value: string): string | undefined {
  return SESSION_FORM.test(value) ? createHash('sha256').update(value, 'utf8').digest('hex') : undefined;
}
