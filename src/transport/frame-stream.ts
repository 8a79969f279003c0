/**
 * What every {@link FrameStream} does the same whatever carries its frames: admitting a frame to
 * `send()` (size limit, closed side), sending in call order, giving up a backpressure wait when the
 * stream fails or the caller's signal aborts, closing once after the pending sends, failing with the
 * first error, and reading through a {@link FrameInbox}. A transport extends it with what is
 * specific to its medium: how a frame is written (and waited on), how the end of our side is told
 * to the peer, and how an abort reaches it.
 *
 * Free of Node-only imports, so a browser transport can extend it too.
 */
import { FrameInbox, sendRefusal, type FrameStream, type FrameStreamOptions, type SendOptions } from './frames.ts';

/** A send settled at once (shared: a settled promise can be handed to any number of callers). */
const SENT: Promise<void> = Promise.resolve();

/**
 * The base of every transport's {@link FrameStream}: a subclass supplies `write`, `endWriting`,
 * `abort` and, if its reading can pause, `resumeReading`; it pushes what it receives into `inbox`
 * and reports failures through `fail`.
 */
export abstract class BaseFrameStream implements FrameStream {
  readonly remotePeer: string;
  readonly maxFrameBytes: number;
  /** The backpressure threshold of both directions, in bytes. */
  protected readonly highWaterBytes: number;
  /** Frames received for our reader; the transport pushes, ends and fails it. */
  protected readonly inbox: FrameInbox;
  /** Every send, in call order: each waits for the one before it. */
  #chain: Promise<void> = Promise.resolve();
  /** Sends not settled yet (while any is, later ones queue behind it on the chain). */
  #pending = 0;
  #writeClosed = false;
  #closed: Promise<void> | null = null;
  #error: Error | null = null;
  /** Wakes waits in progress ({@link waitFor}) when the stream fails. */
  #waiters = new Set<() => void>();

  /** `options` as resolved by `frameOptions`. */
  constructor(remotePeer: string, options: Required<FrameStreamOptions>) {
    this.remotePeer = remotePeer;
    this.maxFrameBytes = options.maxFrameBytes;
    this.highWaterBytes = options.highWaterBytes;
    this.inbox = new FrameInbox(options.highWaterBytes, () => this.resumeReading());
  }

  /** Why the stream failed (local abort, reset, bad frame), or null; later sends throw it. */
  protected get error(): Error | null {
    return this.#error;
  }

  /** Why the stream failed, if it did: lets a server tell a peer going away from a failure in its log. */
  get failure(): Error | undefined {
    return this.#error ?? undefined;
  }

  /** Whether `close()` was called (sends are refused from then on). */
  protected get writeClosed(): boolean {
    return this.#writeClosed;
  }

  /**
   * Hands `frame` to the medium, then waits while more than the high-water mark is queued toward
   * the peer (through {@link waitFor}, or giving up likewise on failure and on `options.signal`).
   * Called in send order, never after a failure was seen.
   */
  protected abstract write(frame: Uint8Array, options: SendOptions): Promise<void> | void;

  /**
   * Whether `send()` may call {@link write} in its own turn when no send is pending (a medium that
   * queues what it is handed in order, such as a socket): the frame then skips the send chain's
   * promise jobs, and a `write` that returns nothing (no backpressure wait) settles the send at once.
   * Default false: every frame goes through the chain, a microtask later.
   */
  protected readonly writesAtOnce: boolean = false;

  /** Tells the peer that no more frames come; called once, after every send has settled. */
  protected abstract endWriting(options: SendOptions): Promise<void> | void;

  /** The inbox fell to half its high-water mark or less, or its reader left: read again if paused. */
  protected resumeReading(): void {}

  /** FrameChannel's `release`: nothing to do unless the transport allocated the frame itself. */
  release(_frame: Uint8Array): void {}

  /** Tears the stream down with `err` (see {@link FrameStream}); how the peer learns of it is the medium's. */
  abstract abort(err: Error): void;

  send(frame: Uint8Array, options: SendOptions = {}): Promise<void> {
    const refused = sendRefusal(frame, this.maxFrameBytes, this.#error === null && this.#writeClosed);
    if (refused) return Promise.reject(refused);
    if (this.#pending === 0 && this.writesAtOnce) return this.#sendAtOnce(frame, options);
    return this.#queued(this.#chain.then(() => this.#sendNow(frame, options)));
  }

  /** `turn` is the newest send: the next ones wait for it to settle. */
  #queued(turn: Promise<void>): Promise<void> {
    this.#pending++;
    const settled = (): void => void this.#pending--;
    this.#chain = turn.then(settled, settled);
    return turn;
  }

  /** Nothing pending: written in the caller's turn (the same checks as {@link #sendNow}, in the same order). */
  #sendAtOnce(frame: Uint8Array, options: SendOptions): Promise<void> {
    let wrote: Promise<void> | void;
    try {
      options.signal?.throwIfAborted();
      if (this.#error !== null) throw this.#error;
      wrote = this.write(frame, options);
    } catch (err) {
      return Promise.reject(err);
    }
    if (wrote === undefined) return this.#error === null ? SENT : Promise.reject(this.#error);
    return this.#queued(
      wrote.then(() => {
        if (this.#error !== null) throw this.#error;
      }),
    );
  }

  async #sendNow(frame: Uint8Array, options: SendOptions): Promise<void> {
    options.signal?.throwIfAborted();
    if (this.#error !== null) throw this.#error;
    await this.write(frame, options);
    if (this.#error !== null) throw this.#error;
  }

  /** Awaits `promise`, giving up when the stream fails or `signal` aborts (then throws its reason). */
  protected async waitFor(promise: Promise<void>, signal?: AbortSignal): Promise<void> {
    let wake!: () => void;
    const woken = new Promise<void>((resolve) => (wake = resolve));
    this.#waiters.add(wake);
    signal?.addEventListener('abort', wake, { once: true });
    try {
      await Promise.race([promise, woken]);
    } finally {
      this.#waiters.delete(wake);
      signal?.removeEventListener('abort', wake);
    }
    signal?.throwIfAborted();
  }

  close(options: SendOptions = {}): Promise<void> {
    this.#closed ??= this.#close(options);
    return this.#closed;
  }

  async #close(options: SendOptions): Promise<void> {
    this.#writeClosed = true;
    await this.waitFor(this.#chain, options.signal);
    if (this.#error !== null) throw this.#error;
    await this.endWriting(options);
  }

  /**
   * The stream failed with `err` (only the first error is kept): waits in progress give up, and the
   * reader throws it — at once if `discard`, otherwise after the frames already received.
   */
  protected fail(err: Error, discard: boolean): void {
    const first = this.#error === null;
    if (first) this.#error = err;
    this.inbox.fail(this.#error!, discard);
    if (!first) return;
    for (const wake of this.#waiters) wake();
    this.#waiters.clear();
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return this.inbox[Symbol.asyncIterator]();
  }
}
