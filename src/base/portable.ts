/**
 * The few platform services shared code needs — random bytes, SHA-256, Ed25519 verification and
 * byte ↔ latin1/hex conversions — working both in Node.js and in a browser. In Node the native
 * implementations are used (node:crypto and Buffer, looked up at run time so that a bundler for the
 * browser never pulls them in); elsewhere WebCrypto's synchronous `getRandomValues` and the audited
 * @noble implementations (WebCrypto's digest and verify are asynchronous, and the engine is not),
 * which base/portable-web.ts registers: the browser entries import it, Node never loads @noble here
 * (its ed25519 module probes WebCrypto's random source when loaded: ~10 ms of a quick command's start).
 */
import { DdcpError } from './errors.ts';

/** SHA-256 and Ed25519 verification where node:crypto is missing (see base/portable-web.ts). */
export interface PortableFallback {
  sha256(data: Uint8Array): Uint8Array;
  ed25519Verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean;
}

let registered: PortableFallback | undefined;

/** Registers the implementations used without node:crypto (base/portable-web.ts calls it when loaded). */
export function usePortableFallback(f: PortableFallback): void {
  registered = f;
}

function fallback(): PortableFallback {
  if (!registered) throw new DdcpError('no SHA-256/Ed25519 here: node:crypto is missing and base/portable-web.ts was not loaded');
  return registered;
}

type NodeCrypto = typeof import('node:crypto');
interface NodeBufferLike {
  from(data: ArrayBufferLike, offset: number, length: number): { toString(encoding: string): string };
  from(text: string, encoding: string): Uint8Array;
}

// Not an import: a browser bundle must not contain node:crypto; in Node this is the same module.
// Looked up on first use, not when this module loads: loading node:crypto (and the streams it
// pulls in) costs ~4 ms of every command's start, and most commands never hash or verify.
let nodeCryptoModule: NodeCrypto | null | undefined;
/** node:crypto, or undefined where there is none (a browser). */
function loadNodeCrypto(): NodeCrypto | undefined {
  if (nodeCryptoModule === undefined) {
    nodeCryptoModule = ((globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process?.getBuiltinModule?.('node:crypto') as NodeCrypto | undefined) ?? null;
  }
  return nodeCryptoModule ?? undefined;
}
const NodeBuffer = (globalThis as { Buffer?: NodeBufferLike }).Buffer;

const utf8 = new TextEncoder();

/** `n` cryptographically random bytes. */
export function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  // getRandomValues fills at most 65,536 bytes per call
  for (let i = 0; i < n; i += 65_536) globalThis.crypto.getRandomValues(out.subarray(i, Math.min(n, i + 65_536)));
  return out;
}

/** A random RFC 4122 version 4 UUID. */
export function randomUUID(): string {
  return globalThis.crypto.randomUUID();
}

/** SHA-256 of bytes, or of a string's UTF-8. */
export function sha256(data: Uint8Array | string): Uint8Array {
  const nodeCrypto = loadNodeCrypto();
  if (nodeCrypto) return new Uint8Array(nodeCrypto.createHash('sha256').update(data).digest());
  return fallback().sha256(typeof data === 'string' ? utf8.encode(data) : data);
}

/** SHA-256 as lowercase hex. */
export function sha256Hex(data: Uint8Array | string): string {
  // The one-shot hash() (Node ≥ 21.7) is about 3× cheaper than createHash on short inputs.
  const nodeCrypto = loadNodeCrypto();
  if (nodeCrypto?.hash) return nodeCrypto.hash('sha256', data, 'hex');
  if (nodeCrypto) return nodeCrypto.createHash('sha256').update(data).digest('hex');
  return bytesToHex(fallback().sha256(typeof data === 'string' ? utf8.encode(data) : data));
}

/** Whether `signature` is a valid Ed25519 signature of `message` by the raw 32-byte `publicKey`. */
export function ed25519Verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  const nodeCrypto = loadNodeCrypto();
  const web = nodeCrypto ? undefined : fallback(); // missing: an error, not "invalid"
  try {
    if (nodeCrypto) {
      const key = nodeCrypto.createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: base64url(publicKey) }, format: 'jwk' });
      return nodeCrypto.verify(null, message, key, signature);
    }
    return web!.ed25519Verify(publicKey, message, signature);
  } catch {
    return false;
  }
}

function base64url(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** Bytes as lowercase hex. */
export function bytesToHex(bytes: Uint8Array): string {
  if (NodeBuffer) return NodeBuffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += HEX[bytes[i]!];
  return s;
}

/** Hex (already checked: even length, hex digits only) as bytes. */
export function hexToBytes(text: string): Uint8Array {
  if (NodeBuffer) return new Uint8Array(NodeBuffer.from(text, 'hex'));
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Each byte as one character (U+0000–U+00FF): a string key for bytes, one-to-one. */
export function latin1(bytes: Uint8Array): string {
  if (NodeBuffer) return NodeBuffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
  let s = '';
  for (let i = 0; i < bytes.length; i += 8192) s += String.fromCharCode(...bytes.subarray(i, i + 8192));
  return s;
}

/** The parts one after another. */
export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
