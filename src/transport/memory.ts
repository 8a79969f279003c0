/**
 * An in-memory pair of connected {@link FrameStream}s, for testing protocols without a network.
 * It behaves like a libp2p frame stream: frames arrive whole and in order, each end queues at most
 * `highWaterBytes` (plus one frame) of unread frames before the other end's `send()` waits, frames
 * are copied (the sender may reuse its buffer), `close()` half-closes, `abort()` resets both ways
 * (the other end sees a {@link FrameStreamResetError}), and the same frame size limit applies.
 */
import {
  FrameInbox,
  FrameStreamResetError,
  frameOptions,
  sendRefusal,
  type FrameStream,
  type FrameStreamOptions,
  type SendOptions,
} from './frames.ts';

export interface FramePairOptions extends FrameStreamOptions {
  /** The `remotePeer` of the first and of the second stream (default 'memory-b' and 'memory-a'). */
  names?: [string, string];
}

/** Two connected in-memory frame streams: what one sends, the other reads. */
export function framePair(options: FramePairOptions = {}): [FrameStream, FrameStream] {
  const { maxFrameBytes, highWaterBytes } = frameOptions(options);
  const [nameOfB, nameOfA] = options.names ?? ['memory-b', 'memory-a'];
  const a = new MemoryFrameStream(nameOfB, maxFrameBytes, highWaterBytes);
  const b = new MemoryFrameStream(nameOfA, maxFrameBytes, highWaterBytes);
  a.peer = b;
  b.peer = a;
  return [a, b];
}

class MemoryFrameStream implements FrameStream {
  readonly remotePeer: string;
  readonly maxFrameBytes: number;
  readonly inbox: FrameInbox;
  peer!: MemoryFrameStream;
  #writeClosed = false;
  #closed: Promise<void> | null = null;
  #error: Error | null = null;
  #chain: Promise<void> = Promise.resolve();
  /** Wakes sends waiting on the peer's inbox when this end fails. */
  #abortWaiters = new Set<() => void>();

  constructor(remotePeer: string, maxFrameBytes: number, highWaterBytes: number) {
    this.remotePeer = remotePeer;
    this.maxFrameBytes = maxFrameBytes;
    this.inbox = new FrameInbox(highWaterBytes);
  }

  send(frame: Uint8Array, options: SendOptions = {}): Promise<void> {
    const refused = sendRefusal(frame, this.maxFrameBytes, this.#error === null && this.#writeClosed);
    if (refused) return Promise.reject(refused);
    const turn = this.#chain.then(() => this.#sendNow(frame, options));
    this.#chain = turn.catch(() => {});
    return turn;
  }

  async #sendNow(frame: Uint8Array, options: SendOptions): Promise<void> {
    options.signal?.throwIfAborted();
    if (this.#error !== null) throw this.#error;
    this.peer.inbox.push(frame.slice());
    await this.#waitFor(this.peer.inbox.belowHighWater(), options.signal);
    if (this.#error !== null) throw this.#error;
  }

  /** Awaits `promise`, giving up when this end fails or `signal` aborts. */
  async #waitFor(promise: Promise<void>, signal?: AbortSignal): Promise<void> {
    let wake!: () => void;
    const woken = new Promise<void>((resolve) => {
      wake = resolve;
    });
    const onAbort = (): void => wake();
    this.#abortWaiters.add(wake);
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await Promise.race([promise, woken]);
    } finally {
      this.#abortWaiters.delete(wake);
      signal?.removeEventListener('abort', onAbort);
    }
    signal?.throwIfAborted();
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return this.inbox[Symbol.asyncIterator]();
  }

  close(options: SendOptions = {}): Promise<void> {
    this.#closed ??= this.#close(options);
    return this.#closed;
  }

  async #close(options: SendOptions): Promise<void> {
    this.#writeClosed = true;
    await this.#waitFor(this.#chain, options.signal);
    if (this.#error !== null) throw this.#error;
    this.peer.inbox.end();
  }

  abort(err: Error): void {
    if (this.#error !== null) return;
    this.#fail(err, true);
    this.peer.#fail(new FrameStreamResetError(`${this.peer.remotePeer} reset the stream`, { cause: err }), false);
  }

  #fail(err: Error, discard: boolean): void {
    if (this.#error !== null) return;
    this.#error = err;
    this.inbox.fail(err, discard);
    for (const wake of this.#abortWaiters) wake();
    this.#abortWaiters.clear();
  }
}
