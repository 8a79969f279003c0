/**
 * The hub: an always-on sync server over WebSocket. Each hosted database is reached at
 * `ws://host:port/<db>`; the upgrade is authenticated (Authorization: Bearer …, see auth/port.ts)
 * and the caller's access checked (owner, or a share's policy). A caller without access — the
 * database is another's, or none has the name — is answered after its hello, the same way for both
 * (`forbidden`: no hint which names exist), unless it pushes to a name nobody has: that creates the
 * database, owned by the caller (a pull creates nothing). Then the session is the ordinary sync
 * session (session.ts). HTTP beside it: GET /healthz, GET /metrics (Prometheus), the owner's
 * share endpoints (shares.ts), and the operator's inspector at /ui (inspector/http.ts) when given.
 *
 * Refusals before the upgrade are an HTTP status with a JSON body `{code, message}` (the one error
 * shape of every hub endpoint); refusals during a session are the sync protocol's error messages
 * (the same codes), or a WebSocket close code with a reason
 * (4401: credentials revoked or expired; 4403: access withdrawn or changed — a share removed or its
 * policy changed, in this hub process or another on the same storage). A refused client never
 * affects the others.
 */
import { createServer, STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { withFirstFrame, type FrameChannel } from '../sync/channel.ts';
import { decodeMessage, ProtocolError, type Message } from '../sync/messages.ts';
import { refuse, type SessionLog } from '../sync/server.ts';
import { FrameStreamResetError } from '../transport/frames.ts';
import { CLOSE_GOING_AWAY, CLOSE_NORMAL, WsFrameStream, type ControlMessage } from '../transport/ws/frames.ts';
import { accessOf } from './access.ts';
import { DocsApi } from './docs/socket.ts';
import { HubRequestError } from './errors.ts';
import { decodeSegment } from './path.ts';
import type { Authenticator, Principal } from './auth/port.ts';
import { redactUrl } from './auth/authenticator.ts';
import { HubMetrics } from './metrics.ts';
import type { ClientInfo } from './inspector/hub.ts';
import { Inspector, type InspectorOptions } from './inspector/http.ts';
import { serveHubSession, type MergeClock } from './session.ts';
import { handleShares } from './shares.ts';
import { checkDatabaseName, DatabaseNameError, type DatabaseInfo, type HubDatabase, type HubStore } from './storage/port.ts';
import { policyToJson, type PeerPolicy } from '../sync/policy.ts';

/** The default port of `ddcp hub serve`. */
export const DEFAULT_HUB_PORT = 7420;
/** The largest frame a client may send by default: 16 MiB (a batch is far smaller). */
export const DEFAULT_HUB_MAX_FRAME_BYTES = 16 * 1024 * 1024;
/**
 * The most WebSocket connections (sync sessions and JSON document API) open from one remote address
 * at once, by default: one address cannot take all of a hub's sockets, yet the hub bench's 1,000
 * loopback clients (bench/hub.ts, all from 127.0.0.1) and a large office behind one NAT fit.
 */
export const DEFAULT_HUB_MAX_CONNECTIONS_PER_ADDRESS = 5_000;
/** WebSocket close code for a session whose credentials were revoked or expired. */
export const CLOSE_UNAUTHORIZED = 4401;
/** WebSocket close code for a session whose access was withdrawn or changed (it may reconnect under the new policy). */
export const CLOSE_FORBIDDEN = 4403;

export interface HubServerOptions {
  store: HubStore;
  auth: Authenticator;
  /** Interface to listen on (default 127.0.0.1). */
  host?: string;
  /** Port (default {@link DEFAULT_HUB_PORT}; 0 picks a free one). */
  port?: number;
  /**
   * The most WebSocket connections open from one remote address at once (default
   * {@link DEFAULT_HUB_MAX_CONNECTIONS_PER_ADDRESS}); one more is refused before authentication
   * (HTTP 429, `too-many-connections`). Behind a reverse proxy every client has the proxy's address.
   */
  maxConnectionsPerAddress?: number;
  /** The largest frame accepted (default {@link DEFAULT_HUB_MAX_FRAME_BYTES}); a larger one closes the connection (1009). */
  maxFrameBytes?: number;
  log?: SessionLog;
  keepAliveMs?: number;
  /** The optional protocol features (sync/features.ts) the hub takes up when a client announces them (default: all it knows; `[]`: none, as a hub from before features). */
  features?: readonly string[];
  /** How long {@link HubServer.stop} lets sessions finish what they are doing (ms, default 5,000). */
  shutdownMs?: number;
  /** More HTTP endpoints (e.g. the auth endpoints): answer and resolve true, or resolve false. */
  http?: (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;
  /**
   * The JSON document API at `ws://host:port/v1/docs/<db>` (src/hub/docs/socket.ts): where its
   * per-user replicas are cached (default: a temporary folder removed at stop) and the largest
   * message (default 1 MiB); false turns it off.
   */
  docs?: { dir?: string; maxMessageBytes?: number } | false;
  /** The operator's inspector at /ui (src/hub/inspector), behind admin sessions; absent: no /ui. */
  inspector?: InspectorOptions;
}

interface Live {
  principal: Principal;
  db: string;
  remote: string;
  /** When it connected (ms since the epoch). */
  since: number;
  /** The database and the policy the session runs under (access.ts), once admitted. */
  database?: HubDatabase;
  policy?: PeerPolicy;
  stream: WsFrameStream;
  stop: AbortController;
  done: Promise<void>;
  expiry?: NodeJS.Timeout;
}

/** A session's database and policy. */
interface Access {
  db: HubDatabase;
  policy: PeerPolicy;
}

/**
 * Close codes of a client that simply left: done (1000), going away (1001), no code (1005), or the
 * connection dropped without a close (1006: a `terminate()`, a killed process). Others say why.
 */
const LEFT_CODES = new Set([1000, 1001, 1005, 1006]);

/** Whether a session's stream ended because the client left (not a protocol or frame error). */
function wentAway(err: Error): boolean {
  if (!(err instanceof FrameStreamResetError)) return false;
  if (err.closeCode !== undefined) return LEFT_CODES.has(err.closeCode);
  const code = (err.cause as { code?: unknown } | undefined)?.code;
  return code === 'ECONNRESET' || code === 'EPIPE';
}

/** The one answer to a client without access to a database, whether it exists or not. */
const NO_ACCESS_TEXT = (name: string): string => `database ${name} is not yours and not shared with you (forbidden)`;

/** The database name a request's path names (`/<db>`, a query allowed). */
export function databaseOf(url: string | undefined): string {
  const path = new URL(url ?? '/', 'http://hub.invalid').pathname;
  const name = decodeSegment(path.slice(1));
  try {
    checkDatabaseName(name);
  } catch (err) {
    if (err instanceof DatabaseNameError) throw new HubRequestError(400, 'bad-request', `${err.message} (connect to ws://HOST:PORT/<database>)`);
    throw err;
  }
  return name;
}

export class HubServer {
  readonly metrics = new HubMetrics();
  readonly store: HubStore;
  private readonly auth: Authenticator;
  private readonly options: HubServerOptions;
  private readonly http: Server;
  private readonly wss: WebSocketServer;
  private readonly log: SessionLog;
  private readonly sessions = new Set<Live>();
  /** Open sessions per database name (the `databases` gauge counts the names), kept as sessions come and go. */
  private readonly perDatabase = new Map<string, number>();
  private readonly clocks = new Map<string, MergeClock>();
  /** WebSocket connections (from their upgrade request until the socket closes) per remote address. */
  private readonly perAddress = new Map<string, number>();
  private readonly unsubscribe: () => void;
  private readonly docs: DocsApi | undefined;
  private readonly inspector: Inspector | undefined;
  private stopping: Promise<void> | undefined;
  /** What {@link stop} ends sessions with (one error: their log lines recognize it). */
  private readonly shutdown = new HubRequestError(503, 'unavailable', 'the hub is shutting down');
  /** Revocations heard so far: a connection admitted while one came is checked again once registered. */
  private revocations = 0;

  private constructor(options: HubServerOptions) {
    this.options = options;
    this.store = options.store;
    this.auth = options.auth;
    this.log = options.log ?? (() => {});
    this.metrics.openDatabasesOf(
      () => this.store.openDatabases,
      () => this.store.opensOverCap,
    );
    this.wss = new WebSocketServer({ noServer: true, maxPayload: options.maxFrameBytes ?? DEFAULT_HUB_MAX_FRAME_BYTES, perMessageDeflate: false });
    this.http = createServer((req, res) => void this.request(req, res));
    this.http.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => void this.upgrade(req, socket, head));
    if (options.inspector) this.inspector = new Inspector(this, { log: (line) => this.log('warn', line), ...options.inspector });
    if (options.docs !== false) this.docs = new DocsApi({ store: this.store, auth: this.auth, metrics: this.metrics, log: this.log, ...options.docs });
    this.unsubscribe = this.auth.onRevoked((app) => {
      this.revocations++;
      // A credential revoked, or access to a database changed: the app's sessions are checked for
      // both, each database's metadata read once.
      const infos = new Map<string, Promise<DatabaseInfo>>();
      for (const live of this.sessions) if (live.principal.app === app) void this.recheck(live, 'revoked', infos);
    });
  }

  /** Starts a hub listening on `host:port`. */
  static async start(options: HubServerOptions): Promise<HubServer> {
    const hub = new HubServer(options);
    await new Promise<void>((resolve, reject) => {
      hub.http.once('error', reject);
      hub.http.listen(options.port ?? DEFAULT_HUB_PORT, options.host ?? '127.0.0.1', () => {
        hub.http.off('error', reject);
        resolve();
      });
    });
    return hub;
  }

  /** `ws://host:port` (append `/<db>` for a database). */
  get url(): string {
    const a = this.http.address() as AddressInfo;
    const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
    return `ws://${host}:${a.port}`;
  }

  /** Open sessions. */
  get connections(): number {
    return this.sessions.size;
  }

  /** The sync sessions open on this process, for the inspector. */
  clients(): ClientInfo[] {
    return [...this.sessions].map((s) => ({ app: s.principal.app, user: s.principal.user, db: s.db, method: s.principal.method, remote: s.remote, since: s.since }));
  }

  // --- HTTP ---

  private async request(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const path = new URL(req.url ?? '/', 'http://hub.invalid').pathname;
      if (req.method === 'GET' && path === '/healthz') {
        const ok = this.stopping === undefined;
        return json(res, ok ? 200 : 503, { status: ok ? 'ok' : 'stopping', connections: this.sessions.size });
      }
      if (req.method === 'GET' && path === '/metrics') {
        res.writeHead(200, { 'content-type': this.metrics.contentType });
        res.end(await this.metrics.text());
        return;
      }
      if (this.inspector && (await this.inspector.handle(req, res))) return;
      if (await handleShares(req, res, { store: this.store, auth: this.auth, remoteAddress: req.socket.remoteAddress ?? '' })) return;
      if (this.options.http && (await this.options.http(req, res))) return;
      json(res, 404, { code: 'not-found', message: `no such endpoint: ${req.method} ${path}` });
    } catch (err) {
      const e = err instanceof HubRequestError ? err : undefined;
      if (e) this.metrics.refused(e.code);
      else this.log('warn', `HTTP ${req.method} ${redactUrl(req.url)} failed: ${(err as Error).message}`);
      if (!res.headersSent) json(res, e?.status ?? 500, { code: e?.code ?? 'internal', message: e?.message ?? 'internal error' });
      else res.destroy();
    }
  }

  // --- WebSocket sessions ---

  private async upgrade(req: IncomingMessage, socket: Socket, head: Buffer): Promise<void> {
    socket.on('error', () => {}); // a client that vanishes mid-upgrade is not our error
    const remote = req.socket.remoteAddress ?? 'unknown';
    try {
      if (this.stopping) throw new HubRequestError(503, 'unavailable', 'the hub is shutting down; try again shortly');
      this.admitAddress(remote, socket);
      if (this.docs && (await this.docs.upgrade(req, socket, head))) return;
      const name = databaseOf(req.url);
      const heard = this.revocations;
      let principal: Principal;
      try {
        principal = await this.auth.authenticate({ headers: req.headers, remoteAddress: remote, url: req.url ?? '/' });
      } catch (err) {
        const cause = (err as Error & { cause?: Error }).cause;
        this.log('warn', `refused a connection from ${remote} to ${name}: ${(err as Error).message}${cause ? ` (${cause.message})` : ''}`);
        throw new HubRequestError(401, 'unauthenticated', 'authentication failed');
      }
      const db = await this.store.open(name);
      // Given back below unless a session with access takes it over (and gives it back when it ends).
      let held = db;
      try {
        const policy = db && accessOf(await db.info(), principal);
        if (this.stopping) throw new HubRequestError(503, 'unavailable', 'the hub is shutting down; try again shortly');
        // Without access — the database is another's, or there is none yet — the answer comes after
        // the client's hello, the same either way (no hint which names exist), unless it pushes to a
        // name nobody has: then the database is created, its own (a pull creates nothing).
        // (ws calls back synchronously, or never: a refused upgrade, a socket gone meanwhile.)
        this.wss.handleUpgrade(req, socket, head, (ws) => {
          if (policy) held = undefined;
          this.session(ws, principal, name, db && policy ? { db, policy } : undefined, remote, heard);
        });
      } finally {
        held?.release?.();
      }
    } catch (err) {
      const e = err instanceof HubRequestError ? err : new HubRequestError(500, 'unavailable', 'the hub could not open the database');
      if (!(err instanceof HubRequestError)) this.log('warn', `connection from ${remote} to ${redactUrl(req.url)} failed: ${(err as Error).message}`);
      else if (e.code !== 'unauthenticated') this.log('warn', `refused a connection from ${remote} to ${redactUrl(req.url)}: ${e.message}`);
      this.metrics.refused(e.code);
      const body = JSON.stringify({ code: e.code, message: e.message });
      socket.end(`HTTP/1.1 ${e.status} ${STATUS_CODES[e.status]}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
    }
  }

  /**
   * Counts the socket against its remote address until it closes, or refuses it (before any
   * authentication work) if the address already has the most connections allowed.
   */
  private admitAddress(remote: string, socket: Socket): void {
    const max = this.options.maxConnectionsPerAddress ?? DEFAULT_HUB_MAX_CONNECTIONS_PER_ADDRESS;
    const now = this.perAddress.get(remote) ?? 0;
    if (now >= max) throw new HubRequestError(429, 'too-many-connections', `too many connections from ${remote} (at most ${max} at once); close some or try again later`);
    this.perAddress.set(remote, now + 1);
    socket.once('close', () => {
      const left = (this.perAddress.get(remote) ?? 1) - 1;
      if (left > 0) this.perAddress.set(remote, left);
      else this.perAddress.delete(remote);
    });
  }

  /**
   * A session's log. A session that ended because the client went away (it closed or dropped the
   * connection: a pull that is done, a follower that stopped) or because the hub is stopping ended
   * ordinarily: one `info` line, not a `warn` saying it failed. Other failures keep their level.
   */
  private sessionLog(live: Live): SessionLog {
    return (level, line) => {
      const failure = live.stream.failure;
      const ordinary = failure !== undefined && (failure === this.shutdown || wentAway(failure));
      if (level === 'warn' && ordinary && line.endsWith(failure.message)) this.log('info', `session with ${live.principal.user} ended: ${failure.message}`);
      else this.log(level, line);
    };
  }

  /** `heard`: the revocation count before its credentials were checked. */
  private session(ws: WebSocket, principal: Principal, name: string, access: Access | undefined, remote: string, heard: number): void {
    const stop = new AbortController();
    const live = { principal, db: name, stop, remote, since: Date.now() } as Live;
    ws.on('error', (err: Error & { code?: string }) => {
      if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
        this.metrics.refused('oversized');
        this.log('warn', `${principal.user} (${remote}) sent a frame over the limit: connection closed`);
      }
    });
    live.stream = new WsFrameStream(ws, {
      remotePeer: `${principal.user}@${remote}`,
      maxFrameBytes: this.options.maxFrameBytes ?? DEFAULT_HUB_MAX_FRAME_BYTES,
      onControl: (m) => this.control(live, m),
    });
    this.sessions.add(live);
    this.perDatabase.set(name, (this.perDatabase.get(name) ?? 0) + 1);
    this.gauges();
    this.schedule(live);
    live.done = (async () => {
      let channel: FrameChannel = live.stream;
      if (!access) {
        const it = live.stream[Symbol.asyncIterator]();
        const first = await it.next();
        if (first.done) return;
        channel = withFirstFrame(first.value, it, live.stream);
        access = await this.admit(name, principal, first.value);
        if (!access) {
          this.metrics.refused('forbidden');
          this.log('warn', `refused ${principal.user} (${remote}) on ${name}: ${NO_ACCESS_TEXT(name)}`);
          return await refuse(channel, new ProtocolError('forbidden', NO_ACCESS_TEXT(name)));
        }
      }
      const { db, policy } = access;
      live.database = db;
      live.policy = policy;
      let clock = this.clocks.get(db.name);
      if (!clock) this.clocks.set(db.name, (clock = {}));
      await serveHubSession(channel, {
        db,
        principal: live.principal,
        policy,
        signal: stop.signal,
        metrics: this.metrics,
        clock,
        log: this.sessionLog(live),
        ...(this.options.keepAliveMs !== undefined ? { keepAliveMs: this.options.keepAliveMs } : {}),
        ...(this.options.features !== undefined ? { features: this.options.features } : {}),
      });
    })()
      .catch((err: Error) => this.log('warn', `session of ${principal.user} on ${name} failed: ${err.message}`))
      .finally(() => {
        access?.db.release?.(); // the session's hold on its database (the upgrade's, or admit's)
        clearTimeout(live.expiry);
        this.sessions.delete(live);
        const left = (this.perDatabase.get(name) ?? 1) - 1;
        if (left > 0) this.perDatabase.set(name, left);
        else {
          this.perDatabase.delete(name);
          this.clocks.delete(name); // (kept per database with a session: one per database ever served otherwise)
        }
        this.gauges();
        // The session is over even if the client does not hang up: close (after what was sent).
        if (ws.readyState === ws.OPEN) {
          ws.close(CLOSE_NORMAL);
          setTimeout(() => ws.terminate(), 2_000).unref();
        }
      });
    // A revocation heard since the credentials (and access) were checked was not applied to this
    // session, not yet registered then: it is checked now.
    if (this.revocations !== heard) void this.recheck(live, 'revoked', new Map());
  }

  /**
   * A session's access once its hello is read, for a client that had none at the upgrade: a push
   * to a name no database has creates it, owned by the client; anything else has no access.
   */
  private async admit(name: string, principal: Principal, hello: Uint8Array): Promise<Access | undefined> {
    let m: Message | undefined;
    try {
      m = decodeMessage(hello);
    } catch {
      return undefined; // garbage: no access either
    }
    if (m.type !== 'hello' || !m.push) return undefined;
    const db = (await this.store.open(name)) ?? (await this.store.open(name, { app: principal.app, user: principal.user }));
    // (someone else may have created it meanwhile: then their access rules)
    let policy: PeerPolicy | undefined;
    try {
      policy = db && accessOf(await db.info(), principal);
    } finally {
      if (db && !policy) db.release?.(); // held by the session only with access
    }
    return db && policy ? { db, policy } : undefined;
  }

  /** Sets the gauges (per connect and disconnect: counted as sessions come and go, not from every session each time). */
  private gauges(): void {
    this.metrics.connections.set(this.sessions.size);
    this.metrics.databases.set(this.perDatabase.size);
  }

  /** Ends the session when its credentials expire (unless refreshed before). */
  private schedule(live: Live): void {
    clearTimeout(live.expiry);
    const at = live.principal.expiresAt;
    if (at === undefined) return;
    // setTimeout takes at most 2^31-1 ms; a later expiry is looked at again then
    live.expiry = setTimeout(() => void this.recheck(live, 'expired'), Math.min(Math.max(0, at - Date.now()), 2 ** 31 - 1));
    live.expiry.unref();
  }

  /**
   * Ends the session if its principal is no longer valid (revoked, expired), or — with `infos`
   * (after a revocation, which may be of access) — if its access to the database was withdrawn or
   * changed: a changed policy applies from the client's next connection.
   */
  private async recheck(live: Live, reason: 'revoked' | 'expired', infos?: Map<string, Promise<DatabaseInfo>>): Promise<void> {
    let ok = false;
    try {
      ok = (live.principal.expiresAt === undefined || live.principal.expiresAt > Date.now()) && (await this.auth.valid(live.principal));
    } catch (err) {
      this.log('warn', `checking the credentials of ${live.principal.user} failed: ${(err as Error).message}`);
    }
    if (!ok) return this.end(live, reason);
    this.schedule(live);
    const database = live.database;
    if (!infos || !database || !live.policy) return;
    let now: PeerPolicy | undefined;
    try {
      let info = infos.get(live.db);
      if (!info) infos.set(live.db, (info = database.info()));
      now = accessOf(await info, live.principal);
    } catch (err) {
      return this.log('warn', `checking the access of ${live.principal.user} to ${live.db} failed: ${(err as Error).message}`);
    }
    if (!now) this.end(live, 'forbidden');
    else if (JSON.stringify(policyToJson(now)) !== JSON.stringify(policyToJson(live.policy))) this.end(live, 'policy');
  }

  private end(live: Live, reason: 'revoked' | 'expired' | 'unauthenticated' | 'forbidden' | 'policy'): void {
    if (!this.sessions.has(live)) return;
    this.metrics.refused(reason);
    const text = {
      expired: 'credentials expired: reconnect with a fresh token',
      revoked: 'credentials revoked',
      unauthenticated: 'authentication failed',
      forbidden: `access withdrawn: database ${live.db} is no longer shared with you`,
      policy: `access changed: your policy on database ${live.db} changed; reconnect to sync under the new one`,
    }[reason];
    this.log('warn', `ended the session of ${live.principal.user} on ${live.db}: ${text}`);
    live.stop.abort();
    const forbidden = reason === 'forbidden' || reason === 'policy';
    live.stream.end(forbidden ? CLOSE_FORBIDDEN : CLOSE_UNAUTHORIZED, text, new HubRequestError(forbidden ? 403 : 401, reason, text));
  }

  /** A control message on an open session: a refreshed token. */
  private control(live: Live, m: ControlMessage): void {
    if (m.type !== 'refresh' || typeof m.token !== 'string') throw new HubRequestError(400, 'protocol', `unknown control message ${JSON.stringify(m.type)}`);
    this.auth.refresh(live.principal, m.token).then(
      (p) => {
        if (p.app !== live.principal.app || p.user !== live.principal.user) return this.end(live, 'unauthenticated');
        live.principal = p;
        this.schedule(live);
        live.stream.control({ type: 'refreshed', ...(p.expiresAt !== undefined ? { expiresAt: p.expiresAt } : {}) });
      },
      () => this.end(live, 'unauthenticated'),
    );
  }

  /**
   * Stops: no new connections; every session stops sending, a batch being merged finishes (it is
   * acknowledged or not at all), connections close with 1001 (clients reconnect with backoff), and
   * the store closes once sessions are done.
   */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.unsubscribe();
      this.inspector?.stop();
      const closed = new Promise<void>((resolve) => this.http.close(() => resolve()));
      this.http.closeAllConnections();
      for (const live of this.sessions) {
        clearTimeout(live.expiry);
        live.stop.abort();
        live.stream.end(CLOSE_GOING_AWAY, 'the hub is shutting down', this.shutdown);
      }
      const all = Promise.all([...this.sessions].map((s) => s.done));
      await Promise.race([all, new Promise((resolve) => setTimeout(resolve, this.options.shutdownMs ?? 5_000).unref())]);
      for (const ws of this.wss.clients) ws.terminate();
      await this.docs?.stop();
      await closed;
      await this.store.close();
    })();
    return this.stopping;
  }
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
