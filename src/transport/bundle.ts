/**
 * Bundles: a batch of changes in one file, for moving changes where no network reaches (a USB
 * stick, an e-mail attachment). This module is the file format only; it knows nothing of SQL or
 * repositories (see repo/bundle.ts for that).
 *
 *     magic      8 bytes  "DDCPBNDL"
 *     version    1 byte   FORMAT_VERSION (1)
 *     frames     type (1 byte), payload length (varint), payload, CRC-32 (4 bytes, big-endian)
 *       'H'      exactly once, first: the header, UTF-8 JSON (source site id, schema, versions…)
 *       'C'      any number: one batch of changes, encoded by sync/codec.ts (at most FRAME_CHANGES
 *                changes or about FRAME_BYTES bytes each, so reading needs one frame in memory)
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
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { closeSync, existsSync, fstatSync, fsyncSync, openSync, readSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { crc32 } from 'node:zlib';
import type { Change } from '../engine/index.ts';
import { DdcpError } from '../base/errors.ts';
import { ByteWriter } from '../base/bytes.ts';
import { decodeChanges, encodeChanges } from '../sync/codec.ts';
import { CodecError } from '../base/errors.ts';
import { writeVarint } from '../base/varint.ts';

export const MAGIC = Buffer.from('DDCPBNDL', 'latin1');
export const FORMAT_VERSION = 1;

export const FRAME_HEADER = 0x48; // 'H'
export const FRAME_CHANGES = 0x43; // 'C'
export const FRAME_TRAILER = 0x54; // 'T'

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

const TRAILER_PAYLOAD = 4 + 8 + 32;
/** type + one-byte length + payload + CRC */
const TRAILER_FRAME = 1 + 1 + TRAILER_PAYLOAD + 4;

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

function headerJson(h: BundleHeader): Uint8Array {
  const json = {
    site_id: h.siteId,
    address: h.address ?? null,
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

function parseHeader(payload: Uint8Array): BundleHeader {
  const bad = (what: string): never => {
    throw new BundleError(`malformed bundle header: ${what}`, 'malformed');
  };
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(payload)) as Record<string, unknown>;
  } catch (cause) {
    throw new BundleError(`malformed bundle header: ${(cause as Error).message}`, 'malformed', { cause });
  }
  if (typeof j !== 'object' || j === null || Array.isArray(j)) bad('not a JSON object');
  const isVersion = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
  const isNames = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === 'string' && s !== '');
  if (typeof j.site_id !== 'string' || !HEX32.test(j.site_id)) bad('site_id must be 32 lowercase hex digits');
  if (j.address !== null && j.address !== undefined && typeof j.address !== 'string') bad('address must be a string');
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
    schema,
    schemaFingerprint: j.schema_fingerprint as string,
    since: j.since as number,
    version: j.version as number,
    ...(typeof j.except_site === 'string' ? { exceptSite: j.except_site } : {}),
    createdAt: j.created_at as string,
  };
}

function checkHeader(h: BundleHeader): void {
  // Writing checks what reading will check, so a writer never produces a file its readers refuse.
  parseHeader(headerJson(h));
}

// --- frames ---

function u32(n: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

/** The CRC-32 of a frame: its index, then its type and length bytes, then its payload. */
function frameCrc(index: number, prefix: Uint8Array, payload: Uint8Array): number {
  return crc32(payload, crc32(prefix, crc32(u32(index))));
}

function framePrefix(type: number, length: number): Uint8Array {
  const w = new ByteWriter();
  w.byte(type);
  writeVarint(w, length);
  return w.result();
}

// --- writing ---

export interface WriterOptions {
  /** Changes per frame at most (default {@link FRAME_CHANGES_MAX}). */
  frameChanges?: number;
  /** Start a new frame once its changes reach about this many bytes (default {@link FRAME_BYTES}). */
  frameBytes?: number;
}

/** A rough upper bound of a change's encoded size, to cut frames by bytes. */
function sizeOf(c: Change): number {
  const v = c.val;
  const val = typeof v === 'string' ? v.length * 3 : v instanceof Uint8Array ? v.length : 9;
  return c.pk.length + val + 40;
}

/**
 * Writes a bundle to an open file descriptor frame by frame: {@link add} changes, then
 * {@link finish}. Holds at most one frame of changes.
 */
export class BundleWriter {
  private readonly fd: number;
  private readonly hash: Hash = createHash('sha256');
  private readonly frameChanges: number;
  private readonly frameBytes: number;
  private pending: Change[] = [];
  private pendingBytes = 0;
  private frames = 0;
  private bytes = 0;
  private count = 0;
  private finished = false;

  /** Writes the magic, the version and the header to `fd` (which the caller opened and closes). */
  constructor(fd: number, header: BundleHeader, options: WriterOptions = {}) {
    checkHeader(header);
    this.fd = fd;
    this.frameChanges = Math.max(1, options.frameChanges ?? FRAME_CHANGES_MAX);
    this.frameBytes = Math.max(1, options.frameBytes ?? FRAME_BYTES);
    const start = Buffer.concat([MAGIC, Buffer.of(FORMAT_VERSION)]);
    this.hash.update(start);
    this.out(start);
    const h = headerJson(header);
    if (h.length > MAX_HEADER_BYTES) throw new BundleError(`the bundle header would be ${h.length} bytes (at most ${MAX_HEADER_BYTES})`, 'too-large');
    this.frame(FRAME_HEADER, h);
  }

  /** Changes written so far (flushed or pending). */
  get changes(): number {
    return this.count + this.pending.length;
  }

  private out(b: Uint8Array): void {
    let off = 0;
    while (off < b.length) off += writeSync(this.fd, b, off, b.length - off);
    this.bytes += b.length;
  }

  private frame(type: number, payload: Uint8Array): void {
    if (payload.length > MAX_FRAME_BYTES) {
      throw new BundleError(`a frame of ${payload.length} bytes exceeds the bundle limit of ${MAX_FRAME_BYTES} (a value too large to bundle?)`, 'too-large');
    }
    const prefix = framePrefix(type, payload.length);
    const crc = u32(frameCrc(this.frames, prefix, payload));
    const whole = Buffer.concat([prefix, payload, crc]);
    if (type !== FRAME_TRAILER) this.hash.update(whole);
    this.out(whole);
    this.frames++;
  }

  private flush(): void {
    if (this.pending.length === 0) return;
    this.frame(FRAME_CHANGES, encodeChanges(this.pending));
    this.count += this.pending.length;
    this.pending = [];
    this.pendingBytes = 0;
  }

  /** Adds one change (written when its frame is full). */
  add(change: Change): void {
    if (this.finished) throw new BundleError('the bundle is already finished', 'io');
    this.pending.push(change);
    this.pendingBytes += sizeOf(change);
    if (this.pending.length >= this.frameChanges || this.pendingBytes >= this.frameBytes) this.flush();
  }

  /** Adds changes in order. */
  write(changes: Iterable<Change>): void {
    for (const c of changes) this.add(c);
  }

  /** Writes the last frame and the trailer. The caller then syncs and closes the file. */
  finish(): BundleSummary {
    if (this.finished) throw new BundleError('the bundle is already finished', 'io');
    this.flush();
    this.finished = true;
    const sha = this.hash.digest();
    const payload = Buffer.alloc(TRAILER_PAYLOAD);
    payload.writeUInt32BE(this.frames, 0);
    payload.writeBigUInt64BE(BigInt(this.count), 4);
    sha.copy(payload, 12);
    this.frame(FRAME_TRAILER, payload);
    return { changes: this.count, frames: this.frames, bytes: this.bytes, sha256: sha.toString('hex') };
  }
}

export interface WriteBundleOptions extends WriterOptions {
  /** Called now and then with the number of changes written so far. */
  onProgress?: (changes: number) => void;
}

/** A file-system error in words, without the temporary file's name. */
function ioReason(err: unknown, folder: string): string {
  switch ((err as NodeJS.ErrnoException).code) {
    case 'ENOENT':
      return `folder ${folder} does not exist`;
    case 'ENOTDIR':
      return `${folder} is not a folder`;
    case 'EACCES':
    case 'EPERM':
      return `permission denied in ${folder}`;
    case 'ENOSPC':
      return 'no space left on the device';
    case 'EROFS':
      return 'the file system is read-only';
    default:
      return (err as Error).message;
  }
}

/** Makes a rename durable (best effort: not every platform can sync a folder). */
function syncFolder(path: string): void {
  try {
    const fd = openSync(path, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // the bundle is complete either way
  }
}

/**
 * Writes a bundle of `changes` to `path` atomically: into a temporary file beside it, synced, then
 * renamed over `path`. If anything fails (including the `changes` iterable throwing), no file —
 * partial or temporary — is left, and an existing file at `path` is untouched.
 */
export function writeBundle(path: string, header: BundleHeader, changes: Iterable<Change>, options: WriteBundleOptions = {}): BundleSummary {
  const cannot = (cause: unknown): BundleError => new BundleError(`cannot write ${path}: ${ioReason(cause, dirname(path))}`, 'io', { cause });
  if (existsSync(path) && statSync(path).isDirectory()) throw new BundleError(`cannot write ${path}: it is a folder`, 'io');
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  let fd: number;
  try {
    fd = openSync(tmp, 'wx', 0o644);
  } catch (cause) {
    throw cannot(cause);
  }
  let open = true;
  try {
    const w = new BundleWriter(fd, header, options);
    let next = 10_000;
    for (const c of changes) {
      w.add(c);
      if (w.changes >= next) {
        options.onProgress?.(w.changes);
        next += 10_000;
      }
    }
    const summary = w.finish();
    options.onProgress?.(summary.changes);
    fsyncSync(fd);
    closeSync(fd);
    open = false;
    renameSync(tmp, path);
    syncFolder(dirname(path));
    return summary;
  } catch (err) {
    if (open) closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      // already gone
    }
    if (err instanceof DdcpError || !(err as NodeJS.ErrnoException).code) throw err;
    throw cannot(err);
  }
}

// --- reading ---

/** A file read forward through one fixed buffer, counting what was consumed. */
class Input {
  private readonly fd: number;
  private readonly buf: Buffer;
  private start = 0;
  private end = 0;
  /** File offset of the next unconsumed byte. */
  offset = 0;

  constructor(fd: number, chunk: number) {
    this.fd = fd;
    this.buf = Buffer.allocUnsafe(chunk);
  }

  /** Reads more into the buffer; returns the bytes available (0 at the end of the file). */
  private fill(): number {
    if (this.start > 0) {
      this.buf.copy(this.buf, 0, this.start, this.end);
      this.end -= this.start;
      this.start = 0;
    }
    if (this.end < this.buf.length) {
      const n = readSync(this.fd, this.buf, this.end, this.buf.length - this.end, this.offset + this.end);
      this.end += n;
    }
    return this.end - this.start;
  }

  /** Whether the file has no more bytes. */
  atEnd(): boolean {
    return this.end === this.start && this.fill() === 0;
  }

  /** One byte, or undefined at the end of the file. */
  byte(): number | undefined {
    if (this.end === this.start && this.fill() === 0) return undefined;
    this.offset++;
    return this.buf[this.start++]!;
  }

  /** Exactly `n` bytes (a copy), or as many as there are if the file ends first. */
  take(n: number): Buffer {
    let avail = this.end - this.start;
    if (avail < n && n <= this.buf.length) {
      while (avail < n) {
        const before = avail;
        avail = this.fill();
        if (avail === before) break;
      }
    }
    const first = Math.min(avail, n);
    const out = Buffer.allocUnsafe(n);
    this.buf.copy(out, 0, this.start, this.start + first);
    this.start += first;
    this.offset += first;
    let got = first;
    while (got < n) {
      const r = readSync(this.fd, out, got, n - got, this.offset);
      if (r === 0) break;
      got += r;
      this.offset += r;
    }
    return got === n ? out : out.subarray(0, got);
  }
}

export interface ReaderOptions {
  /** Bytes read at a time (default {@link READ_CHUNK}). */
  chunk?: number;
}

/** A bundle opened for reading: the header is read and checked; the changes stream from {@link batches}. */
export class BundleReader {
  readonly path: string;
  readonly header: BundleHeader;
  /** The file's size in bytes. */
  readonly size: number;
  private fd: number | undefined;
  private readonly input: Input;
  private readonly hash: Hash = createHash('sha256');
  private frames = 0;
  private used = false;
  private maxFrame = 0;

  private constructor(path: string, fd: number, options: ReaderOptions) {
    this.path = path;
    this.fd = fd;
    this.size = fstatSync(fd).size;
    this.input = new Input(fd, Math.max(64, options.chunk ?? READ_CHUNK));
    this.header = this.readStart();
  }

  /**
   * Opens a bundle and reads its header. Throws {@link BundleError} if the file is not a bundle, of an
   * unsupported version, or its header is damaged.
   */
  static open(path: string, options: ReaderOptions = {}): BundleReader {
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (cause) {
      const code = (cause as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a folder' : (cause as Error).message;
      throw new BundleError(`cannot read bundle ${path}: ${why}`, 'io', { cause });
    }
    try {
      return new BundleReader(path, fd, options);
    } catch (err) {
      closeSync(fd);
      if (err instanceof DdcpError) throw err;
      throw new BundleError(`cannot read bundle ${path}: ${(err as Error).message}`, 'io', { cause: err });
    }
  }

  private fail(message: string, fault: BundleFault): never {
    throw new BundleError(`${this.path}: ${message}`, fault);
  }

  private truncated(what: string): never {
    this.fail(`truncated bundle: the file (${this.size} bytes) ends inside ${what}`, 'truncated');
  }

  private readStart(): BundleHeader {
    const magic = this.input.take(MAGIC.length);
    if (magic.length === 0) this.fail('not a bundle: the file is empty', 'not-a-bundle');
    if (!magic.equals(MAGIC.subarray(0, magic.length))) this.fail('not a ddcp bundle (no DDCPBNDL signature at its start)', 'not-a-bundle');
    if (magic.length < MAGIC.length) this.truncated('the signature');
    const version = this.input.byte();
    if (version === undefined) this.truncated('the signature');
    if (version !== FORMAT_VERSION) {
      this.fail(`unsupported bundle format version ${version} (this ddcp reads version ${FORMAT_VERSION}; ${version > FORMAT_VERSION ? 'upgrade ddcp' : 'the file is damaged'})`, 'unsupported-version');
    }
    this.hash.update(Buffer.concat([MAGIC, Buffer.of(version)]));
    const frame = this.readFrame();
    if (!frame) this.truncated('the header');
    if (frame.type !== FRAME_HEADER) this.fail('malformed bundle: it does not start with a header', 'malformed');
    return parseHeader(frame.payload);
  }

  /** Reads the next frame, checking its bounds and CRC; undefined at a clean end of file. */
  private readFrame(): { type: number; payload: Uint8Array } | undefined {
    const type = this.input.byte();
    if (type === undefined) return undefined;
    if (type !== FRAME_HEADER && type !== FRAME_CHANGES && type !== FRAME_TRAILER) {
      this.fail(`damaged bundle: unknown frame type 0x${type.toString(16).padStart(2, '0')} at byte ${this.input.offset - 1}`, 'malformed');
    }
    let length = 0;
    let scale = 1;
    const prefix = [type];
    for (let i = 0; ; i++) {
      const b = this.input.byte();
      if (b === undefined) this.truncated(`the start of frame ${this.frames}`);
      prefix.push(b);
      length += (b & 0x7f) * scale;
      if (b < 0x80) break;
      scale *= 0x80;
      if (i === 4) this.fail(`damaged bundle: a frame length at byte ${this.input.offset} is too long`, 'malformed');
    }
    const max = type === FRAME_HEADER ? MAX_HEADER_BYTES : type === FRAME_TRAILER ? TRAILER_PAYLOAD : MAX_FRAME_BYTES;
    if (length > max) {
      this.fail(`damaged or unsupported bundle: a frame of ${length} bytes at byte ${this.input.offset} exceeds the limit of ${max}`, 'too-large');
    }
    const what = `frame ${this.frames} (${length} bytes from byte ${this.input.offset})`;
    if (length + 4 > this.size - this.input.offset) this.truncated(what);
    const payload = this.input.take(length);
    if (payload.length < length) this.truncated(what);
    const crcBytes = this.input.take(4);
    if (crcBytes.length < 4) this.truncated(what);
    const prefixBytes = Uint8Array.from(prefix);
    if (crcBytes.readUInt32BE(0) !== frameCrc(this.frames, prefixBytes, payload)) {
      this.fail(`checksum mismatch: frame ${this.frames} (ending at byte ${this.input.offset}) is damaged`, 'checksum');
    }
    if (type !== FRAME_TRAILER) {
      this.hash.update(prefixBytes);
      this.hash.update(payload);
      this.hash.update(crcBytes);
    }
    this.frames++;
    this.maxFrame = Math.max(this.maxFrame, payload.length);
    // A plain Uint8Array, so the values and keys decoded from it are plain byte arrays, not Buffers.
    return { type, payload: new Uint8Array(payload.buffer, payload.byteOffset, payload.length) };
  }

  /** The largest frame payload read so far (bytes): what reading held in memory at once, besides its read buffer. */
  get largestFrame(): number {
    return this.maxFrame;
  }

  /**
   * The change count the trailer announces, read ahead from the end of the file — for progress
   * display only: it is trusted once {@link batches} has verified the whole file. Undefined if the
   * end of the file is not an intact trailer.
   */
  announcedChanges(): number | undefined {
    if (this.fd === undefined || this.size < MAGIC.length + 1 + TRAILER_FRAME) return undefined;
    const b = Buffer.alloc(TRAILER_FRAME);
    if (readSync(this.fd, b, 0, TRAILER_FRAME, this.size - TRAILER_FRAME) !== TRAILER_FRAME) return undefined;
    if (b[0] !== FRAME_TRAILER || b[1] !== TRAILER_PAYLOAD) return undefined;
    const payload = b.subarray(2, 2 + TRAILER_PAYLOAD);
    const index = payload.readUInt32BE(0);
    if (b.readUInt32BE(2 + TRAILER_PAYLOAD) !== frameCrc(index, b.subarray(0, 2), payload)) return undefined;
    const n = payload.readBigUInt64BE(4);
    return n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : undefined;
  }

  /**
   * The changes, one frame's batch at a time, in the order written. Each frame is checked before its
   * changes are yielded; when the file ends, the trailer's counts and checksum are checked, and the
   * generator returns the summary — or throws {@link BundleError} if anything is wrong. Can be
   * iterated once; closes the file when done.
   */
  *batches(): Generator<Change[], BundleSummary> {
    if (this.used) throw new BundleError(`${this.path}: a bundle can be read once per open`, 'io');
    this.used = true;
    try {
      let changes = 0;
      for (;;) {
        const frame = this.readFrame();
        if (!frame) {
          this.fail(`truncated bundle: no trailer (the file ends after ${changes} changes in ${this.frames} frames); it is incomplete`, 'truncated');
        }
        if (frame.type === FRAME_HEADER) this.fail(`damaged bundle: a second header at frame ${this.frames - 1}`, 'malformed');
        if (frame.type === FRAME_TRAILER) {
          const p = frame.payload;
          if (p.length !== TRAILER_PAYLOAD) this.fail('damaged bundle: malformed trailer', 'malformed');
          const view = Buffer.from(p.buffer, p.byteOffset, p.length);
          const sha = this.hash.digest();
          if (!sha.equals(view.subarray(12))) this.fail('checksum mismatch: the bundle is damaged (its SHA-256 does not match)', 'checksum');
          const frames = view.readUInt32BE(0);
          const count = view.readBigUInt64BE(4);
          if (frames !== this.frames - 1) this.fail(`damaged bundle: the trailer counts ${frames} frames, the file has ${this.frames - 1}`, 'malformed');
          if (count !== BigInt(changes)) this.fail(`damaged bundle: the trailer counts ${count} changes, the file has ${changes}`, 'malformed');
          if (!this.input.atEnd()) this.fail(`damaged bundle: unexpected bytes after the trailer (at byte ${this.input.offset} of ${this.size})`, 'malformed');
          return { changes, frames: this.frames, bytes: this.input.offset, sha256: sha.toString('hex') };
        }
        let batch: Change[];
        try {
          batch = decodeChanges(frame.payload);
        } catch (err) {
          if (err instanceof CodecError) this.fail(`malformed bundle: frame ${this.frames - 1}: ${err.message}`, 'malformed');
          throw err;
        }
        changes += batch.length;
        yield batch;
      }
    } finally {
      this.close();
    }
  }

  /** The changes one at a time (see {@link batches}). */
  *changes(): Generator<Change, BundleSummary> {
    const it = this.batches();
    try {
      for (;;) {
        const r = it.next();
        if (r.done) return r.value;
        yield* r.value;
      }
    } finally {
      it.return(undefined as never);
    }
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

/**
 * Reads a whole bundle, checking everything, without keeping its changes: the header and what the
 * file holds. Throws {@link BundleError} if it is damaged.
 */
export function verifyBundle(path: string, onProgress?: (changes: number) => void): { header: BundleHeader; summary: BundleSummary } {
  const r = BundleReader.open(path);
  const it = r.batches();
  let n = 0;
  for (;;) {
    const step = it.next();
    if (step.done) return { header: r.header, summary: step.value };
    n += step.value.length;
    onProgress?.(n);
  }
}
