/**
 * Frame streams: a two-way channel of whole messages ("frames") between this process and one peer,
 * independent of the transport underneath (a libp2p stream in transport/p2p/frames.ts, an in-memory
 * pair in transport/memory.ts): the sync layer's FrameChannel port (sync/channel.ts), implemented here.
 *
 * On a byte stream each frame is its length as an unsigned LEB128 varint followed by that many
 * bytes. The reading side is {@link FrameDecoder}: it accepts arbitrary bytes from an untrusted
 * peer, never buffers more than one frame of at most `maxFrameBytes`, and reports anything that is
 * not a well-formed frame sequence with a named {@link FrameError}.
 *
 * Both directions are flow-controlled:
 * - `send()` resolves only once the frame has been accepted and the bytes still queued for the
 *   peer are under the stream's high-water mark, so a sender that awaits each `send()` never
 *   buffers more than about one frame plus `highWaterBytes`, however slow the reader.
 * - frames received but not yet taken by the reader are held up to `highWaterBytes`; past that the
 *   transport stops reading (and so, through its own flow control, the peer stops sending).
 */
import { DdcpError } from '../base/errors.ts';
import type { FrameChannel } from '../sync/channel.ts';

/** The largest frame accepted by default: 64 MiB. */
export const DEFAULT_MAX_FRAME_BYTES = 64 * 1024 * 1024;
/** How many bytes of frames may wait in each direction by default before backpressure: 1 MiB. */
export const DEFAULT_HIGH_WATER_BYTES = 1024 * 1024;

export interface FrameStreamOptions {
  /**
   * The largest frame this end sends or accepts, in bytes (default {@link DEFAULT_MAX_FRAME_BYTES},
   * 64 MiB). A peer that announces a longer frame is cut off with a {@link FrameTooLargeError}.
   */
  maxFrameBytes?: number;
  /**
   * Backpressure threshold, in bytes, for both directions (default
   * {@link DEFAULT_HIGH_WATER_BYTES}, 1 MiB): `send()` waits while more than this is queued for the
   * peer, and reading from the transport pauses while more than this waits for our reader.
   */
  highWaterBytes?: number;
}

export type { SendOptions } from '../sync/channel.ts';

/**
 * The sync layer's {@link FrameChannel} port as transports provide it, with who is at the other end
 * and the frame size limit. (One port: sessions take any FrameChannel; this only names what a
 * transport's channels carry besides.)
 */
export interface FrameStream extends FrameChannel {
  /** Who is at the other end: a peer id for libp2p streams, a label for in-memory ones. */
  readonly remotePeer: string;
  /**
   * The largest frame this end sends or accepts. `send()` rejects a longer one with
   * {@link FrameTooLargeError} (the stream stays usable); after `close()` it rejects with
   * {@link FrameStreamClosedError}; a failed stream rejects with its error ({@link FrameStreamResetError}
   * when the peer reset it).
   */
  readonly maxFrameBytes: number;
}

/** Any failure of a frame stream. */
export class FrameError extends DdcpError {
  override name = 'FrameError';
}

/** A frame is longer than the limit (announced by the peer, or given to `send`). */
export class FrameTooLargeError extends FrameError {
  override name = 'FrameTooLargeError';
}

/** The peer's bytes ended inside a frame (or its length prefix). */
export class FrameTruncatedError extends FrameError {
  override name = 'FrameTruncatedError';
}

/** `send()` after `close()` (or after the transport closed for writing). */
export class FrameStreamClosedError extends FrameError {
  override name = 'FrameStreamClosedError';
}

/** The peer (or the connection to it) reset the stream. */
export class FrameStreamResetError extends FrameError {
  override name = 'FrameStreamResetError';
  /** The WebSocket close code the peer closed with, when that is how the stream ended. */
  closeCode?: number;
}

/**
 * Why `send()` must refuse a frame before queueing it — over the size limit, or the sending side
 * already closed (and not failed: a failed stream reports its own error) — or undefined.
 */
export function sendRefusal(frame: Uint8Array, maxFrameBytes: number, closedForSending: boolean): FrameError | undefined {
  if (frame.length > maxFrameBytes) return new FrameTooLargeError(`frame of ${frame.length} bytes exceeds the ${maxFrameBytes}-byte limit`);
  if (closedForSending) return new FrameStreamClosedError('cannot send on a closed frame stream');
  return undefined;
}

/** Resolved options with their defaults, validated. */
export function frameOptions(options: FrameStreamOptions = {}): Required<FrameStreamOptions> {
  const maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
  const highWaterBytes = options.highWaterBytes ?? DEFAULT_HIGH_WATER_BYTES;
  if (!Number.isSafeInteger(maxFrameBytes) || maxFrameBytes < 0) throw new RangeError(`maxFrameBytes must be a non-negative integer, not ${maxFrameBytes}`);
  if (!Number.isSafeInteger(highWaterBytes) || highWaterBytes < 1) throw new RangeError(`highWaterBytes must be a positive integer, not ${highWaterBytes}`);
  return { maxFrameBytes, highWaterBytes };
}

/** The length prefix of a frame of `length` bytes: unsigned LEB128. */
export function encodeFrameLength(length: number): Uint8Array {
  const out: number[] = [];
  let n = length;
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
  return Uint8Array.from(out);
}

/** How many bytes the length prefix of a frame of `length` bytes takes. */
export function frameLengthBytes(length: number): number {
  let bytes = 1;
  while (length >= 0x80) {
    length = Math.floor(length / 0x80);
    bytes++;
  }
  return bytes;
}

/**
 * Incremental decoder of length-prefixed frames from arbitrary chunks of bytes. Holds at most one
 * partial frame (allocated once its length is known and checked against the limit) and a few
 * bytes of length prefix. After it has thrown, it must not be used again.
 */
export class FrameDecoder {
  readonly maxFrameBytes: number;
  readonly #maxPrefixBytes: number;
  // length prefix being read
  #prefixValue = 0;
  #prefixScale = 1;
  #prefixBytes = 0;
  // frame body being filled (null while reading a prefix)
  #body: Uint8Array | null = null;
  #filled = 0;

  constructor(maxFrameBytes: number = DEFAULT_MAX_FRAME_BYTES) {
    this.maxFrameBytes = maxFrameBytes;
    this.#maxPrefixBytes = frameLengthBytes(maxFrameBytes);
  }

  /** Whether the bytes so far end exactly after a frame. */
  get atBoundary(): boolean {
    return this.#body === null && this.#prefixBytes === 0;
  }

  /** Bytes held for the frame being assembled. */
  get bufferedBytes(): number {
    return this.#body === null ? this.#prefixBytes : this.#filled;
  }

  /**
   * Consumes `chunk` and returns the frames it completes (possibly none). Throws
   * {@link FrameTooLargeError} when a frame is announced longer than the limit (or its length
   * prefix is longer than any allowed length needs).
   */
  push(chunk: Uint8Array): Uint8Array[] {
    const frames: Uint8Array[] = [];
    let pos = 0;
    while (pos < chunk.length) {
      if (this.#body === null) {
        const b = chunk[pos++]!;
        this.#prefixBytes++;
        this.#prefixValue += (b & 0x7f) * this.#prefixScale;
        this.#prefixScale *= 0x80;
        if (b >= 0x80) {
          if (this.#prefixBytes >= this.#maxPrefixBytes) {
            throw new FrameTooLargeError(`frame length prefix longer than ${this.#maxPrefixBytes} bytes: the frame would exceed the ${this.maxFrameBytes}-byte limit`);
          }
          continue;
        }
        const length = this.#prefixValue;
        this.#prefixValue = 0;
        this.#prefixScale = 1;
        this.#prefixBytes = 0;
        if (length > this.maxFrameBytes) {
          throw new FrameTooLargeError(`frame of ${length} bytes exceeds the ${this.maxFrameBytes}-byte limit`);
        }
        if (length === 0) {
          frames.push(new Uint8Array(0));
          continue;
        }
        this.#body = new Uint8Array(length);
        this.#filled = 0;
        continue;
      }
      const take = Math.min(this.#body.length - this.#filled, chunk.length - pos);
      this.#body.set(chunk.subarray(pos, pos + take), this.#filled);
      this.#filled += take;
      pos += take;
      if (this.#filled === this.#body.length) {
        frames.push(this.#body);
        this.#body = null;
        this.#filled = 0;
      }
    }
    return frames;
  }

  /** Call at the end of the bytes: throws {@link FrameTruncatedError} inside a frame. */
  finish(): void {
    if (this.#body !== null) {
      throw new FrameTruncatedError(`stream ended inside a frame: ${this.#filled} of ${this.#body.length} bytes received`);
    }
    if (this.#prefixBytes > 0) {
      throw new FrameTruncatedError(`stream ended inside a frame's length prefix (${this.#prefixBytes} bytes)`);
    }
  }
}

/**
 * The receiving half shared by frame stream implementations: a queue of whole frames with byte
 * accounting, read by one async iterator. The transport pushes frames and ends or fails it;
 * `onLow` is called whenever the queue falls to half the high-water mark or less (resume reading)
 * and when the reader goes away.
 */
export class FrameInbox implements AsyncIterable<Uint8Array> {
  readonly highWaterBytes: number;
  #onLow: () => void;
  #frames: Uint8Array[] = [];
  #head = 0;
  #bytes = 0;
  #ended = false;
  #error: Error | null = null;
  #iterated = false;
  #abandoned = false;
  #wake: (() => void) | null = null;
  #lowWaiters: Array<() => void> = [];

  constructor(highWaterBytes: number, onLow: () => void = () => {}) {
    this.highWaterBytes = highWaterBytes;
    this.#onLow = onLow;
  }

  /** Bytes of frames waiting for the reader. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Whether more than the high-water mark waits (the transport should stop reading). */
  get full(): boolean {
    return this.#bytes > this.highWaterBytes;
  }

  /** Whether nothing more will be queued: ended, failed, or the reader went away. */
  get closed(): boolean {
    return this.#ended || this.#error !== null || this.#abandoned;
  }

  /** Whether the reader stopped (left its loop); later frames are dropped. */
  get abandoned(): boolean {
    return this.#abandoned;
  }

  /** The error the stream failed with, if it did. */
  get error(): Error | null {
    return this.#error;
  }

  /** Queues a frame for the reader (dropped if the inbox is closed). */
  push(frame: Uint8Array): void {
    if (this.closed) return;
    this.#frames.push(frame);
    this.#bytes += frame.length;
    this.#notify();
  }

  /** The peer finished sending: the reader ends after the queued frames. */
  end(): void {
    if (this.closed) return;
    this.#ended = true;
    this.#notify();
    this.#releaseLow();
  }

  /**
   * The stream failed: the reader throws `err` — at once if `discard` (queued frames are dropped),
   * otherwise after the frames already queued.
   */
  fail(err: Error, discard: boolean): void {
    if (this.#error !== null || this.#abandoned) return;
    if (this.#ended && !discard) return; // it already ended cleanly; nothing more to report
    this.#error = err;
    if (discard) this.#clear();
    this.#notify();
    this.#releaseLow();
  }

  /** Resolves when the queue is at or under the high-water mark, or nothing more will be queued. */
  async belowHighWater(): Promise<void> {
    while (this.#bytes > this.highWaterBytes && !this.closed) {
      await new Promise<void>((resolve) => this.#lowWaiters.push(resolve));
    }
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
    if (this.#iterated) throw new FrameError('a frame stream can be read by one consumer only, once');
    this.#iterated = true;
    try {
      while (true) {
        if (this.#head < this.#frames.length) {
          const frame = this.#frames[this.#head]!;
          this.#frames[this.#head++] = EMPTY;
          if (this.#head > 1024 && this.#head * 2 > this.#frames.length) {
            this.#frames = this.#frames.slice(this.#head);
            this.#head = 0;
          }
          this.#bytes -= frame.length;
          if (this.#bytes <= this.highWaterBytes / 2) this.#releaseLow();
          yield frame;
          continue;
        }
        if (this.#error !== null) throw this.#error;
        if (this.#ended) return;
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
        });
      }
    } finally {
      if (!this.#ended || this.#head < this.#frames.length) {
        this.#abandoned = true;
        this.#clear();
        this.#releaseLow();
      }
    }
  }

  #clear(): void {
    this.#frames = [];
    this.#head = 0;
    this.#bytes = 0;
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }

  #releaseLow(): void {
    const waiters = this.#lowWaiters;
    this.#lowWaiters = [];
    for (const resolve of waiters) resolve();
    try {
      this.#onLow();
    } catch {
      // the transport's resume failing is reported through its own close/error path
    }
  }
}

const EMPTY = new Uint8Array(0);
