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

/** What this stream uses of the `ws` socket's internals to write frames itself (see {@link rawWriter}). */
interface WsInternals {
  _isServer?: boolean;
  _extensions?: Record<string, unknown>;
  _sender?: { _state?: number };
  _socket?: { cork(): void; uncork(): void; write(chunk: Uint8Array, cb?: (err?: Error | null) => void): boolean; destroyed?: boolean };
}

/** Frames larger than this are written as header and payload (no copy of a shared frame); smaller ones as one buffer. */
const JOIN_BELOW_BYTES = 16 * 1024;

/** The WebSocket header of an unmasked final binary frame of `n` bytes (RFC 6455 §5.2). */
function serverHeader(n: number, into: Buffer): void {
  into[0] = 0x82; // FIN, opcode 2 (binary)
  if (n < 126) into[1] = n;
  else if (n < 65_536) {
    into[1] = 126;
    into.writeUInt16BE(n, 2);
  } else {
    into[1] = 127;
    into.writeUInt16BE(0, 2);
    into.writeUIntBE(n, 4, 6);
  }
}

const headerBytes = (n: number): number => (n < 126 ? 2 : n < 65_536 ? 4 : 10);

/**
 * A binary message as a server sends it (unmasked: the same bytes to every client), header and
 * payload in one buffer when small (one chunk for the socket, not two), else the two.
 */
function serverFrame(payload: Uint8Array, copy: boolean): Buffer[] {
  const n = payload.byteLength;
  const head = headerBytes(n);
  if (n < JOIN_BELOW_BYTES) {
    const out = Buffer.allocUnsafe(head + n);
    serverHeader(n, out);
    out.set(payload, head);
    return [out];
  }
  const header = Buffer.allocUnsafe(head);
  serverHeader(n, header);
  return [header, copy ? Buffer.from(payload) : Buffer.from(payload.buffer, payload.byteOffset, n)];
}

/**
 * Shared frames (one encoding sent to many peers: a hub's fan-out) as framed for the wire, made on
 * first send and kept as long as the frame is: the other followers' sends of the same frame reuse
 * them instead of framing it again each (`ws` frames every send).
 */
const framedOnce = new WeakMap<Uint8Array, Buffer[]>();

/**
 * Writes binary frames straight to the socket under a `ws` server-side WebSocket, where that gives
 * the same bytes `ws` would write: no extension (no permessage-deflate), and nothing queued in
 * `ws`'s sender (it queues only while compressing or reading a Blob, which this stream never asks
 * for). Undefined where not: the client side (its frames are masked, a new mask each), another
 * WebSocket implementation, a negotiated extension.
 */
function rawWriter(ws: WsSocket): ((frame: Uint8Array, shared: boolean, cb: (err?: Error | null) => void) => boolean) | undefined {
  const w = ws as unknown as WsInternals;
  const socket = w._socket;
  if (w._isServer !== true || !w._extensions || Object.keys(w._extensions).length > 0 || !w._sender || !socket || typeof socket.write !== 'function') return undefined;
  const sender = w._sender;
  return (frame, shared, cb) => {
    if (ws.readyState !== ws.OPEN || sender._state !== 0) return false;
    let chunks = shared ? framedOnce.get(frame) : undefined;
    if (!chunks) {
      chunks = serverFrame(frame, !shared);
      if (shared) framedOnce.set(frame, chunks);
    }
    if (chunks.length === 1) socket.write(chunks[0]!, cb);
    else {
      socket.write(chunks[0]!);
      socket.write(chunks[1]!, cb);
    }
    return true;
  };
}

export class WsFrameStream extends SocketFrameStream {
  readonly #ws: WsSocket;
  #corked = false;
  #uncork: (() => void) | undefined;
  /** Writes a binary frame straight to the socket (server side, see {@link rawWriter}); false: `ws` sends it. */
  readonly #raw: ReturnType<typeof rawWriter>;

  constructor(ws: WsSocket, options: WsFrameStreamOptions) {
    super({ ...options, ...frameOptions(options) });
    this.#ws = ws;
    this.#raw = rawWriter(ws);
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
    // The socket may keep a reference to the bytes until they are written: a frame not shared is
    // copied (framed into a buffer of its own), so the caller may reuse its buffer.
    this.#cork();
    // The wait for the write is made only when there is one (past the high-water mark): most sends
    // never wait, and need no promise at all.
    let flushed = false;
    let onFlushed: (() => void) | undefined;
    const done = (): void => {
      flushed = true;
      onFlushed?.();
    };
    // A server's frame is framed here (once for all peers when shared) and written as one chunk.
    if (!this.#raw?.(frame, options.shared === true, done)) this.#ws.send(options.shared ? frame : frame.slice(), { binary: true }, done);
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
