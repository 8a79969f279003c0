/**
 * The sync protocol's messages: a discriminated union on `type`, one per frame. The first byte is
 * the type; control messages are small JSON objects, change batches use the binary codec. Decoding
 * validates everything — frames come from untrusted peers — and throws {@link ProtocolError}.
 */
import type { Change } from '../engine/change.ts';
import { SITE_ID_BYTES } from '../engine/clock.ts';
import { DdcpError } from '../engine/errors.ts';
import { fromHex, toHex } from '../engine/hex.ts';
import type { TableInfo } from '../engine/schema.ts';
import { ByteWriter } from '../engine/pack.ts';
import { decodeChanges, encodeChanges } from './codec.ts';
import { readVarint, writeVarint } from './varint.ts';

/** Bumped on any incompatible change; peers with different versions refuse each other clearly. */
export const PROTOCOL_VERSION = 1;

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
  schema: TableInfo[];
  /** Send changes after this version of yours. */
  since: number;
  /** Keep the session open and push new changes as they happen. */
  follow: boolean;
}

/** Server → client: accepted; my identity and current version. */
export interface Welcome {
  type: 'welcome';
  protocol: number;
  siteId: Uint8Array;
  schema: TableInfo[];
  version: number;
}

/** Server → client: changes; `complete` when the batch ends at a version boundary. */
export interface BatchMessage {
  type: 'batch';
  version: number;
  complete: boolean;
  changes: Change[];
}

/** Server → client: you have everything up to `version` (and, when following, more will come). */
export interface CaughtUp {
  type: 'caught-up';
  version: number;
}

/** Either side: the session ends because of this. */
export interface ErrorMessage {
  type: 'error';
  code: string;
  message: string;
}

export type Message = Hello | Welcome | BatchMessage | CaughtUp | ErrorMessage;

const T_HELLO = 1;
const T_WELCOME = 2;
const T_BATCH = 3;
const T_CAUGHT_UP = 4;
const T_ERROR = 5;

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

function jsonFrame(type: number, body: unknown): Uint8Array {
  const json = encoder.encode(JSON.stringify(body));
  const out = new Uint8Array(json.length + 1);
  out[0] = type;
  out.set(json, 1);
  return out;
}

export function encodeMessage(m: Message): Uint8Array {
  switch (m.type) {
    case 'hello':
      return jsonFrame(T_HELLO, { protocol: m.protocol, site_id: toHex(m.siteId), schema: m.schema, since: m.since, follow: m.follow });
    case 'welcome':
      return jsonFrame(T_WELCOME, { protocol: m.protocol, site_id: toHex(m.siteId), schema: m.schema, version: m.version });
    case 'caught-up':
      return jsonFrame(T_CAUGHT_UP, { version: m.version });
    case 'error':
      return jsonFrame(T_ERROR, { code: m.code, message: m.message });
    case 'batch': {
      const w = new ByteWriter();
      w.byte(T_BATCH);
      writeVarint(w, m.version);
      w.byte(m.complete ? 1 : 0);
      w.bytes(encodeChanges(m.changes));
      return w.result();
    }
  }
}

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

/** Decodes one frame; throws {@link ProtocolError} ('malformed') for anything invalid. */
export function decodeMessage(frame: Uint8Array): Message {
  if (frame.length === 0) throw malformed('frame (empty)');
  const type = frame[0]!;
  if (type === T_BATCH) {
    try {
      const v = readVarint(frame, 1);
      const complete = frame[v.pos];
      if (complete !== 0 && complete !== 1) throw malformed('batch flag');
      return { type: 'batch', version: v.value, complete: complete === 1, changes: decodeChanges(frame.subarray(v.pos + 1)) };
    } catch (cause) {
      if (cause instanceof ProtocolError) throw cause;
      throw malformed(`batch: ${(cause as Error).message}`, cause);
    }
  }
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(decoder.decode(frame.subarray(1))) as Record<string, unknown>;
  } catch (cause) {
    throw malformed('control message (not JSON)', cause);
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw malformed('control message');
  switch (type) {
    case T_HELLO:
      if (typeof o.follow !== 'boolean') throw malformed('hello');
      return { type: 'hello', protocol: count(o.protocol, 'protocol'), siteId: siteId(o.site_id), schema: schema(o.schema), since: count(o.since, 'since'), follow: o.follow };
    case T_WELCOME:
      return { type: 'welcome', protocol: count(o.protocol, 'protocol'), siteId: siteId(o.site_id), schema: schema(o.schema), version: count(o.version, 'version') };
    case T_CAUGHT_UP:
      return { type: 'caught-up', version: count(o.version, 'version') };
    case T_ERROR:
      if (typeof o.code !== 'string' || typeof o.message !== 'string') throw malformed('error message');
      return { type: 'error', code: o.code.slice(0, 64), message: o.message.slice(0, 1000) };
    default:
      throw malformed(`frame (unknown type ${type})`);
  }
}
