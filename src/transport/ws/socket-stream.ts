/**
 * The wire every WebSocket frame stream speaks, whichever WebSocket carries it (the `ws` library in
 * Node.js, the browser's own): each frame one binary message; text messages are the transport's own
 * JSON control messages — `end` half-closes (a WebSocket has no half-close of its own), anything else
 * goes to `onControl` (the hub refreshes a token on an open session with one). A subclass says how
 * its socket sends text, closes and reports being open, and hands received messages to
 * {@link SocketFrameStream.receivedFrame} / {@link SocketFrameStream.receivedText}.
 *
 * Free of Node-only imports: the browser's stream extends it too.
 */
import { BaseFrameStream } from '../frame-stream.ts';
import { FrameError, FrameStreamResetError, type FrameStreamOptions } from '../frames.ts';

/** A control message: `{type: …}` plus fields. */
export interface ControlMessage {
  type: string;
  [field: string]: unknown;
}

/** WebSocket close codes this transport uses (4000–4999 are for applications). */
export const CLOSE_NORMAL = 1000;
export const CLOSE_GOING_AWAY = 1001;
export const CLOSE_ABORTED = 4000;

export interface SocketFrameStreamOptions extends FrameStreamOptions {
  /** Who is at the other end (an address, a URL), for errors and logs. */
  remotePeer: string;
  /** Told of each control message other than `end`; throwing fails the stream with that error. */
  onControl?: (message: ControlMessage) => void;
}

export abstract class SocketFrameStream extends BaseFrameStream {
  readonly #onControl: ((m: ControlMessage) => void) | undefined;
  #peerEnded = false;

  /** `options` as resolved by `frameOptions`, plus the stream's peer and control listener. */
  constructor(options: Required<FrameStreamOptions> & SocketFrameStreamOptions) {
    super(options.remotePeer, options);
    this.#onControl = options.onControl;
  }

  /** Whether the socket is open (control messages are only sent then). */
  protected abstract get socketOpen(): boolean;
  /** Sends a text message on the socket. */
  protected abstract sendText(text: string): void;
  /** Closes the socket with `code` (the handshake, not a teardown). */
  protected abstract closeSocket(code: number): void;

  /** A binary message arrived: one frame for the reader (false when it was refused). */
  protected receivedFrame(frame: Uint8Array): boolean {
    if (this.#peerEnded) {
      this.abort(new FrameError(`${this.remotePeer} sent a frame after ending its side`));
      return false;
    }
    this.inbox.push(frame);
    return true;
  }

  /** A text message arrived: a control message. */
  protected receivedText(text: string): void {
    let m: ControlMessage;
    try {
      const parsed = JSON.parse(text) as unknown;
      if (typeof parsed !== 'object' || parsed === null || typeof (parsed as ControlMessage).type !== 'string') throw new Error('no type');
      m = parsed as ControlMessage;
    } catch {
      return this.abort(new FrameError(`${this.remotePeer} sent a malformed control message`));
    }
    if (m.type === 'end') {
      this.#peerEnded = true;
      this.inbox.end();
      if (this.writeClosed) this.closeSocket(CLOSE_NORMAL);
      return;
    }
    try {
      if (!this.#onControl) throw new FrameError(`${this.remotePeer} sent an unknown control message (${m.type})`);
      this.#onControl(m);
    } catch (err) {
      this.abort(err as Error);
    }
  }

  /** The socket closed: normal once both sides ended, otherwise the stream was reset. */
  protected closedByPeer(code: number, reason: string): void {
    if (this.#peerEnded && this.writeClosed) return;
    const why = reason ? `: ${reason}` : '';
    const err = new FrameStreamResetError(`${this.remotePeer} closed the connection (code ${code}${why})`);
    err.closeCode = code;
    this.fail(err, false);
  }

  /** Sends a control message (the peer's `onControl` gets it). */
  control(message: ControlMessage): void {
    if (this.error === null && this.socketOpen) this.sendText(JSON.stringify(message));
  }

  protected override endWriting(): void {
    this.sendText(JSON.stringify({ type: 'end' }));
    if (this.#peerEnded) this.closeSocket(CLOSE_NORMAL);
  }
}
