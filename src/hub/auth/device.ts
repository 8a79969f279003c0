/**
 * A repository's Ed25519 identity as a credential: an admin call enrolls its address (what
 * `ddcp init` printed, the peer id of its public key) to a user; to connect, the client fetches a
 * single-use nonce (`GET /auth/challenge`), signs it, and sends
 * `Authorization: DDCP-Device <address> <nonce> <signature>`. The hub consumes the nonce (so no
 * signature works twice), checks the signature against the key the address names, then the
 * enrollment. The signed message is domain-separated so that a signature made here means nothing
 * elsewhere.
 */
import { createPublicKey, randomBytes, sign, verify, type KeyObject } from 'node:crypto';
import { publicKeyOf } from '../../repo/address.ts';
import { DeviceChallengeError } from './errors.ts';

/** The Authorization scheme of a device. */
export const DEVICE_SCHEME = 'DDCP-Device';
/** How long a challenge nonce may be used (ms). */
export const CHALLENGE_TTL_MS = 60_000;

/** A new challenge nonce: 32 random bytes, base64url. */
export function newNonce(): string {
  return randomBytes(32).toString('base64url');
}

/** What a device signs for `nonce`. */
export function challengeMessage(nonce: string): Buffer {
  return Buffer.from(`ddcp-hub device auth v1\n${nonce}`, 'utf8');
}

/** A key that signs: a node:crypto Ed25519 private key, or libp2p's (a repository's identity: `identity.privateKey`). */
export type DeviceSigner = KeyObject | { sign(data: Uint8Array): Uint8Array | Promise<Uint8Array> };

/** The Authorization header value for `address` answering `nonce`. */
export async function deviceAuthorization(address: string, nonce: string, signer: DeviceSigner): Promise<string> {
  const message = challengeMessage(nonce);
  const signature = 'sign' in signer && typeof signer.sign === 'function' ? await signer.sign(message) : sign(null, message, signer as KeyObject);
  return `${DEVICE_SCHEME} ${address} ${nonce} ${Buffer.from(signature).toString('base64url')}`;
}

/** The parts of a device Authorization header, or undefined if it is not one. */
export function parseDeviceAuthorization(value: string): { address: string; nonce: string; signature: Buffer } | undefined {
  const m = /^DDCP-Device ([1-9A-HJ-NP-Za-km-z]{1,100}) ([A-Za-z0-9_-]{43}) ([A-Za-z0-9_-]{86})$/.exec(value);
  return m ? { address: m[1]!, nonce: m[2]!, signature: Buffer.from(m[3]!, 'base64url') } : undefined;
}

/** Whether `signature` is `address`'s key's signature of the challenge `nonce`. */
export function deviceSignatureValid(address: string, nonce: string, signature: Uint8Array): boolean {
  const raw = publicKeyOf(address);
  if (!raw || signature.length !== 64) return false;
  const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(raw).toString('base64url') }, format: 'jwk' });
  return verify(null, challengeMessage(nonce), key, signature);
}

/**
 * What a client sends to connect as an enrolled device: asks the hub at `hubUrl` (`ws[s]://host:port`
 * or `http[s]://…`, any path) for a challenge and answers it. Use the value at once (the nonce
 * expires in {@link CHALLENGE_TTL_MS} and works once).
 */
export async function fetchDeviceAuthorization(hubUrl: string, address: string, signer: DeviceSigner): Promise<string> {
  const url = new URL('/auth/challenge', hubUrl.replace(/^ws(s?):/, 'http$1:'));
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  if (!res.ok) throw new DeviceChallengeError(`the hub at ${url.origin} gave no challenge: HTTP ${res.status}`);
  const { nonce } = (await res.json()) as { nonce?: unknown };
  if (typeof nonce !== 'string') throw new DeviceChallengeError(`the hub at ${url.origin} gave a challenge without a nonce`);
  return await deviceAuthorization(address, nonce, signer);
}
