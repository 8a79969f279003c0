/**
 * base/portable.ts's SHA-256 and Ed25519 verification where node:crypto is missing (a browser): the
 * audited @noble implementations, registered when this module is loaded. The browser's modules that
 * open a replica import it; Node.js never loads it (it has node:crypto, and loading @noble's ed25519
 * costs a quick command ~10 ms).
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { ed25519 } from '@noble/curves/ed25519.js';
import { usePortableFallback } from './portable.ts';

usePortableFallback({
  sha256: (data) => sha256(data),
  ed25519Verify: (publicKey, message, signature) => ed25519.verify(signature, message, publicKey),
});
