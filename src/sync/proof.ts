/**
 * Proofs that tie a database's site id to its identity. A site id is a random name anyone can claim;
 * an identity is an Ed25519 key whose public key is the database's address. A *site proof* is the
 * identity's signature over `ddcp-site-id-v1` ‖ site id ‖ public key: verifiable by anyone from the
 * address alone (the address is the public key), and impossible to make for someone else's address.
 *
 * A proof says "this key claims this site id". Who is at the other end of a session is the
 * transport's to authenticate (libp2p's Noise handshake proves the remote peer id; a folder link is
 * in-process): a receiver accepts a claim only from the address the transport authenticated, then
 * binds the site id to that address (first binding wins, see the engine's owners.ts). Bundles carry
 * the same proof in their header and a signature over their content (see bundle/).
 */
import { publicKeyOf } from '../base/address.ts';
import { toHex } from '../base/hex.ts';
import { concatBytes, ed25519Verify } from '../base/portable.ts';
import { bytesEqual } from '../engine/index.ts';

/** Domain separation: a site proof can't be mistaken for any other signature of the key. */
export const SITE_PROOF_DOMAIN = 'ddcp-site-id-v1';

/** An Ed25519 signature's length in bytes. */
export const SIGNATURE_BYTES = 64;

/** Signs a message with a database's identity key (Ed25519). */
export type Signer = (message: Uint8Array) => Uint8Array;

/** A database's claim to its site id: its address and its signature over (site id, public key). */
export interface SiteProof {
  address: string;
  signature: Uint8Array;
}

/** `domain` ‖ each part: the bytes a domain-separated signature covers. */
export function signedMessage(domain: string, ...parts: Uint8Array[]): Uint8Array {
  return concatBytes(new TextEncoder().encode(domain), ...parts);
}

/** What a site proof signs, or undefined if `address` is not a database address. */
export function siteProofMessage(siteId: Uint8Array, address: string): Uint8Array | undefined {
  const key = publicKeyOf(address);
  return key && signedMessage(SITE_PROOF_DOMAIN, siteId, key);
}

/** The proof that `address` (signing with `sign`) claims `siteId`. */
export function makeSiteProof(siteId: Uint8Array, address: string, sign: Signer): SiteProof {
  const message = siteProofMessage(siteId, address);
  if (!message) throw new RangeError(`"${address}" is not a database address`);
  return { address, signature: sign(message) };
}

/** Whether `signature` is `address`'s Ed25519 signature over `message`. */
export function verifySignature(address: string, message: Uint8Array, signature: Uint8Array): boolean {
  const key = publicKeyOf(address);
  if (!key || signature.length !== SIGNATURE_BYTES) return false;
  return ed25519Verify(key, message, signature);
}

/** Whether `proof` is a valid claim of `siteId` by its address. */
export function verifySiteProof(siteId: Uint8Array, proof: SiteProof): boolean {
  const message = siteProofMessage(siteId, proof.address);
  return message !== undefined && verifySignature(proof.address, message, proof.signature);
}

/** Why a claimed site id can't be accepted from this peer, or undefined if it can. */
export function siteClaimProblem(siteId: Uint8Array, proof: SiteProof, options: { authenticated?: string; own: Uint8Array; ownAddress?: string }): string | undefined {
  if (!verifySiteProof(siteId, proof)) return `its proof of site id ${toHex(siteId)} does not verify for address ${proof.address}`;
  if (options.authenticated !== undefined && proof.address !== options.authenticated) {
    return `it is ${options.authenticated} but claims to be ${proof.address}`;
  }
  if (bytesEqual(siteId, options.own)) {
    const who = proof.address === options.ownAddress ? 'it has this database\'s own address and site id' : `${proof.address} claims this database's own site id ${toHex(siteId)}`;
    return `${who}: one of the two is a copy of the other (cp -a, a restored backup); run 'ddcp init --new-site' in the copy`;
  }
  return undefined;
}
