/**
 * Secrets at rest: AES-256-GCM under the hub's master key. A sealed value is
 * `version (1) ‖ iv (12) ‖ tag (16) ‖ ciphertext`; the additional data binds it to its row (the API
 * key), so a sealed secret copied onto another credential does not open.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { CredentialError } from './errors.ts';

const VERSION = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** Encrypts `plaintext` under `key`, bound to `context`. */
export function seal(key: Uint8Array, plaintext: Uint8Array, context: string): Uint8Array {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(context, 'utf8'));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([Buffer.of(VERSION), iv, cipher.getAuthTag(), body]);
}

/** Decrypts what {@link seal} made; throws if the key, the context or a byte differs. */
export function open(key: Uint8Array, sealed: Uint8Array, context: string): Buffer {
  const head = 1 + IV_BYTES + TAG_BYTES;
  if (sealed.length < head || sealed[0] !== VERSION) throw new CredentialError(`the stored secret of ${context} is damaged (unknown format)`);
  const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(1, 1 + IV_BYTES));
  decipher.setAAD(Buffer.from(context, 'utf8'));
  decipher.setAuthTag(sealed.subarray(1 + IV_BYTES, head));
  try {
    return Buffer.concat([decipher.update(sealed.subarray(head)), decipher.final()]);
  } catch (cause) {
    throw new CredentialError(`the stored secret of ${context} does not open with this master key (a different key, or damaged)`, { cause });
  }
}
