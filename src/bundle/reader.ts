/** Reading bundles (format.ts) as a stream, each frame checked before its changes are handed out. */
import type { Hash } from 'node:crypto';
import { nodeCrypto } from '../base/node-crypto.ts';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import type { Change } from '../engine/index.ts';
import { CodecError, DdcpError } from '../base/errors.ts';
import { decodeChanges } from '../sync/codec.ts';
import { fromHex } from '../base/hex.ts';
import { signedMessage, SIGNATURE_BYTES, verifySignature, verifySiteProof } from '../sync/proof.ts';
import {
  BundleError,
  FORMAT_VERSION,
  FRAME_CHANGES,
  FRAME_HEADER,
  FRAME_TRAILER,
  FRAME_SIGNATURE,
  BUNDLE_SIGNATURE_DOMAIN,
  frameCrc,
  MAGIC,
  MAX_FRAME_BYTES,
  MAX_HEADER_BYTES,
  parseHeader,
  READ_CHUNK,
  TRAILER_FRAME,
  TRAILER_PAYLOAD,
  type BundleFault,
  type BundleHeader,
  type BundleSummary,
} from './format.ts';

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
  private readonly hash: Hash = nodeCrypto().createHash('sha256');
  private frames = 0;
  private used = false;
  private maxFrame = 0;
  /** The SHA-256 of the bytes before the signature frame, once it was read. */
  private signedDigest: Buffer | undefined;

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
    const header = parseHeader(frame.payload);
    if (header.siteProof !== undefined && !verifySiteProof(fromHex(header.siteId), { address: header.address!, signature: fromHex(header.siteProof) })) {
      this.fail(`forged bundle: its header's proof of site id ${header.siteId} does not verify for address ${header.address}`, 'malformed');
    }
    return header;
  }

  /**
   * Whether the source signed the bundle (its header proves its site id, and the content is checked
   * against its signature as it is read: {@link batches} throws if that fails). Unsigned bundles
   * (older ddcp, or made without an identity) say nothing about who made them.
   */
  get signed(): boolean {
    return this.header.siteProof !== undefined;
  }

  /** Reads the next frame, checking its bounds and CRC; undefined at a clean end of file. */
  private readFrame(): { type: number; payload: Uint8Array } | undefined {
    const type = this.input.byte();
    if (type === undefined) return undefined;
    if (type !== FRAME_HEADER && type !== FRAME_CHANGES && type !== FRAME_TRAILER && type !== FRAME_SIGNATURE) {
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
    if (type === FRAME_SIGNATURE) this.signedDigest = this.hash.copy().digest();
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
      let signature: Uint8Array | undefined;
      for (;;) {
        const frame = this.readFrame();
        if (!frame) {
          this.fail(`truncated bundle: no trailer (the file ends after ${changes} changes in ${this.frames} frames); it is incomplete`, 'truncated');
        }
        if (frame.type === FRAME_HEADER) this.fail(`damaged bundle: a second header at frame ${this.frames - 1}`, 'malformed');
        if (signature !== undefined && frame.type !== FRAME_TRAILER) this.fail(`damaged bundle: frame ${this.frames - 1} follows the signature`, 'malformed');
        if (frame.type === FRAME_SIGNATURE) {
          if (!this.signed) this.fail('malformed bundle: a signature without a site proof in the header', 'malformed');
          if (frame.payload.length !== SIGNATURE_BYTES || !verifySignature(this.header.address!, signedMessage(BUNDLE_SIGNATURE_DOMAIN, this.signedDigest!), frame.payload)) {
            this.fail(`forged or damaged bundle: its content is not signed by ${this.header.address}`, 'checksum');
          }
          signature = frame.payload;
          continue;
        }
        if (frame.type === FRAME_TRAILER) {
          if (this.signed && signature === undefined) this.fail(`forged or damaged bundle: its header claims ${this.header.address} but its content is not signed`, 'checksum');
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
