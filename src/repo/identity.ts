/**
 * A repository's cryptographic identity: an Ed25519 key pair. Its address is the libp2p peer id of
 * the public key (`12D3KooW…`), so the same identity names the database on the p2p network.
 * The private key is stored in libp2p's protobuf encoding, readable by the owner only.
 */
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys';
import type { PrivateKey } from '@libp2p/interface';
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id';
import { chmodSync, existsSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { RepositoryError } from './errors.ts';

export interface Identity {
  privateKey: PrivateKey;
  /** The database's address: the peer id derived from its public key. */
  address: string;
}

/** Creates a new identity and stores it at `path` (mode 0600). */
export async function createIdentity(path: string): Promise<Identity> {
  if (existsSync(path)) throw new RepositoryError(`${path} already exists; refusing to overwrite an identity`);
  const privateKey = await generateKeyPair('Ed25519');
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, privateKeyToProtobuf(privateKey), { mode: 0o600 });
  chmodSync(tmp, 0o600); // in case the umask widened it
  renameSync(tmp, path);
  return { privateKey, address: peerIdFromPrivateKey(privateKey).toString() };
}

/** Loads the identity stored at `path`. */
export function loadIdentity(path: string): Identity {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (cause) {
    throw new RepositoryError(`cannot read the repository's identity key ${path}: ${(cause as Error).message}`, { cause });
  }
  if ((statSync(path).mode & 0o077) !== 0) {
    throw new RepositoryError(`identity key ${path} is readable by others; run: chmod 600 ${path}`);
  }
  let privateKey: PrivateKey;
  try {
    privateKey = privateKeyFromProtobuf(bytes);
  } catch (cause) {
    throw new RepositoryError(`identity key ${path} is damaged: ${(cause as Error).message}`, { cause });
  }
  return { privateKey, address: peerIdFromPrivateKey(privateKey).toString() };
}

/** Whether `text` is a database address (an Ed25519 peer id). */
export function isAddress(text: string): boolean {
  try {
    return peerIdFromString(text).type === 'Ed25519';
  } catch {
    return false;
  }
}
