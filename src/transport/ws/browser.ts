/**
 * A {@link FrameStream} over the browser's own WebSocket (no `ws`, no Node.js): the same wire as
 * ws/frames.ts — each frame one binary message, text messages the transport's JSON control
 * messages (`end` half-closes) — so a browser is an ordinary client of a hub.
 *
 * A browser's WebSocket can't set headers, so the bearer token travels as the `access_token` query
 * parameter (the hub accepts it there and keeps it out of its logs). Flow control: `send()` waits
 * while more than the high-water mark is buffered toward the peer (the browser gives no drain event:
 * `bufferedAmount` is polled); the browser can't pause receiving, so the inbox takes what comes.
 */
import { FrameError, FrameStreamResetError, frameOptions, type FrameStreamOptions, type SendOptions } from '../frames.ts';
import { CLOSE_ABORTED, SocketFrameStream, type ControlMessage } from './socket-stream.ts';

/** The query parameter the hub reads a token from when no Authorization header can be sent. */
export const ACCESS_TOKEN_PARAM = 'access_token';

/** The browser WebSocket, structurally (so this file type-checks without the DOM library). */
export interface BrowserSocket {
  readonly readyState: number;
  readonly bufferedAmount: number;
  binaryType: string;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: ArrayBufferView | ArrayBuffer | string): void;
  close(code?: number, reason?: string): void;
}

const OPEN = 1;

export interface BrowserDialOptions extends FrameStreamOptions {
  /** A user token for the hub (sent as `access_token`). */
  token?: string;
  signal?: AbortSignal;
  /** Gives up connecting after this many ms (default 10 s). */
  timeoutMs?: number;
  onControl?: (message: ControlMessage) => void;
}

/** `url` with the token as its access_token parameter. */
export function withAccessToken(url: string, token: string | undefined): string {
  if (!token) return url;
  const u = new URL(url);
  u.searchParams.set(ACCESS_TOKEN_PARAM, token);
  return u.toString();
}

/** `url` as it may be shown: the token replaced. */
export function redactAccessToken(url: string): string {
  return url.replace(new RegExp(`([?&]${ACCESS_TOKEN_PARAM}=)[^&#]*`), '$1…');
}

/**
 * Opens a frame stream to a hub database URL (`ws[s]://host:port/<db>`). Rejects with a
 * {@link FrameError} when it can't (the browser does not say why a WebSocket failed: refused
 * credentials and an unreachable hub look alike; the message names both).
 */
export function dialBrowserWs(url: string, options: BrowserDialOptions = {}): Promise<BrowserWsFrameStream> {
  const shown = redactAccessToken(url);
  return new Promise((resolve, reject) => {
    options.signal?.throwIfAborted();
    const Ctor = (globalThis as unknown as { WebSocket?: new (url: string) => BrowserSocket }).WebSocket;
    if (!Ctor) throw new FrameError('no WebSocket in this environment');
    const ws = new Ctor(withAccessToken(url, options.token));
    ws.binaryType = 'arraybuffer';
    let settled = false;
    const timer = setTimeout(() => fail(new FrameError(`cannot reach ${shown}: no answer within ${options.timeoutMs ?? 10_000} ms`)), options.timeoutMs ?? 10_000);
    const fail = (err: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      ws.onopen = ws.onerror = ws.onclose = null;
      try {
        ws.close();
      } catch {
        // already closing
      }
      reject(err);
    };
    const onAbort = (): void => fail(options.signal!.reason as Error);
    options.signal?.addEventListener('abort', onAbort, { once: true });
    ws.onerror = () => fail(new FrameError(`cannot reach ${shown}, or it refused the connection (a wrong or expired token, or no such hub)`));
    ws.onclose = (ev) => fail(new FrameError(`${shown} closed the connection while opening (code ${ev.code})`));
    ws.onopen = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      resolve(new BrowserWsFrameStream(ws, { ...options, remotePeer: shown }));
    };
  });
}

export class BrowserWsFrameStream extends SocketFrameStream {
  readonly #ws: BrowserSocket;

  constructor(ws: BrowserSocket, options: FrameStreamOptions & { remotePeer: string; onControl?: (m: ControlMessage) => void }) {
    super({ ...options, ...frameOptions(options) });
    this.#ws = ws;
    ws.binaryType = 'arraybuffer';
    ws.onmessage = (ev) => this.#message(ev.data);
    ws.onclose = (ev) => this.closedByPeer(ev.code, ev.reason);
    ws.onerror = () => this.fail(new FrameStreamResetError(`connection to ${this.remotePeer} failed`), false);
  }

  protected get socketOpen(): boolean {
    return this.#ws.readyState === OPEN;
  }

  protected sendText(text: string): void {
    this.#ws.send(text);
  }

  protected closeSocket(code: number): void {
    this.#ws.close(code);
  }

  #message(data: unknown): void {
    if (!(data instanceof ArrayBuffer)) return this.receivedText(String(data));
    // the browser can't cap a message's size before it arrives (as ws's maxPayload does): refuse it here
    if (data.byteLength > this.maxFrameBytes) return this.abort(new FrameError(`${this.remotePeer} sent a frame of ${data.byteLength} bytes, over the ${this.maxFrameBytes}-byte limit`));
    this.receivedFrame(new Uint8Array(data));
  }

  protected override async write(frame: Uint8Array, options: SendOptions): Promise<void> {
    this.#ws.send(frame); // the browser copies the bytes
    if (this.#ws.bufferedAmount > this.highWaterBytes) await this.waitFor(this.#drained(), options.signal);
  }

  /** Resolves once no more than the high-water mark is buffered (the browser has no drain event: polled). */
  async #drained(): Promise<void> {
    for (let wait = 1; this.#ws.bufferedAmount > this.highWaterBytes && this.error === null; wait = Math.min(wait * 2, 50)) {
      await new Promise((r) => setTimeout(r, wait));
    }
  }

  override abort(err: Error): void {
    if (this.error !== null) return;
    this.fail(err, true);
    try {
      this.#ws.close(CLOSE_ABORTED, err.message.slice(0, 100));
    } catch {
      this.#ws.close();
    }
  }
}
