/**
 * A {@link FrameStream} over a WebSocket (the `ws` library, either end): each frame is one binary
 * message. Text messages are this transport's own control messages (JSON): `end` half-closes (a
 * WebSocket has no half-close of its own), and anything else goes to `onControl` (the hub uses it to
 * refresh a token on an open session). Flow control in both directions: `send()` waits while more
 * than the high-water mark is buffered toward the peer, and reading pauses the socket while more
 * than it waits for our reader.
 */
import { FrameStreamResetError, frameOptions, type SendOptions } from '../frames.ts';
import { SocketFrameStream, type SocketFrameStreamOptions } from './socket-stream.ts';

/**
 * What this stream uses of a `ws` WebSocket (structurally: the library's types stay out of our
 * declarations, so apps need not install them).
 */
export interface WsSocket {
  readonly readyState: number;
  readonly OPEN: number;
  readonly bufferedAmount: number;
  readonly isPaused: boolean;
  binaryType: string;
  on(event: 'message', listener: (data: Buffer, isBinary: boolean) => void): unknown;
  on(event: 'close', listener: (code: number, reason: Buffer) => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  send(data: Uint8Array | string, options?: { binary?: boolean }, cb?: (err?: Error) => void): void;
  pause(): void;
  resume(): void;
  close(code?: number, reason?: string): void;
  terminate(): void;
}

export { CLOSE_ABORTED, CLOSE_GOING_AWAY, CLOSE_NORMAL, type ControlMessage } from './socket-stream.ts';

/** Options of a {@link WsFrameStream}. */
export type WsFrameStreamOptions = SocketFrameStreamOptions;

/**
 * The sockets corked by the callback now running (their uncork), in order: uncorked together once
 * it and the promise jobs it started are done.
 */
let corked: (() => void)[] = [];

function uncorkAll(): void {
  const list = corked;
  corked = [];
  let failure: unknown;
  for (const uncork of list) {
    try {
      uncork();
    } catch (err) {
      failure ??= err; // the others are uncorked all the same
    }
  }
  if (failure !== undefined) throw failure;
}

const tickUncork = (): void => void process.nextTick(uncorkAll);

export class WsFrameStream extends SocketFrameStream {
  readonly #ws: WsSocket;
  #corked = false;
  #uncork: (() => void) | undefined;

  constructor(ws: WsSocket, options: WsFrameStreamOptions) {
    super({ ...options, ...frameOptions(options) });
    this.#ws = ws;
    ws.binaryType = 'nodebuffer';
    ws.on('message', (data: Buffer, isBinary: boolean) => this.#message(data, isBinary));
    ws.on('close', (code: number, reason: Buffer) => this.closedByPeer(code, reason.toString()));
    ws.on('error', (err: Error) => this.fail(new FrameStreamResetError(`connection to ${this.remotePeer} failed: ${err.message}`, { cause: err }), false));
  }

  protected get socketOpen(): boolean {
    return this.#ws.readyState === this.#ws.OPEN;
  }

  protected sendText(text: string): void {
    this.#ws.send(text);
  }

  protected closeSocket(code: number): void {
    this.#ws.close(code);
  }

  protected override resumeReading(): void {
    if (this.#ws.isPaused && this.#ws.readyState === this.#ws.OPEN) this.#ws.resume();
  }

  #message(data: Buffer, isBinary: boolean): void {
    if (!isBinary) return this.receivedText(data.toString());
    if (this.receivedFrame(new Uint8Array(data.buffer, data.byteOffset, data.byteLength)) && this.inbox.full && !this.#ws.isPaused) this.#ws.pause();
  }

  /** A socket queues what it is handed, in order: a send with none pending writes in the caller's turn. */
  protected override readonly writesAtOnce = true;

  protected override write(frame: Uint8Array, options: SendOptions): Promise<void> | void {
    // ws may keep a reference to the bytes until they are written: copy, so the caller may reuse its buffer.
    this.#cork();
    // The wait for the write is made only when there is one (past the high-water mark): most sends
    // never wait, and need no promise at all.
    let flushed = false;
    let onFlushed: (() => void) | undefined;
    this.#ws.send(options.shared ? frame : frame.slice(), { binary: true }, () => {
      flushed = true;
      onFlushed?.();
    });
    if (this.#ws.bufferedAmount > this.highWaterBytes) return this.waitFor(flushed ? Promise.resolve() : new Promise<void>((resolve) => (onFlushed = resolve)), options.signal);
  }

  /**
   * Holds the socket's writes until the callback now running and its promise jobs are done (a
   * `process.nextTick`, which runs after them): frames sent back to back (a batch and its caught-up,
   * a hub's group commit's acks and fan-out to this peer) leave in one write, not a system call each.
   * Not until the next turn of the event loop (an immediate): that held every frame behind the next
   * turn's reads of every other socket — on a busy hub, a fan-out waited most of a turn to leave.
   * Every socket corked in one callback is uncorked by one tick (a hub's wake corks each follower's).
   */
  #cork(): void {
    const socket = (this.#ws as { _socket?: { cork(): void; uncork(): void; destroyed?: boolean } })._socket;
    if (this.#corked || !socket || typeof socket.cork !== 'function') return;
    this.#corked = true;
    socket.cork();
    corked.push(
      (this.#uncork ??= () => {
        this.#corked = false;
        socket.uncork();
      }),
    );
    // The tick is queued from a promise job: a send made straight in a callback (not in one of its
    // promise jobs) would otherwise uncork before those jobs, and their frames would leave in a
    // second write.
    if (corked.length === 1) queueMicrotask(tickUncork);
  }

  override abort(err: Error): void {
    if (this.error !== null) return;
    this.fail(err, true);
    // At once: a peer that stopped reading must not hold the connection open.
    this.#ws.terminate();
  }

  /** Ends the connection with a close code and reason the peer sees (e.g. a revoked credential). */
  end(code: number, reason: string, err: Error): void {
    if (this.error !== null) return;
    this.fail(err, true);
    this.#ws.close(code, reason.slice(0, 120));
    // if the peer does not answer the close handshake, do not wait for it
    setTimeout(() => this.#ws.terminate(), 2_000).unref();
  }
}
