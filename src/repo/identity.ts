/**
 * A repository's cryptographic identity: an Ed25519 key pair. Its address is the libp2p peer id of
 * the public key (`12D3KooW…`), so the same identity names the database on the p2p network.
 * The private key is stored in libp2p's protobuf encoding, readable by the owner only.
 *
 * Creating a key and reading its address need no libp2p (see address.ts): a quick command such as
 * `ddcp status` shows the address, and loading libp2p's key code would cost it most of its time.
 * The key as libp2p's object is built on first use, by the commands that go on the network.
 */
import type { PrivateKey } from '@libp2p/interface';
import type { KeyObject } from 'node:crypto';
import { nodeCrypto } from '../base/node-crypto.ts';
import { chmodSync, existsSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { addressOf, PUBLIC_KEY_LENGTH } from '../base/address.ts';
import { base58Encode } from '../base/base58.ts';
import { RepositoryError } from './errors.ts';

export { isAddress } from '../base/address.ts';

export interface Identity {
  /** The key pair as libp2p's object (libp2p is loaded on first use). */
  readonly privateKey: PrivateKey;
  /** The database's address: the peer id derived from its public key. */
  readonly address: string;
  /** Signs `message` with the key (Ed25519; node:crypto, no libp2p needed). */
  sign(message: Uint8Array): Uint8Array;
}

/** node:crypto's key object for an Ed25519 seed and public key. */
function nodeKey(seed: Uint8Array, publicKey: Uint8Array): KeyObject {
  const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64url');
  return nodeCrypto().createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d: b64(seed), x: b64(publicKey) }, format: 'jwk' });
}

/** A signer over a node:crypto key made on first use. */
function signerOf(key: () => KeyObject): (message: Uint8Array) => Uint8Array {
  let k: KeyObject | undefined;
  return (message) => new Uint8Array(nodeCrypto().sign(null, message, (k ??= key())));
}

type Keys = typeof import('@libp2p/crypto/keys');
/** libp2p's key code, loaded synchronously (require of an ES module) when a key object is needed. */
const libp2pKeys = (): Keys => createRequire(import.meta.url)('@libp2p/crypto/keys') as Keys;

/** Protobuf `PrivateKey { Type: Ed25519 (1), Data: … }` up to Data's length byte. */
const KEY_HEAD = [0x08, 0x01, 0x12] as const;
/** Data: seed ‖ public key as libp2p writes it, or seed ‖ public ‖ public as old libp2p versions did. */
const DATA_LENGTHS = [64, 96];

/** libp2p's protobuf encoding of an Ed25519 private key (what `privateKeyToProtobuf` writes). */
export function encodeKeyFile(seed: Uint8Array, publicKey: Uint8Array): Uint8Array {
  const out = new Uint8Array(KEY_HEAD.length + 1 + seed.length + publicKey.length);
  out.set(KEY_HEAD);
  out[KEY_HEAD.length] = seed.length + publicKey.length;
  out.set(seed, KEY_HEAD.length + 1);
  out.set(publicKey, KEY_HEAD.length + 1 + seed.length);
  return out;
}

/** The public key in a key file as libp2p writes it (libp2p takes Data's last 32 bytes too), else undefined. */
export function publicKeyInKeyFile(bytes: Uint8Array): Uint8Array | undefined {
  if (bytes.length <= KEY_HEAD.length || KEY_HEAD.some((b, i) => bytes[i] !== b)) return undefined;
  const n = bytes[KEY_HEAD.length]!;
  if (!DATA_LENGTHS.includes(n) || bytes.length !== KEY_HEAD.length + 1 + n) return undefined;
  return bytes.subarray(bytes.length - PUBLIC_KEY_LENGTH);
}

/** A new Ed25519 key pair, as a key file's bytes (libp2p's protobuf encoding). */
export function newKeyFile(): Uint8Array {
  const jwk = nodeCrypto().generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' });
  return encodeKeyFile(Buffer.from(jwk.d!, 'base64url'), Buffer.from(jwk.x!, 'base64url'));
}

/**
 * The identity in a key file's bytes kept elsewhere than a file (a hub's PostgreSQL storage);
 * `where` names them in the error if they are not an Ed25519 key as {@link newKeyFile} makes.
 */
export function identityFromKeyFile(bytes: Uint8Array, where: string): Identity {
  const publicKey = publicKeyInKeyFile(bytes);
  if (!publicKey) throw new RepositoryError(`the identity key of ${where} is damaged (not an Ed25519 key in libp2p's encoding)`);
  return identityOf(new Uint8Array(bytes), addressOf(publicKey));
}

/** Creates a new identity and stores it at `path` (mode 0600). */
export async function createIdentity(path: string): Promise<Identity> {
  if (existsSync(path)) throw new RepositoryError(`${path} already exists; refusing to overwrite an identity`);
  const bytes = newKeyFile();
  const publicKey = publicKeyInKeyFile(bytes)!;
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, bytes, { mode: 0o600 });
  chmodSync(tmp, 0o600); // in case the umask widened it
  renameSync(tmp, path);
  return identityOf(bytes, addressOf(publicKey));
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
  const publicKey = publicKeyInKeyFile(bytes);
  if (publicKey) return identityOf(bytes, addressOf(publicKey));
  // Not the encoding libp2p writes for Ed25519: let libp2p read it (other encodings, other key types) or say why not.
  let privateKey: PrivateKey;
  try {
    privateKey = libp2pKeys().privateKeyFromProtobuf(bytes);
  } catch (cause) {
    throw new RepositoryError(`identity key ${path} is damaged: ${(cause as Error).message}`, { cause });
  }
  // Site proofs are Ed25519 signatures verified from the address: another key type can't make them.
  const key = (): KeyObject => {
    if (privateKey.type !== 'Ed25519') throw new RepositoryError(`identity key ${path} is a ${privateKey.type} key; proving the database's site id needs an Ed25519 key`);
    return nodeKey(privateKey.raw.subarray(0, 32), privateKey.publicKey.raw);
  };
  return { privateKey, address: base58Encode(privateKey.publicKey.toMultihash().bytes), sign: signerOf(key) };
}

/** An identity whose libp2p key object is made from `bytes` on first use. */
function identityOf(bytes: Uint8Array, address: string): Identity {
  let key: PrivateKey | undefined;
  const publicKey = publicKeyInKeyFile(bytes)!;
  const seed = bytes.subarray(KEY_HEAD.length + 1, KEY_HEAD.length + 1 + 32);
  return {
    address,
    sign: signerOf(() => nodeKey(seed, publicKey)),
    get privateKey() {
      key ??= libp2pKeys().privateKeyFromProtobuf(bytes);
      return key;
    },
  };
}
