/**
 * Dialling a WebSocket frame stream (ws:// or wss://), with a bearer token. A server that refuses the
 * upgrade answers with an HTTP status and a JSON body `{code, message}`; that becomes a
 * {@link WsRefusedError} carrying both, so the caller can say why in words.
 */
import { FrameError, frameOptions, type FrameStreamOptions } from '../frames.ts';
import { WsFrameStream, type ControlMessage } from './frames.ts';

export interface WsDialOptions extends FrameStreamOptions {
  /** Sent as `Authorization: Bearer <token>`. */
  token?: string;
  /** Sent as the `Authorization` header as it is (e.g. a device's signed challenge); wins over `token`. */
  authorization?: string;
  signal?: AbortSignal;
  /** Told of the server's control messages (see {@link WsFrameStream}). */
  onControl?: (message: ControlMessage) => void;
  /** Gives up connecting after this many ms (default 10 s). */
  timeoutMs?: number;
}

/** The server refused the WebSocket upgrade (its HTTP status, and its code and message if it gave them). */
export class WsRefusedError extends FrameError {
  override name = 'WsRefusedError';
  readonly status: number;
  readonly code: string;
  constructor(message: string, status: number, code: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Whether `location` is a WebSocket URL (ws:// or wss://). */
export function isWsUrl(location: string): boolean {
  return /^wss?:\/\/[^/\s]+/i.test(location);
}

/** Opens a frame stream to `url`; rejects with {@link WsRefusedError} or a {@link FrameError} saying why. */
export async function dialWs(url: string, options: WsDialOptions = {}): Promise<WsFrameStream> {
  const { maxFrameBytes } = frameOptions(options);
  const { default: WebSocket } = await import('ws');
  return new Promise((resolve, reject) => {
    options.signal?.throwIfAborted();
    const ws = new WebSocket(url, {
      maxPayload: maxFrameBytes,
      handshakeTimeout: options.timeoutMs ?? 10_000,
      perMessageDeflate: false,
      ...(options.authorization ? { headers: { authorization: options.authorization } } : options.token ? { headers: { authorization: `Bearer ${options.token}` } } : {}),
    });
    let settled = false;
    const fail = (err: Error): void => {
      if (settled) return;
      settled = true;
      options.signal?.removeEventListener('abort', onAbort);
      ws.terminate();
      reject(err);
    };
    const onAbort = (): void => fail(options.signal!.reason as Error);
    options.signal?.addEventListener('abort', onAbort, { once: true });
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body = (body + chunk).slice(0, 4096)));
      res.on('end', () => {
        let code = `http-${res.statusCode}`;
        let message = res.statusMessage ?? 'refused';
        try {
          const o = JSON.parse(body) as { code?: unknown; message?: unknown };
          if (typeof o.code === 'string') code = o.code;
          if (typeof o.message === 'string') message = o.message;
        } catch {
          // not our server's JSON: the status says enough
        }
        fail(new WsRefusedError(`${url} refused the connection: ${message} (${code}, HTTP ${res.statusCode})`, res.statusCode ?? 0, code));
      });
      res.on('error', (err) => fail(new FrameError(`cannot reach ${url}: ${err.message}`, { cause: err })));
    });
    ws.once('error', (err) => fail(new FrameError(`cannot reach ${url}: ${err.message}`, { cause: err })));
    ws.once('open', () => {
      if (settled) return;
      settled = true;
      options.signal?.removeEventListener('abort', onAbort);
      resolve(new WsFrameStream(ws, { ...options, remotePeer: url }));
    });
  });
}
