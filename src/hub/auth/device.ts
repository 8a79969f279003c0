/**
 * A repository's Ed25519 identity as a credential: an admin call enrolls its address (what
 * `ddcp init` printed, the peer id of its public key) to a user; to connect, the client fetches a
 * single-use nonce (`GET /auth/challenge`), signs it, and sends
 * `Authorization: DDCP-Device <address> <nonce> <signature>`. The hub consumes the nonce (so no
 * signature works twice), checks the signature against the key the address names, then the
 * enrollment. The signed message is domain-separated so that a signature made here means nothing
 * elsewhere.
 */
import { createPublicKey, randomBytes, verify } from 'node:crypto';
import { publicKeyOf } from '../../repo/address.ts';
import { challengeMessage } from '../../repo/device-auth.ts';

// The client's side (signing a challenge with a repository's identity) lives with the identity, in repo/.
export { challengeMessage, DEVICE_SCHEME, deviceAuthorization, fetchDeviceAuthorization } from '../../repo/device-auth.ts';
export type { DeviceSigner } from '../../repo/device-auth.ts';

/** How long a challenge nonce may be used (ms). */
export const CHALLENGE_TTL_MS = 60_000;

/** A new challenge nonce: 32 random bytes, base64url. */
export function newNonce(): string {
  return randomBytes(32).toString('base64url');
}

/** The parts of a device Authorization header, or undefined if it is not one. */
export function parseDeviceAuthorization(value: string): { address: string; nonce: string; signature: Buffer } | undefined {
  const m = /^DDCP-Device ([1-9A-HJ-NP-Za-km-z]{1,100}) ([A-Za-z0-9_-]{43}) ([A-Za-z0-9_-]{86})$/.exec(value);
  return m ? { address: m[1]!, nonce: m[2]!, signature: Buffer.from(m[3]!, 'base64url') } : undefined;
}

/** Whether `signature` is `address`'s key's signature of the challenge `nonce` for the hub at `host` (the request's Host). */
export function deviceSignatureValid(address: string, nonce: string, signature: Uint8Array, host: string): boolean {
  const raw = publicKeyOf(address);
  if (!raw || signature.length !== 64) return false;
  const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(raw).toString('base64url') }, format: 'jwk' });
  return verify(null, challengeMessage(nonce, host), key, signature);
}

