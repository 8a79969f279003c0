/**
 * A repository's identity as a hub credential, the client's side: once an app's backend has enrolled
 * the repository's address to a user, the repository connects with no token — it fetches a single-use
 * nonce from the hub (`GET /auth/challenge`), signs it with its Ed25519 key and sends
 * `Authorization: DDCP-Device <address> <nonce> <signature>`. The hub's side is src/hub/auth/device.ts.
 * The signed message is domain-separated, so a signature made here means nothing elsewhere, and names
 * the hub it is for (the host the client dials, which the hub checks against the request's Host): an
 * answer to a challenge another hub relayed as its own lets that hub nowhere.
 */
import type { KeyObject } from 'node:crypto';
import { nodeCrypto } from '../base/node-crypto.ts';
import { DdcpError } from '../base/errors.ts';

/** The Authorization scheme of a device. */
export const DEVICE_SCHEME = 'DDCP-Device';

/** What a device signs for `nonce` from the hub at `host` (`hostname[:port]`, as a URL's host and the HTTP Host header have it). */
export function challengeMessage(nonce: string, host: string): Buffer {
  return Buffer.from(`ddcp-hub device auth v2\n${host.toLowerCase()}\n${nonce}`, 'utf8');
}

/** A key that signs: a node:crypto Ed25519 private key, or libp2p's (a repository's identity: `identity.privateKey`). */
export type DeviceSigner = KeyObject | { sign(data: Uint8Array): Uint8Array | Promise<Uint8Array> };

/** The Authorization header value for `address` answering `nonce` from the hub at `host` (`hostname[:port]` of its URL). */
export async function deviceAuthorization(address: string, nonce: string, signer: DeviceSigner, host: string): Promise<string> {
  const message = challengeMessage(nonce, host);
  const signature = 'sign' in signer && typeof signer.sign === 'function' ? await signer.sign(message) : nodeCrypto().sign(null, message, signer as KeyObject);
  return `${DEVICE_SCHEME} ${address} ${nonce} ${Buffer.from(signature).toString('base64url')}`;
}

/** A client could not get a device challenge from a hub (an error status, a malformed answer). */
export class DeviceChallengeError extends DdcpError {
  override name = 'DeviceChallengeError';
}

/**
 * What a client sends to connect as an enrolled device: asks the hub at `hubUrl` (`ws[s]://host:port`
 * or `http[s]://…`, any path) for a challenge and answers it. Use the value at once (the nonce
 * expires within a minute and works once).
 */
export async function fetchDeviceAuthorization(hubUrl: string, address: string, signer: DeviceSigner): Promise<string> {
  const url = new URL('/auth/challenge', hubUrl.replace(/^ws(s?):/i, 'http$1:'));
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  if (!res.ok) throw new DeviceChallengeError(`the hub at ${url.origin} gave no challenge: HTTP ${res.status}`);
  const { nonce } = (await res.json()) as { nonce?: unknown };
  if (typeof nonce !== 'string') throw new DeviceChallengeError(`the hub at ${url.origin} gave a challenge without a nonce`);
  return await deviceAuthorization(address, nonce, signer, url.host);
}
