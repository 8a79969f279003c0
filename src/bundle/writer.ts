/** Writing bundles (format.ts): frame by frame to an open file, or atomically to a path. */
import type { Hash } from 'node:crypto';
import { nodeCrypto } from '../base/node-crypto.ts';
import { closeSync, existsSync, fsyncSync, openSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Change } from '../engine/index.ts';
import { DdcpError } from '../base/errors.ts';
import { encodeChanges } from '../sync/codec.ts';
import { signedMessage, type Signer } from '../sync/proof.ts';
import {
  BundleError,
  checkHeader,
  FORMAT_VERSION,
  FRAME_BYTES,
  FRAME_CHANGES,
  FRAME_CHANGES_MAX,
  FRAME_HEADER,
  FRAME_TRAILER,
  FRAME_SIGNATURE,
  BUNDLE_SIGNATURE_DOMAIN,
  frameCrc,
  framePrefix,
  headerJson,
  MAGIC,
  MAX_FRAME_BYTES,
  MAX_HEADER_BYTES,
  TRAILER_PAYLOAD,
  u32,
  type BundleHeader,
  type BundleSummary,
} from './format.ts';

export interface WriterOptions {
  /** Changes per frame at most (default {@link FRAME_CHANGES_MAX}). */
  frameChanges?: number;
  /** Start a new frame once its changes reach about this many bytes (default {@link FRAME_BYTES}). */
  frameBytes?: number;
  /** Signs the content (the 'S' frame); required when the header has a site proof. */
  sign?: Signer;
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
  private readonly hash: Hash = nodeCrypto().createHash('sha256');
  private readonly frameChanges: number;
  private readonly frameBytes: number;
  private pending: Change[] = [];
  private pendingBytes = 0;
  private frames = 0;
  private bytes = 0;
  private count = 0;
  private finished = false;
  private readonly sign: Signer | undefined;

  /** Writes the magic, the version and the header to `fd` (which the caller opened and closes). */
  constructor(fd: number, header: BundleHeader, options: WriterOptions = {}) {
    checkHeader(header);
    if (header.siteProof !== undefined && !options.sign) throw new BundleError('a bundle with a site proof must be signed', 'io');
    this.sign = header.siteProof !== undefined ? options.sign : undefined;
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
    if (this.sign) this.frame(FRAME_SIGNATURE, this.sign(signedMessage(BUNDLE_SIGNATURE_DOMAIN, this.hash.copy().digest())));
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
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${nodeCrypto().randomBytes(4).toString('hex')}`);
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
