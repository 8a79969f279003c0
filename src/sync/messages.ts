/**
 * The sync protocol's messages: a discriminated union on `type`, one per frame. The first byte is
 * the type; control messages are small JSON objects, change batches use the binary codec. Decoding
 * validates everything — frames come from untrusted peers — and throws {@link ProtocolError}.
 */
import type { Change, TableInfo } from '../engine/index.ts';
import { SITE_ID_BYTES } from '../engine/index.ts';
import { DdcpError } from '../base/errors.ts';
import { fromHex, toHex } from '../base/hex.ts';
import { ByteWriter } from '../base/bytes.ts';
import { encodeChanges, scanBatch, type BatchScan, type ScannedBatch } from './codec.ts';
import { PROTOCOL_VERSION } from './protocol.ts';
import { readVarint, writeVarint } from '../base/varint.ts';
import { parseJson } from '../base/json.ts';
import { isAddress } from '../base/address.ts';
import { SIGNATURE_BYTES, type SiteProof } from './proof.ts';
import { MAX_FEATURE_LENGTH, MAX_FEATURES } from './features.ts';

export { PROTOCOL_VERSION };

/** The peer broke the protocol (malformed frame, wrong message at this point, refused, …). */
export class ProtocolError extends DdcpError {
  override name = 'ProtocolError';
  /** A machine-readable reason: 'malformed', 'unexpected', 'version', 'schema', 'denied', 'remote', … */
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** Client → server: who I am, what I have, what I want. */
export interface Hello {
  type: 'hello';
  protocol: number;
  siteId: Uint8Array;
  /** Our address and its signature claiming `siteId` (see proof.ts). */
  proof: SiteProof;
  schema: TableInfo[];
  /** Send changes after this version of yours — if you are `expect` (the site it was counted for). */
  since: number;
  /** The site id `since` refers to (the database we found at this location last time), if any. */
  expect?: Uint8Array;
  /**
   * The versions we hold of databases (our tracked peers): when `expect` is not you (first contact,
   * or another database answers there now), you start after what this says of you.
   */
  held: { siteId: Uint8Array; version: number }[];
  /** Keep the session open; both sides send new changes as they happen. */
  follow: boolean;
  /** Send me your changes (false: I only push). */
  pull: boolean;
  /** I will send my changes (after the version of mine you report in welcome). */
  push: boolean;
  /**
   * Optional protocol features this client reads (see features.ts); absent or empty: none, as a
   * client from before features were negotiated says.
   */
  features?: string[];
}

/** Server → client: accepted; my identity and current version. */
export interface Welcome {
  type: 'welcome';
  protocol: number;
  siteId: Uint8Array;
  /** The server's address and its signature claiming `siteId` (see proof.ts). */
  proof: SiteProof;
  schema: TableInfo[];
  version: number;
  /** The client's version the server already holds: the client pushes changes after it. */
  yours: number;
  /** Whether the server accepts the client's changes at all (its write policy for the client). */
  push: boolean;
  /**
   * The features of the client's hello that the server took up (it may use them from now on);
   * absent or empty: none, as a server from before features were negotiated says.
   */
  features?: string[];
}

/** Either side (the server, or a pushing client): changes; `complete` when the batch ends at a version boundary. */
export interface BatchMessage {
  type: 'batch';
  version: number;
  complete: boolean;
  changes: Change[];
  /** Decoded frames only: the validated encoding of `changes` (a view into the frame). */
  encoded?: Uint8Array;
  /** Decoded frames only: the count and (table, column) pairs of `changes`, which are decoded when first read. */
  scan?: BatchScan;
}

/**
 * A received batch: its bytes were checked whole ({@link scanChanges}); its changes are decoded
 * when first read (a batch that is only staged never is), which can no longer fail. A class (its
 * getter on the prototype): an object literal with a getter of its own cost more to make than
 * reading a one-change batch.
 */
class ReceivedBatch implements BatchMessage {
  readonly type = 'batch';
  readonly version: number;
  readonly complete: boolean;
  readonly encoded: Uint8Array;
  readonly scan: BatchScan;
  #scanned: ScannedBatch;
  #changes: Change[] | undefined;
  constructor(version: number, complete: boolean, encoded: Uint8Array) {
    this.version = version;
    this.complete = complete;
    this.encoded = encoded;
    this.#scanned = scanBatch(encoded);
    this.scan = this.#scanned.scan;
  }
  get changes(): Change[] {
    return (this.#changes ??= this.#scanned.decode());
  }
}

function receivedBatch(version: number, complete: boolean, encoded: Uint8Array): BatchMessage {
  return new ReceivedBatch(version, complete, encoded);
}

/** Either side after its batches: you have everything up to `version` (when following, more will come). */
export interface CaughtUp {
  type: 'caught-up';
  version: number;
}

/** Server → pushing client: everything you sent up to `version` is durably handled (merged or refused). */
export interface Ack {
  type: 'ack';
  version: number;
}

/** Server → pushing client: your source transaction at `version` was refused whole; the session goes on. */
export interface Refused {
  type: 'refused';
  version: number;
  message: string;
}

/** Either side: the session ends because of this. */
export interface ErrorMessage {
  type: 'error';
  code: string;
  message: string;
}

/**
 * Server → a client that negotiated the `batch-caught-up` feature (features.ts): a batch and, after it, caught-up
 * at `version` — the two messages a follower is sent per change of the database, in one frame (one
 * WebSocket message, one read and decode at the client instead of two). It means exactly `batch`
 * followed by `{type: 'caught-up', version}`.
 */
export interface BatchCaughtUp {
  type: 'batch-caught-up';
  batch: BatchMessage;
  version: number;
}

export type Message = Hello | Welcome | BatchMessage | CaughtUp | Ack | Refused | ErrorMessage | BatchCaughtUp;

const T_HELLO = 1;
const T_WELCOME = 2;
const T_BATCH = 3;
const T_CAUGHT_UP = 4;
const T_ERROR = 5;
const T_ACK = 6;
const T_REFUSED = 7;
const T_BATCH_CAUGHT_UP = 8;

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

function jsonFrame(type: number, body: unknown): Uint8Array {
  const json = encoder.encode(JSON.stringify(body));
  const out = new Uint8Array(json.length + 1);
  out[0] = type;
  out.set(json, 1);
  return out;
}

/** A batch frame's type, version and flag (copied into the frame at once): one writer, reused. */
const batchPrefix = new ByteWriter();

const VERSION_OPEN = encoder.encode('{"version":');

/**
 * `{"version":N}` after `type` (caught-up, ack: a follower gets one per wake, a pusher one per
 * push), byte for byte what {@link jsonFrame} writes, without JSON.stringify and the encoder.
 */
function versionFrame(type: number, version: number): Uint8Array {
  if (!Number.isSafeInteger(version) || version < 0) return jsonFrame(type, { version });
  const digits = String(version);
  const out = new Uint8Array(1 + VERSION_OPEN.length + digits.length + 1);
  out[0] = type;
  out.set(VERSION_OPEN, 1);
  let at = 1 + VERSION_OPEN.length;
  for (let i = 0; i < digits.length; i++) out[at++] = digits.charCodeAt(i);
  out[at] = 0x7d; // }
  return out;
}

/**
 * The version of a frame that is exactly `{"version":N}` after its type byte, N a JSON integer of at
 * most 15 digits (what {@link versionFrame} writes); -1 for any other frame, which the JSON reader
 * reads (it would read this one as `{version: N}`).
 */
function versionOf(frame: Uint8Array): number {
  const open = VERSION_OPEN.length;
  const n = frame.length - 1 - open - 1; // digits
  if (n < 1 || n > 15 || frame[frame.length - 1] !== 0x7d) return -1;
  for (let i = 0; i < open; i++) if (frame[1 + i] !== VERSION_OPEN[i]) return -1;
  const start = 1 + open;
  if (n > 1 && frame[start] === 0x30) return -1; // a leading zero is not JSON
  let v = 0;
  for (let i = start; i < start + n; i++) {
    const d = frame[i]! - 0x30;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v;
}

export function encodeMessage(m: Message): Uint8Array {
  switch (m.type) {
    case 'hello':
      // `features` only when there are some: an older peer's frame is then byte for byte what it was.
      return jsonFrame(T_HELLO, { protocol: m.protocol, site_id: toHex(m.siteId), address: m.proof.address, proof: toHex(m.proof.signature), schema: m.schema, since: m.since, expect: m.expect && toHex(m.expect), held: m.held.map((h) => [toHex(h.siteId), h.version]), follow: m.follow, pull: m.pull, push: m.push, features: m.features?.length ? m.features : undefined });
    case 'welcome':
      return jsonFrame(T_WELCOME, { protocol: m.protocol, site_id: toHex(m.siteId), address: m.proof.address, proof: toHex(m.proof.signature), schema: m.schema, version: m.version, yours: m.yours, push: m.push, features: m.features?.length ? m.features : undefined });
    case 'caught-up':
      return versionFrame(T_CAUGHT_UP, m.version);
    case 'ack':
      return versionFrame(T_ACK, m.version);
    case 'refused':
      return jsonFrame(T_REFUSED, { version: m.version, message: m.message });
    case 'error':
      return jsonFrame(T_ERROR, { code: m.code, message: m.message });
    case 'batch': {
      const w = batchPrefix;
      w.pos = 0;
      w.byte(T_BATCH);
      writeVarint(w, m.version);
      w.byte(m.complete ? 1 : 0);
      return encodeChanges(m.changes, w.buf.subarray(0, w.pos));
    }
    case 'batch-caught-up':
      return pairWithCaughtUp(encodeMessage(m.batch), m.version);
  }
}

/**
 * A batch frame (as {@link encodeMessage} wrote it) and caught-up at `version`, as one
 * `batch-caught-up` frame: its type, the caught-up version as a varint, then the batch frame after
 * its type byte — a copy of its bytes, not a new encoding (the hub pairs the one frame it encoded
 * for a wake with the wake's caught-up, once for all followers).
 */
export function pairWithCaughtUp(batchFrame: Uint8Array, version: number): Uint8Array {
  if (batchFrame[0] !== T_BATCH) throw new TypeError('not a batch frame');
  if (!Number.isSafeInteger(version) || version < 0) throw new TypeError(`caught-up version ${version} is not a non-negative integer`);
  const w = batchPrefix;
  w.pos = 0;
  w.byte(T_BATCH_CAUGHT_UP);
  writeVarint(w, version);
  const head = w.pos;
  const out = new Uint8Array(head + batchFrame.length - 1);
  out.set(w.buf.subarray(0, head), 0);
  out.set(batchFrame.subarray(1), head);
  return out;
}

/** Stands for the proof an older peer's hello or welcome lacks (answered with the version mismatch). */
const NO_PROOF: SiteProof = Object.freeze({ address: '', signature: new Uint8Array(0) });

const malformed = (what: string, cause?: unknown): ProtocolError => new ProtocolError('malformed', `malformed ${what}`, cause === undefined ? undefined : { cause });

function count(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw malformed(`${what} (not a non-negative integer)`);
  return v;
}

function siteId(v: unknown): Uint8Array {
  if (typeof v !== 'string') throw malformed('site id');
  let b: Uint8Array;
  try {
    b = fromHex(v);
  } catch (cause) {
    throw malformed('site id', cause);
  }
  if (b.length !== SITE_ID_BYTES) throw malformed('site id (wrong length)');
  return b;
}

function proof(address: unknown, signature: unknown): SiteProof {
  if (typeof address !== 'string' || address.length > 128 || !isAddress(address)) throw malformed('address');
  if (typeof signature !== 'string' || signature.length !== SIGNATURE_BYTES * 2) throw malformed('site proof');
  try {
    return { address, signature: fromHex(signature) };
  } catch (cause) {
    throw malformed('site proof', cause);
  }
}

function names(v: unknown, what: string): string[] {
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw malformed(what);
  return v as string[];
}

function schema(v: unknown): TableInfo[] {
  if (!Array.isArray(v) || v.length > 10_000) throw malformed('schema');
  return v.map((t: unknown) => {
    const o = t as Record<string, unknown>;
    if (typeof o !== 'object' || o === null || typeof o.name !== 'string') throw malformed('schema table');
    return { name: o.name, pks: names(o.pks, 'schema keys'), columns: names(o.columns, 'schema columns') };
  });
}

/** A hello's or welcome's feature names (present: absent means none); anything but a short list of short strings is malformed. */
function features(v: unknown): string[] {
  if (!Array.isArray(v) || v.length > MAX_FEATURES || v.some((x) => typeof x !== 'string' || x.length === 0 || x.length > MAX_FEATURE_LENGTH)) throw malformed('features');
  return v as string[];
}

function held(v: unknown): { siteId: Uint8Array; version: number }[] {
  if (!Array.isArray(v) || v.length > 100_000) throw malformed('held versions');
  return v.map((h: unknown) => {
    if (!Array.isArray(h) || h.length !== 2) throw malformed('held version');
    return { siteId: siteId(h[0]), version: count(h[1], 'held version') };
  });
}

/** The batch at `pos` of a frame (version varint, complete flag, the changes to its end), checked whole. */
function batchAt(frame: Uint8Array, pos: number, what: string): BatchMessage {
  try {
    const v = readVarint(frame, pos);
    const complete = frame[v.pos];
    if (complete !== 0 && complete !== 1) throw malformed(`${what} flag`);
    const encoded = frame.subarray(v.pos + 1);
    return receivedBatch(v.value, complete === 1, encoded);
  } catch (cause) {
    if (cause instanceof ProtocolError) throw cause;
    // The codec's own errors already say "malformed batch: …": don't say it twice.
    throw malformed(`${what}: ${(cause as Error).message.replace(/^malformed batch: /, '')}`, cause);
  }
}

/** Decodes one frame; throws {@link ProtocolError} ('malformed') for anything invalid. */
export function decodeMessage(frame: Uint8Array): Message {
  if (frame.length === 0) throw malformed('frame (empty)');
  const type = frame[0]!;
  if (type === T_BATCH) return batchAt(frame, 1, 'batch');
  if (type === T_BATCH_CAUGHT_UP) {
    let v: { value: number; pos: number };
    try {
      v = readVarint(frame, 1);
    } catch (cause) {
      throw malformed(`batch-caught-up: caught-up version (${(cause as Error).message})`, cause);
    }
    return { type: 'batch-caught-up', version: v.value, batch: batchAt(frame, v.pos, 'batch-caught-up') };
  }
  if (type === T_CAUGHT_UP || type === T_ACK) {
    const version = versionOf(frame);
    if (version >= 0) return type === T_ACK ? { type: 'ack', version } : { type: 'caught-up', version };
  }
  let o: Record<string, unknown>;
  try {
    // Strict: a duplicated key is refused, nesting is bounded (base/json.ts).
    o = parseJson(decoder.decode(frame.subarray(1))) as Record<string, unknown>;
  } catch (cause) {
    throw malformed('control message (not JSON)', cause);
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw malformed('control message');
  switch (type) {
    case T_HELLO:
      // An older peer's hello lacks the v2 fields: answer it with the version mismatch, not 'malformed'.
      if (o.protocol !== PROTOCOL_VERSION) return { type: 'hello', protocol: count(o.protocol, 'protocol'), siteId: new Uint8Array(SITE_ID_BYTES), proof: NO_PROOF, schema: [], since: 0, held: [], follow: false, pull: false, push: false };
      if (typeof o.follow !== 'boolean' || typeof o.pull !== 'boolean' || typeof o.push !== 'boolean') throw malformed('hello');
      return {
        type: 'hello',
        protocol: count(o.protocol, 'protocol'),
        siteId: siteId(o.site_id),
        proof: proof(o.address, o.proof),
        schema: schema(o.schema),
        since: count(o.since, 'since'),
        ...(o.expect === undefined ? {} : { expect: siteId(o.expect) }),
        held: held(o.held),
        follow: o.follow,
        pull: o.pull,
        push: o.push,
        ...(o.features === undefined ? {} : { features: features(o.features) }),
      };
    case T_WELCOME:
      if (o.protocol !== PROTOCOL_VERSION) return { type: 'welcome', protocol: count(o.protocol, 'protocol'), siteId: new Uint8Array(SITE_ID_BYTES), proof: NO_PROOF, schema: [], version: 0, yours: 0, push: false };
      if (typeof o.push !== 'boolean') throw malformed('welcome');
      return { type: 'welcome', protocol: count(o.protocol, 'protocol'), siteId: siteId(o.site_id), proof: proof(o.address, o.proof), schema: schema(o.schema), version: count(o.version, 'version'), yours: count(o.yours, 'yours'), push: o.push, ...(o.features === undefined ? {} : { features: features(o.features) }) };
    case T_ACK:
      return { type: 'ack', version: count(o.version, 'version') };
    case T_REFUSED:
      if (typeof o.message !== 'string') throw malformed('refused message');
      return { type: 'refused', version: count(o.version, 'version'), message: o.message.slice(0, 1000) };
    case T_CAUGHT_UP:
      return { type: 'caught-up', version: count(o.version, 'version') };
    case T_ERROR:
      if (typeof o.code !== 'string' || typeof o.message !== 'string') throw malformed('error message');
      return { type: 'error', code: o.code.slice(0, 64), message: o.message.slice(0, 1000) };
    default:
      throw malformed(`frame (unknown type ${type})`);
  }
}
