/**
 * A {@link FrameStream} over a WebSocket (the `ws` library, either end): each frame is one binary
 * message. Text messages are this transport's own control messages (JSON): `end` half-closes (a
 * WebSocket has no half-close of its own), and anything else goes to `onControl` (the hub uses it to
 * refresh a token on an open session). Flow control in both directions: `send()` waits while more
 * than the high-water mark is buffered toward the peer, and reading pauses the socket while more
 * than it waits for our reader.
 */
import { BaseFrameStream } from '../frame-stream.ts';
import { FrameError, FrameStreamResetError, frameOptions, type FrameStreamOptions, type SendOptions } from '../frames.ts';

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

/** A control message: `{type: …}` plus fields. */
export interface ControlMessage {
  type: string;
  [field: string]: unknown;
}

export interface WsFrameStreamOptions extends FrameStreamOptions {
  /** Who is at the other end (an address, a URL), for errors and logs. */
  remotePeer: string;
  /** Told of each control message other than `end`; throwing fails the stream with that error. */
  onControl?: (message: ControlMessage) => void;
}

/** WebSocket close codes this transport uses (4000–4999 are for applications). */
export const CLOSE_NORMAL = 1000;
export const CLOSE_GOING_AWAY = 1001;
export const CLOSE_ABORTED = 4000;

export class WsFrameStream extends BaseFrameStream {
  readonly #ws: WsSocket;
  readonly #onControl: ((m: ControlMessage) => void) | undefined;
  #peerEnded = false;
  #corked = false;

  constructor(ws: WsSocket, options: WsFrameStreamOptions) {
    super(options.remotePeer, frameOptions(options));
    this.#ws = ws;
    this.#onControl = options.onControl;
    ws.binaryType = 'nodebuffer';
    ws.on('message', (data: Buffer, isBinary: boolean) => this.#message(data, isBinary));
    ws.on('close', (code: number, reason: Buffer) => this.#closedByPeer(code, reason.toString()));
    ws.on('error', (err: Error) => this.fail(new FrameStreamResetError(`connection to ${this.remotePeer} failed: ${err.message}`, { cause: err }), false));
  }

  protected override resumeReading(): void {
    if (this.#ws.isPaused && this.#ws.readyState === this.#ws.OPEN) this.#ws.resume();
  }

  #message(data: Buffer, isBinary: boolean): void {
    if (isBinary) {
      if (this.#peerEnded) return this.abort(new FrameError(`${this.remotePeer} sent a frame after ending its side`));
      const frame = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      this.inbox.push(frame);
      if (this.inbox.full && !this.#ws.isPaused) this.#ws.pause();
      return;
    }
    let m: ControlMessage;
    try {
      const parsed = JSON.parse(data.toString()) as unknown;
      if (typeof parsed !== 'object' || parsed === null || typeof (parsed as ControlMessage).type !== 'string') throw new Error('no type');
      m = parsed as ControlMessage;
    } catch {
      return this.abort(new FrameError(`${this.remotePeer} sent a malformed control message`));
    }
    if (m.type === 'end') {
      this.#peerEnded = true;
      this.inbox.end();
      if (this.writeClosed) this.#ws.close(CLOSE_NORMAL);
      return;
    }
    try {
      if (!this.#onControl) throw new FrameError(`${this.remotePeer} sent an unknown control message (${m.type})`);
      this.#onControl(m);
    } catch (err) {
      this.abort(err as Error);
    }
  }

  #closedByPeer(code: number, reason: string): void {
    if (this.#peerEnded && this.writeClosed) return;
    const why = reason ? `: ${reason}` : '';
    this.fail(new FrameStreamResetError(`${this.remotePeer} closed the connection (code ${code}${why})`), false);
  }

  /** Sends a control message (the peer's `onControl` gets it). */
  control(message: ControlMessage): void {
    if (this.error === null && this.#ws.readyState === this.#ws.OPEN) this.#ws.send(JSON.stringify(message));
  }

  protected override async write(frame: Uint8Array, options: SendOptions): Promise<void> {
    // ws may keep a reference to the bytes until they are written: copy, so the caller may reuse its buffer.
    this.#cork();
    const flushed = new Promise<void>((resolve) => this.#ws.send(options.shared ? frame : frame.slice(), { binary: true }, () => resolve()));
    if (this.#ws.bufferedAmount > this.highWaterBytes) await this.waitFor(flushed, options.signal);
  }

  /**
   * Holds the socket's writes until the event loop's next turn: frames sent back to back (a batch
   * and its caught-up, a hub's fan-out to this peer) leave in one write, not a system call each.
   */
  #cork(): void {
    const socket = (this.#ws as { _socket?: { cork(): void; uncork(): void; destroyed?: boolean } })._socket;
    if (this.#corked || !socket || typeof socket.cork !== 'function') return;
    this.#corked = true;
    socket.cork();
    setImmediate(() => {
      this.#corked = false;
      socket.uncork();
    });
  }

  protected override endWriting(): void {
    this.#ws.send(JSON.stringify({ type: 'end' }));
    if (this.#peerEnded) this.#ws.close(CLOSE_NORMAL);
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
