/**
 * A database's address: the libp2p peer id of its Ed25519 public key (`12D3KooW…`), i.e. base58btc
 * of the identity multihash of the key in libp2p's protobuf encoding. Computed here without libp2p,
 * whose key code would cost a quick command like `ddcp status` most of its time; address.test.ts
 * checks that both agree.
 */
import { base58Decode, base58Encode } from './base58.ts';

/** An Ed25519 public key's length in bytes. */
export const PUBLIC_KEY_LENGTH = 32;

/** Identity multihash (code 0x00, 36 bytes) of protobuf `PublicKey { Type: Ed25519 (1), Data: 32 bytes }`. */
const PREFIX = Uint8Array.of(0x00, 0x24, 0x08, 0x01, 0x12, PUBLIC_KEY_LENGTH);

/** The address of an Ed25519 public key (32 bytes). */
export function addressOf(publicKey: Uint8Array): string {
  if (publicKey.length !== PUBLIC_KEY_LENGTH) throw new RangeError(`an Ed25519 public key has ${PUBLIC_KEY_LENGTH} bytes, got ${publicKey.length}`);
  const bytes = new Uint8Array(PREFIX.length + PUBLIC_KEY_LENGTH);
  bytes.set(PREFIX);
  bytes.set(publicKey, PREFIX.length);
  return base58Encode(bytes);
}

/**
 * The public key an address names, or undefined if `text` is not an address. Only the encoding
 * libp2p writes is accepted (base58 is one-to-one, so the text is exactly what {@link addressOf} gives).
 */
export function publicKeyOf(text: string): Uint8Array | undefined {
  const bytes = base58Decode(text);
  if (!bytes || bytes.length !== PREFIX.length + PUBLIC_KEY_LENGTH) return undefined;
  for (let i = 0; i < PREFIX.length; i++) if (bytes[i] !== PREFIX[i]) return undefined;
  return bytes.subarray(PREFIX.length);
}

/** Whether `text` is a database address (an Ed25519 peer id). */
export function isAddress(text: string): boolean {
  return publicKeyOf(text) !== undefined;
}
