/**
 * {@link FrameStream} over a libp2p v3 stream (an event target: `message` events carry bytes,
 * `send()` returns false when the muxer's buffer is full and `drain` follows, `pause()`/`resume()`
 * stop and restart reading — with Yamux, a paused stream stops granting window to the sender, so
 * the sender's `send()` eventually waits too).
 *
 * Frames are varint length-prefixed (see transport/frames.ts). Reading: incoming bytes go through a
 * {@link FrameDecoder}; whole frames wait in a {@link FrameInbox}, and the libp2p stream is paused
 * while more than `highWaterBytes` of them are unread. A malformed or oversized frame aborts the
 * stream (the peer sees a reset) and the reader gets the named error. Writing: `send()` hands the
 * prefix and frame to the stream and then waits until its unsent backlog is at most
 * `highWaterBytes`.
 *
 * libp2p aborts a stream on which nothing moved for its `inactivityTimeout` (120 s by default); a
 * protocol that idles longer should send keep-alive frames or set `stream.inactivityTimeout`.
 */
import type { Stream, StreamCloseEvent, StreamMessageEvent } from '@libp2p/interface';
import { BaseFrameStream } from '../frame-stream.ts';
import {
  FrameDecoder,
  FrameError,
  FrameStreamClosedError,
  FrameStreamResetError,
  encodeFrameLength,
  frameOptions,
  type FrameStream,
  type FrameStreamOptions,
  type SendOptions,
} from '../frames.ts';

/**
 * What a paused Yamux stream may still receive: the largest receive window it may have granted
 * (16 MiB by libp2p's default; our nodes use 4 MiB, see STREAM_WINDOW_BYTES in node.ts), plus slack. libp2p resets a stream whose paused read buffer outgrows
 * `maxReadBufferLength`, so it is raised to at least this.
 */
const PAUSED_READ_ALLOWANCE = 24 * 1024 * 1024;

/** Wraps a libp2p stream (just opened or just accepted, before anything was read from it). */
export function libp2pFrameStream(stream: Stream, remotePeer: string, options: FrameStreamOptions = {}): FrameStream {
  return new Libp2pFrameStream(stream, remotePeer, options);
}

class Libp2pFrameStream extends BaseFrameStream {
  readonly #stream: Stream;
  readonly #decoder: FrameDecoder;
  /** Frames the decoder allocated and handed on whole: ours to free once the reader releases them. */
  readonly #owned = new WeakSet<Uint8Array>();
  #pausePending = false;

  constructor(stream: Stream, remotePeer: string, options: FrameStreamOptions) {
    super(remotePeer, frameOptions(options));
    this.#stream = stream;
    this.#decoder = new FrameDecoder(this.maxFrameBytes);
    stream.maxReadBufferLength = Math.max(stream.maxReadBufferLength, PAUSED_READ_ALLOWANCE + this.highWaterBytes);
    stream.addEventListener('message', this.#onMessage);
    stream.addEventListener('end', this.#onEnd);
    stream.addEventListener('close', this.#onClose);
    // the stream may have ended or closed before we listened
    if (stream.status === 'closed' || stream.status === 'aborted' || stream.status === 'reset') this.#onClose(undefined);
    else if (stream.readableEnded) this.#onEnd();
  }

  // ---- reading

  readonly #onMessage = (evt: StreamMessageEvent): void => {
    if (this.inbox.closed) return; // reader gone or stream failed: drop
    const data = evt.data;
    try {
      for (const chunk of data instanceof Uint8Array ? [data] : data) {
        for (const frame of this.#decoder.push(chunk)) {
          this.#owned.add(frame);
          this.inbox.push(frame);
        }
      }
    } catch (err) {
      this.#failLocally(err as Error, false);
      return;
    }
    // Pause after this dispatch, not inside it: when the dispatch comes from resume(), libp2p
    // re-opens the Yamux window right after it, which would undo a pause made here.
    if (this.inbox.full && !this.#pausePending) {
      this.#pausePending = true;
      queueMicrotask(() => {
        this.#pausePending = false;
        if (this.inbox.full && !this.inbox.closed && this.#stream.readStatus === 'readable') {
          try {
            this.#stream.pause();
          } catch {
            // closing already: nothing more will come
          }
        }
      });
    }
  };

  /**
   * Frees a frame this stream allocated (a fresh buffer per frame, see FrameDecoder) at once: its
   * ArrayBuffer is detached (`transfer(0)`), which releases the memory without waiting for a
   * collection. Anything else is left alone.
   */
  override release(frame: Uint8Array): void {
    if (!this.#owned.delete(frame)) return;
    const buffer = frame.buffer;
    if (buffer instanceof ArrayBuffer && !buffer.detached && frame.byteOffset === 0 && frame.byteLength === buffer.byteLength) buffer.transfer(0);
  }

  protected override resumeReading(): void {
    if (this.#stream.readStatus === 'paused') this.#stream.resume();
  }

  readonly #onEnd = (): void => {
    // 'end' also fires just before the 'close' of a reset or abort; that close carries the error
    if (this.#stream.status === 'reset' || this.#stream.status === 'aborted') return;
    this.#finishReading();
  };

  readonly #onClose = (evt: StreamCloseEvent | undefined): void => {
    const error = evt?.error;
    if (error != null) {
      this.fail(
        evt?.local === false
          ? new FrameStreamResetError(`${this.remotePeer} reset the stream`, { cause: error })
          : this.#mapError(error),
        false,
      );
      return;
    }
    if (this.#stream.status === 'reset' || this.#stream.status === 'aborted') {
      this.fail(new FrameStreamResetError(`${this.remotePeer}: the stream was reset`), false);
      return;
    }
    // closed cleanly; if unread data is still buffered in the (paused) stream, 'end' follows it
    if (this.#stream.readBufferLength === 0) this.#finishReading();
  };

  #finishReading(): void {
    if (this.inbox.closed) return;
    try {
      this.#decoder.finish();
    } catch (err) {
      this.#failLocally(err as Error, false);
      return;
    }
    this.inbox.end();
  }

  // ---- writing

  protected override async write(frame: Uint8Array, options: SendOptions): Promise<void> {
    const stream = this.#stream;
    if (stream.writeStatus !== 'writable') {
      throw new FrameStreamClosedError(`cannot send: the stream's writable end is ${stream.writeStatus}`);
    }
    try {
      // two sends, one synchronous step: nothing can come between the prefix and the frame
      stream.send(encodeFrameLength(frame.length));
      // copied unless shared (never modified again): the caller may reuse its buffer once we
      // resolve, while libp2p still holds it. Noise encrypts into new buffers, so a shared frame is
      // only read; not copying it saves the serving side a second buffer per batch in flight.
      if (frame.length > 0) stream.send(options.shared ? frame : frame.slice());
    } catch (err) {
      throw this.error ?? this.#mapError(err as Error);
    }
    await this.#writable(options.signal);
  }

  /** Resolves once at most `highWaterBytes` are queued unsent; rejects if the stream closes first. */
  #writable(signal?: AbortSignal): Promise<void> {
    const stream = this.#stream;
    const low = (): boolean => stream.writeBufferLength <= this.highWaterBytes;
    if (low()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const cleanup = (): void => {
        stream.removeEventListener('drain', onDrain);
        stream.removeEventListener('idle', onIdle);
        stream.removeEventListener('close', onClose);
        signal?.removeEventListener('abort', onAbort);
      };
      const check = (): void => {
        if (!low()) return;
        cleanup();
        resolve();
      };
      // on 'drain' the stream resumes sending in a microtask queued just before us: look after it
      const onDrain = (): void => queueMicrotask(check);
      const onIdle = (): void => check();
      const onClose = (evt: StreamCloseEvent): void => {
        cleanup();
        reject(this.error ?? (evt.error != null ? this.#mapError(evt.error) : new FrameStreamClosedError('the stream closed before the frame was sent')));
      };
      const onAbort = (): void => {
        cleanup();
        reject(signal!.reason);
      };
      stream.addEventListener('drain', onDrain);
      stream.addEventListener('idle', onIdle);
      stream.addEventListener('close', onClose);
      signal?.addEventListener('abort', onAbort, { once: true });
      if (signal?.aborted) onAbort();
    });
  }

  protected override async endWriting(options: SendOptions): Promise<void> {
    try {
      await this.#stream.close(options);
    } catch (err) {
      throw this.error ?? this.#mapError(err as Error);
    }
  }

  override abort(err: Error): void {
    this.#failLocally(err, true);
  }

  // ---- failure

  /** Fails the stream from this end: readers and senders get `err`, the peer sees a reset. */
  #failLocally(err: Error, discard: boolean): void {
    this.fail(err, discard);
    try {
      this.#stream.abort(err);
    } catch {
      // already closed
    }
  }

  /** libp2p's errors as frame errors where they mean the same (the peer reset the stream). */
  #mapError(err: Error): Error {
    if (err instanceof FrameError) return err;
    if (err.name === 'StreamResetError' || err.name === 'StreamAbortedError' || err.name === 'ConnectionClosedError' || err.name === 'MuxerClosedError') {
      return new FrameStreamResetError(`${this.remotePeer}: ${err.message || err.name}`, { cause: err });
    }
    if (err.name === 'StreamStateError' || err.name === 'StreamClosedError') {
      return new FrameStreamClosedError(`${this.remotePeer}: ${err.message || err.name}`, { cause: err });
    }
    return err;
  }
}
