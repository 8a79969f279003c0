/**
 * Bundles: a batch of changes in one file, for moving changes where no network reaches (a USB
 * stick, an e-mail attachment). This folder: the file format (here), writer.ts, reader.ts and verify.ts
 * know nothing of SQL or repositories; create.ts and apply.ts connect them to a database.
 *
 *     magic      8 bytes  "DDCPBNDL"
 *     version    1 byte   FORMAT_VERSION (1)
 *     frames     type (1 byte), payload length (varint), payload, CRC-32 (4 bytes, big-endian)
 *       'H'      exactly once, first: the header, UTF-8 JSON (source site id, schema, versions…)
 *       'C'      any number: one batch of changes, encoded by sync/codec.ts (at most FRAME_CHANGES
 *                changes or about FRAME_BYTES bytes each, so reading needs one frame in memory)
 *       'S'      when the header has a `site_proof`, exactly once, just before the trailer: the
 *                source identity's Ed25519 signature over `ddcp-bundle-v1` ‖ SHA-256 of every byte
 *                before this frame — the content is the source's, not only the header's claim
 *       'T'      exactly once, last: frame count (uint32 BE), change count (uint64 BE), and the
 *                SHA-256 of every byte of the file before this frame
 *     nothing may follow the trailer.
 *
 * Each frame's CRC-32 covers its index in the file (uint32 BE; the header is frame 0), its type,
 * length and payload, so a damaged, dropped, repeated or reordered frame is caught before any of its
 * changes is handed out; the trailer's count and checksum then cover the file as a whole. A reader
 * therefore never yields a wrong change, and it throws {@link BundleError} when the file proves
 * damaged or incomplete — after the changes of the intact frames before the damage were yielded, so
 * a consumer that wants all or nothing (the engine's one-transaction merge) must treat the error as
 * aborting everything it got.
 *
 * Memory stays bounded whatever the bundle's size: the writer holds one frame, the reader one read
 * chunk (READ_CHUNK) and one frame.
 */
import { DdcpError } from '../base/errors.ts';
import { ByteWriter } from '../base/bytes.ts';
import { writeVarint } from '../base/varint.ts';
import { parseJson } from '../base/json.ts';

export const MAGIC = Buffer.from('DDCPBNDL', 'latin1');
export const FORMAT_VERSION = 1;

export const FRAME_HEADER = 0x48; // 'H'
export const FRAME_CHANGES = 0x43; // 'C'
export const FRAME_TRAILER = 0x54; // 'T'
export const FRAME_SIGNATURE = 0x53; // 'S'

/** Domain separation of the content signature (see sync/proof.ts for the site proof's). */
export const BUNDLE_SIGNATURE_DOMAIN = 'ddcp-bundle-v1';

/** The largest frame a reader accepts (and a writer writes). */
export const MAX_FRAME_BYTES = 256 * 1024 * 1024;
/** The largest header accepted. */
export const MAX_HEADER_BYTES = 16 * 1024 * 1024;
/** A writer starts a new frame after this many changes… */
export const FRAME_CHANGES_MAX = 4096;
/** …or once a frame's changes reach about this many bytes. */
export const FRAME_BYTES = 1024 * 1024;
/** Bytes read from the file at a time. */
export const READ_CHUNK = 1024 * 1024;

/** The trailer's payload: frame count, change count, SHA-256. */
export const TRAILER_PAYLOAD = 4 + 8 + 32;
/** type + one-byte length + payload + CRC */
export const TRAILER_FRAME = 1 + 1 + TRAILER_PAYLOAD + 4;

/** Why a file was refused. */
export type BundleFault = 'not-a-bundle' | 'unsupported-version' | 'truncated' | 'checksum' | 'malformed' | 'too-large' | 'io';

/** A file is not a bundle, or a damaged, incomplete or unsupported one; or it could not be written. */
export class BundleError extends DdcpError {
  override name = 'BundleError';
  readonly fault: BundleFault;
  constructor(message: string, fault: BundleFault, options?: { cause?: unknown }) {
    super(message, options);
    this.fault = fault;
  }
}

/** A CRR table as a bundle describes it (the source's schema). */
export interface BundleTable {
  table: string;
  pks: string[];
  columns: string[];
}

/** What a bundle says about itself. */
export interface BundleHeader {
  /** The source database's site id (32 lowercase hex). */
  siteId: string;
  /** The source's address (peer id), when known. */
  address?: string;
  /**
   * The source's site proof (128 hex: its identity's signature claiming `siteId`, see sync/proof.ts),
   * with `address`. A bundle that has one is signed whole (the 'S' frame); older bundles have none.
   */
  siteProof?: string;
  /** The source's CRR tables. */
  schema: BundleTable[];
  /** The source's schema fingerprint (Engine.schemaFingerprint). */
  schemaFingerprint: string;
  /** The bundle holds the source's changes with db_version greater than this… */
  since: number;
  /** …up to and including this one: it is complete up to this version of the source. */
  version: number;
  /** Changes that originated at this site (32 hex) were left out, when set. */
  exceptSite?: string;
  /** When the bundle was written (ISO time). */
  createdAt: string;
}

/** What writing or reading a whole bundle found. */
export interface BundleSummary {
  changes: number;
  /** Frames, header and trailer included. */
  frames: number;
  bytes: number;
  /** SHA-256 of the file before the trailer (hex) — the bundle's checksum. */
  sha256: string;
}

// --- header JSON ---

/** The header as the file holds it (UTF-8 JSON, snake_case). */
export function headerJson(h: BundleHeader): Uint8Array {
  const json = {
    site_id: h.siteId,
    address: h.address ?? null,
    ...(h.siteProof !== undefined ? { site_proof: h.siteProof } : {}),
    schema: h.schema.map((t) => ({ table: t.table, pks: t.pks, columns: t.columns })),
    schema_fingerprint: h.schemaFingerprint,
    since: h.since,
    version: h.version,
    except_site: h.exceptSite ?? null,
    created_at: h.createdAt,
  };
  return Buffer.from(JSON.stringify(json), 'utf8');
}

const HEX32 = /^[0-9a-f]{32}$/;

/** Parses and checks a header frame's payload; throws {@link BundleError} naming what is wrong. */
export function parseHeader(payload: Uint8Array): BundleHeader {
  const bad = (what: string): never => {
    throw new BundleError(`malformed bundle header: ${what}`, 'malformed');
  };
  let j: Record<string, unknown>;
  try {
    j = parseJson(new TextDecoder('utf-8', { fatal: true }).decode(payload)) as Record<string, unknown>; // strict: no duplicate keys
  } catch (cause) {
    throw new BundleError(`malformed bundle header: ${(cause as Error).message}`, 'malformed', { cause });
  }
  if (typeof j !== 'object' || j === null || Array.isArray(j)) bad('not a JSON object');
  const isVersion = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
  const isNames = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === 'string' && s !== '');
  if (typeof j.site_id !== 'string' || !HEX32.test(j.site_id)) bad('site_id must be 32 lowercase hex digits');
  if (j.address !== null && j.address !== undefined && typeof j.address !== 'string') bad('address must be a string');
  if (j.site_proof !== undefined && (typeof j.site_proof !== 'string' || !/^[0-9a-f]{128}$/.test(j.site_proof) || typeof j.address !== 'string')) bad('site_proof must be 128 lowercase hex digits, with an address');
  if (j.except_site !== null && j.except_site !== undefined && (typeof j.except_site !== 'string' || !HEX32.test(j.except_site))) bad('except_site must be 32 lowercase hex digits');
  if (!isVersion(j.since) || !isVersion(j.version)) bad('since and version must be non-negative integers');
  if (typeof j.schema_fingerprint !== 'string') bad('schema_fingerprint must be a string');
  if (typeof j.created_at !== 'string') bad('created_at must be a string');
  if (!Array.isArray(j.schema)) bad('schema must be a list of tables');
  const schema: BundleTable[] = [];
  const seen = new Set<string>();
  for (const t of j.schema as unknown[]) {
    const table = t as Record<string, unknown>;
    if (typeof table !== 'object' || table === null || typeof table.table !== 'string' || table.table === '') bad('a schema entry has no table name');
    if (!isNames(table.pks) || table.pks.length === 0 || !isNames(table.columns)) bad(`schema of table ${String(table.table)} needs pks and columns`);
    if (seen.has(table.table as string)) bad(`table ${String(table.table)} appears twice in the schema`);
    seen.add(table.table as string);
    schema.push({ table: table.table as string, pks: [...(table.pks as string[])], columns: [...(table.columns as string[])] });
  }
  return {
    siteId: j.site_id as string,
    ...(typeof j.address === 'string' ? { address: j.address } : {}),
    ...(typeof j.site_proof === 'string' ? { siteProof: j.site_proof } : {}),
    schema,
    schemaFingerprint: j.schema_fingerprint as string,
    since: j.since as number,
    version: j.version as number,
    ...(typeof j.except_site === 'string' ? { exceptSite: j.except_site } : {}),
    createdAt: j.created_at as string,
  };
}

/** Throws if a reader would refuse this header. */
export function checkHeader(h: BundleHeader): void {
  // Writing checks what reading will check, so a writer never produces a file its readers refuse.
  parseHeader(headerJson(h));
}

// --- frames ---

/** A uint32, big-endian. */
export function u32(n: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

type Crc32 = typeof import('node:zlib').crc32;
let zlibCrc32: Crc32 | undefined;

/**
 * node:zlib's crc32, looked up on first use rather than imported: every command loads this module (the
 * library's entry exports bundles), and loading zlib cost the quick ones ~5 ms of start-up.
 */
function crc32(data: Uint8Array, value?: number): number {
  zlibCrc32 ??= (process.getBuiltinModule('node:zlib') as typeof import('node:zlib')).crc32;
  return zlibCrc32(data, value);
}

/** The CRC-32 of a frame: its index, then its type and length bytes, then its payload. */
export function frameCrc(index: number, prefix: Uint8Array, payload: Uint8Array): number {
  return crc32(payload, crc32(prefix, crc32(u32(index))));
}

/** A frame's type byte and varint length. */
export function framePrefix(type: number, length: number): Uint8Array {
  const w = new ByteWriter();
  w.byte(type);
  writeVarint(w, length);
  return w.result();
}
