/**
 * The hub's JSON document API: `ws://HOST:PORT/v1/docs/<db>`, for apps in any language. The upgrade
 * is authenticated and checked exactly as a sync session's (the same Authenticator and access rule:
 * the owner, or a user it is shared with under that share's policy; a missing database is created,
 * owned by the caller). Then each text frame is one JSON request and gets one JSON reply, in order
 * (requests.ts); `subscribe` adds pushed events.
 *
 * Documents are served from a hub-side replica per (database, user) (replica.ts), which follows the
 * database like a library client of that user and pushes its edits through the gate; a write is
 * answered once the database has merged it. Replicas live in a cache folder (`dir`, or a temporary
 * one removed at stop) and close when their user's last JSON connection does.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import type { DocumentEvent } from '../../docs/index.ts';
import { policyToJson, type PeerPolicy } from '../../sync/policy.ts';
import type { SessionLog } from '../../sync/server.ts';
import { accessOf } from '../access.ts';
import type { Authenticator, Principal } from '../auth/port.ts';
import { redactUrl } from '../auth/authenticator.ts';
import { HubRequestError } from '../errors.ts';
import { decodeSegment } from '../path.ts';
import type { HubMetrics } from '../metrics.ts';
import { checkDatabaseName, DatabaseNameError, type HubDatabase, type HubStore } from '../storage/port.ts';
import { DocsApiError } from './errors.ts';
import { DocsReplica } from './replica.ts';
import { apiError, checkRequest, parseMessage, perform, requestIdOf, WRITES, type Request, type RequestId } from './requests.ts';

/** Where the API is: `/v1/docs/<db>`. */
export const DOCS_PATH_PREFIX = '/v1/docs/';
/** The largest message a client may send by default (1 MiB); a larger one closes the connection (1009). */
export const DEFAULT_DOCS_MAX_MESSAGE_BYTES = 1024 * 1024;
/** Requests a connection may have waiting; more are answered `busy`. */
const MAX_PENDING = 1_000;
/** Unsent bytes after which a connection that does not read its events is closed (1013). */
const MAX_BUFFERED = 16 * 1024 * 1024;

/** WebSocket close codes of the API. */
export const DOCS_CLOSE = { malformed: 1007, unsupported: 1003, goingAway: 1001, reset: 1012, tooSlow: 1013, unauthorized: 4401, forbidden: 4403, failed: 1011 } as const;

/** The file in a replica's folder naming the policy it was filled under (a replica holds only what that policy let its user read). */
const POLICY_FILE = 'policy.json';

export interface DocsApiOptions {
  store: HubStore;
  auth: Authenticator;
  metrics: HubMetrics;
  log: SessionLog;
  /** The replicas' cache folder (default: a temporary folder, removed at stop). */
  dir?: string;
  /** Default {@link DEFAULT_DOCS_MAX_MESSAGE_BYTES}. */
  maxMessageBytes?: number;
}

/** One user's replica of one database, and the connections using it. */
interface Entry {
  key: string;
  dir: string;
  /** The policy its replica follows the database under (policyText). */
  policy: string;
  replica: Promise<DocsReplica>;
  conns: Set<Conn>;
}

interface Conn {
  ws: WebSocket;
  /** Held (store.open) from the upgrade until the connection closed and, if it was the replica's last, the replica too. */
  db: HubDatabase;
  principal: Principal;
  policy: PeerPolicy;
  entry: Entry;
  subscriptions: Map<string, () => void>;
  /** Requests run in order, each once the one before has run (a write: applied to the replica). */
  chain: Promise<void>;
  /** Replies go in order, each once the one before was sent (a write's: once the database merged it). */
  replies: Promise<void>;
  pending: number;
  expiry?: NodeJS.Timeout;
}

/** A reply's fields. */
type Fields = Record<string, unknown>;

/** A policy as text, to compare. */
const policyText = (p: PeerPolicy): string => JSON.stringify(policyToJson(p));

const mayWrite = (p: PeerPolicy): boolean => p.write === 'all' || (p.write !== 'none' && p.write.length > 0);

/** The database a `/v1/docs/<db>` request names (a query allowed), or undefined for another path. */
export function docsDatabaseOf(url: string | undefined): string | undefined {
  const path = new URL(url ?? '/', 'http://hub.invalid').pathname;
  if (!path.startsWith(DOCS_PATH_PREFIX)) return undefined;
  const name = decodeSegment(path.slice(DOCS_PATH_PREFIX.length));
  try {
    checkDatabaseName(name);
  } catch (err) {
    if (err instanceof DatabaseNameError) throw new HubRequestError(400, 'bad-request', `${err.message} (connect to ws://HOST:PORT${DOCS_PATH_PREFIX}<database>)`);
    throw err;
  }
  return name;
}

/** A document event as pushed to a subscription. */
function eventJson(subscription: string, e: DocumentEvent): Record<string, unknown> | undefined {
  if (e.type === 'sync') return undefined;
  if (e.type === 'conflict') return { event: 'conflict', subscription, collection: e.collection, doc: e.id, path: e.path, lost: e.lost, kept: e.kept };
  return { event: e.type, subscription, collection: e.collection, doc: e.id, patch: e.patch, change: e.change, site: e.site };
}

export class DocsApi {
  private readonly options: DocsApiOptions;
  private readonly wss: WebSocketServer;
  private readonly entries = new Map<string, Entry>();
  /** Open connections (for the metrics). */
  private readonly open = new Set<Conn>();
  /** Replicas being closed, by key: a new one in the same folder waits for it. */
  private readonly closing = new Map<string, Promise<void>>();
  private readonly unsubscribe: () => void;
  private root: string | undefined;
  private ownRoot = false;
  private stopping: Promise<void> | undefined;
  private subscriptionIds = 0;
  /** Revocations heard so far: a connection admitted while one came is checked again once registered. */
  private revocations = 0;

  constructor(options: DocsApiOptions) {
    this.options = options;
    this.wss = new WebSocketServer({ noServer: true, maxPayload: options.maxMessageBytes ?? DEFAULT_DOCS_MAX_MESSAGE_BYTES, perMessageDeflate: false });
    this.unsubscribe = options.auth.onRevoked((app) => {
      this.revocations++;
      for (const e of this.entries.values()) for (const c of e.conns) if (c.principal.app === app) void this.recheck(c, 'revoked');
    });
  }

  /** Open JSON connections. */
  get connections(): number {
    let n = 0;
    for (const e of this.entries.values()) n += e.conns.size;
    return n;
  }

  /**
   * Takes a WebSocket upgrade for `/v1/docs/<db>` (resolves true), or leaves it (false). A refusal
   * is answered before the upgrade, as for sync: an HTTP status with `{code, message}`.
   */
  async upgrade(req: IncomingMessage, socket: Socket, head: Buffer): Promise<boolean> {
    const remote = req.socket.remoteAddress ?? 'unknown';
    let name: string | undefined;
    try {
      name = docsDatabaseOf(req.url);
      if (name === undefined) return false;
      socket.on('error', () => {}); // a client that vanishes mid-upgrade is not our error
      if (this.stopping) throw new HubRequestError(503, 'unavailable', 'the hub is shutting down; try again shortly');
      const heard = this.revocations;
      let principal: Principal;
      try {
        principal = await this.options.auth.authenticate({ headers: req.headers, remoteAddress: remote, url: req.url ?? '/' });
      } catch (err) {
        const cause = (err as Error & { cause?: Error }).cause;
        this.options.log('warn', `refused a document connection from ${remote} to ${name}: ${(err as Error).message}${cause ? ` (${cause.message})` : ''}`);
        throw new HubRequestError(401, 'unauthenticated', 'authentication failed');
      }
      const store = this.options.store;
      const db = (await store.open(name)) ?? (await store.open(name, { app: principal.app, user: principal.user }))!;
      // Given back below unless a connection takes it over (ws calls back synchronously, or never).
      let held: HubDatabase | undefined = db;
      try {
        const policy = accessOf(await db.info(), principal);
        if (!policy) throw new HubRequestError(403, 'forbidden', `database ${name} is not yours and not shared with you`);
        if (this.stopping) throw new HubRequestError(503, 'unavailable', 'the hub is shutting down; try again shortly');
        this.wss.handleUpgrade(req, socket, head, (ws) => {
          held = undefined;
          this.connection(ws, principal, db, policy, remote, heard);
        });
      } finally {
        held?.release?.();
      }
    } catch (err) {
      const e = err instanceof HubRequestError ? err : new HubRequestError(500, 'unavailable', 'the hub could not open the database');
      if (!(err instanceof HubRequestError)) this.options.log('warn', `document connection from ${remote} to ${redactUrl(req.url)} failed: ${(err as Error).message}`);
      else if (e.code !== 'unauthenticated') this.options.log('warn', `refused a document connection from ${remote} to ${redactUrl(req.url)}: ${e.message}`);
      this.options.metrics.refused(e.code);
      const body = JSON.stringify({ code: e.code, message: e.message });
      socket.end(`HTTP/1.1 ${e.status} ${e.status === 400 ? 'Bad Request' : e.status === 401 ? 'Unauthorized' : e.status === 403 ? 'Forbidden' : e.status === 503 ? 'Service Unavailable' : 'Internal Server Error'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
    }
    return true;
  }

  /** `heard`: the revocation count before its credentials were checked. */
  private connection(ws: WebSocket, principal: Principal, db: HubDatabase, policy: PeerPolicy, remote: string, heard: number): void {
    const entry = this.acquire(db, principal, policy);
    const conn: Conn = { ws, db, principal, policy, entry, subscriptions: new Map(), chain: Promise.resolve(), replies: Promise.resolve(), pending: 0 };
    entry.conns.add(conn);
    this.open.add(conn);
    this.options.metrics.docsConnections.set(this.open.size);
    this.schedule(conn);
    ws.on('error', (err: Error & { code?: string }) => {
      if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
        this.options.metrics.refused('oversized');
        this.options.log('warn', `${principal.user} (${remote}) sent a document message over the limit: connection closed`);
      }
    });
    ws.on('close', () => this.release(conn));
    // A revocation heard since the credentials (and access) were checked missed this connection, not yet registered then.
    if (this.revocations !== heard) void this.recheck(conn, 'revoked');
    // Requests wait for the replica to catch up with the database; the client is told when it has.
    conn.chain = entry.replica
      .then(async (replica) => {
        await replica.ready;
        replica.principal = principal;
        this.send(conn, { event: 'ready', database: db.name, user: principal.user, access: { read: policy.read, write: policy.write } });
      })
      .catch((err: Error) => {
        this.options.log('warn', `the document replica of ${db.name} for ${principal.user} failed: ${err.message}`);
        this.send(conn, { id: null, ok: false, error: { code: 'unavailable', message: `the hub cannot serve the documents of ${db.name} now: ${err.message}` } });
        ws.close(DOCS_CLOSE.failed, 'document replica unavailable');
        // A later connection starts afresh.
        if (this.entries.get(entry.key) === entry) this.drop(entry);
      });
    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (isBinary) {
        this.send(conn, { id: null, ok: false, error: { code: 'malformed', message: 'send JSON requests as text frames' } });
        ws.close(DOCS_CLOSE.unsupported, 'binary frames are not accepted');
        return;
      }
      if (conn.pending >= MAX_PENDING) {
        const id = requestIdOf(safeParse(data));
        this.send(conn, { id, ok: false, error: { code: 'busy', message: `over ${MAX_PENDING} requests are waiting on this connection; wait for replies` } });
        return;
      }
      conn.pending++;
      const text = Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.concat(data as Buffer[]).toString('utf8');
      // A write's reply waits for the database; the next request need not (writes go on in order).
      let replied!: () => void;
      const reply = new Promise<void>((resolve) => (replied = resolve));
      const before = conn.replies;
      conn.replies = before.then(() => reply).finally(() => conn.pending--);
      conn.chain = conn.chain
        .then(() => this.request(conn, text, before, replied))
        .catch((err: Error) => {
          this.options.log('warn', `a document request of ${principal.user} failed: ${err.message}`);
          replied();
        });
    });
  }

  /**
   * Runs one text message; `reply` is called once its answer was sent (after the answers before
   * it, `before`, in the order the requests came).
   */
  private async request(conn: Conn, text: string, before: Promise<void>, reply: () => void): Promise<void> {
    if (conn.ws.readyState !== conn.ws.OPEN) return reply();
    let message: unknown;
    try {
      message = parseMessage(text);
    } catch (err) {
      // Garbage: said once, then the connection closes (what follows can't be trusted to be framed right).
      this.options.metrics.refused('protocol');
      this.send(conn, { id: null, ok: false, error: { code: 'malformed', message: (err as Error).message } });
      conn.ws.close(DOCS_CLOSE.malformed, 'malformed message');
      return reply();
    }
    let id: RequestId | null = requestIdOf(message);
    let answer: () => Fields | Promise<Fields>;
    try {
      const r = checkRequest(message);
      id = r.id;
      answer = (await this.execute(conn, r)).answer;
    } catch (err) {
      answer = () => Promise.reject(err);
    }
    void (async () => {
      try {
        await before.catch(() => {});
        try {
          this.send(conn, { id, ok: true, ...(await answer()) });
        } catch (err) {
          const e = apiError(err);
          if (e.code === 'internal') this.options.log('warn', `document request of ${conn.principal.user} on ${conn.entry.key.split('\0')[0]} failed: ${(err as Error).message}`);
          this.send(conn, { id, ok: false, error: { code: e.code, message: e.message } });
          if (e.code === 'refused') this.reset(conn.entry);
        }
      } finally {
        reply();
      }
    })();
  }

  /**
   * Runs a request in the connection's order; its answer is made when its turn to be sent comes (a
   * write's once the database merged it; a subscription starts then, so its events follow its reply).
   */
  private async execute(conn: Conn, r: Request): Promise<{ answer: () => Fields | Promise<Fields> }> {
    const replica = await conn.entry.replica;
    switch (r.type) {
      case 'subscribe': {
        const filter = { ...(r.collection !== undefined ? { collection: r.collection } : {}), ...(r.doc !== undefined ? { id: r.doc } : {}) };
        return {
          answer: () => {
            const subscription = `s${++this.subscriptionIds}`;
            const off = replica.docs.on(['created', 'updated', 'deleted', 'conflict'], (e) => {
              const m = eventJson(subscription, e);
              if (m) this.send(conn, m);
            }, filter);
            conn.subscriptions.set(subscription, off);
            return { subscription };
          },
        };
      }
      case 'unsubscribe': {
        const off = conn.subscriptions.get(r.subscription);
        if (!off) throw new DocsApiError('bad-request', `no subscription ${r.subscription} on this connection`);
        off();
        conn.subscriptions.delete(r.subscription);
        return { answer: () => ({}) };
      }
      case 'refresh_token': {
        let p: Principal;
        try {
          p = await this.options.auth.refresh(conn.principal, r.token);
        } catch {
          throw new DocsApiError('forbidden', 'the token was not accepted');
        }
        if (p.app !== conn.principal.app || p.user !== conn.principal.user) throw new DocsApiError('forbidden', 'the token is for another user');
        conn.principal = p;
        replica.principal = p;
        this.schedule(conn);
        const fields = p.expiresAt !== undefined ? { expires_at: p.expiresAt } : {};
        return { answer: () => fields };
      }
      default: {
        if (WRITES.has(r.type)) {
          if (!mayWrite(conn.policy)) throw new DocsApiError('forbidden', `you may read database ${replica.db.name} but not write to it`);
          // Applied now, in order; the next request runs without waiting for the database.
          const { result, merged } = replica.begin((docs) => perform(docs, r));
          merged.catch(() => {}); // answered in order
          return { answer: async () => (await merged, result) };
        }
        const fields = perform(replica.docs, r);
        return { answer: () => fields };
      }
    }
  }

  private send(conn: Conn, message: Record<string, unknown>): void {
    if (conn.ws.readyState !== conn.ws.OPEN) return;
    if (conn.ws.bufferedAmount > MAX_BUFFERED) {
      conn.ws.close(DOCS_CLOSE.tooSlow, 'too many unread messages');
      return;
    }
    conn.ws.send(JSON.stringify(message));
  }

  // --- replicas ---

  private replicaDir(db: string, who: Principal): string {
    if (this.root === undefined) {
      if (this.options.dir !== undefined) {
        this.root = this.options.dir;
        // Every user's readable documents go in it: a folder made here is the hub's own (as the temporary one is).
        mkdirSync(this.root, { recursive: true, mode: 0o700 });
      } else {
        this.root = mkdtempSync(join(tmpdir(), 'ddcp-hub-docs-'));
        this.ownRoot = true;
      }
    }
    const user = createHash('sha256').update(`${who.app}\0${who.user}`).digest('hex').slice(0, 32);
    return join(this.root, db, user);
  }

  private acquire(db: HubDatabase, who: Principal, policy: PeerPolicy): Entry {
    const key = `${db.name}\0${who.app}\0${who.user}`;
    const text = policyText(policy);
    const open = this.entries.get(key);
    if (open?.policy === text) return open;
    // A replica filled under another policy holds what this one may not allow: not reused.
    if (open) this.withdraw(open, 'policy');
    const dir = this.replicaDir(db.name, who);
    const previous = this.closing.get(key) ?? Promise.resolve();
    const entry: Entry = {
      key,
      dir,
      policy: text,
      conns: new Set(),
      replica: previous.then(async () => {
        forgetOtherPolicy(dir, text);
        const replica = await DocsReplica.open({ dir, db, principal: who, metrics: this.options.metrics, log: this.options.log });
        writeFileSync(join(dir, POLICY_FILE), text);
        return replica;
      }),
    };
    entry.replica.catch(() => {}); // heard by the connection that waits on it
    this.entries.set(key, entry);
    return entry;
  }

  private release(conn: Conn): void {
    clearTimeout(conn.expiry);
    for (const off of conn.subscriptions.values()) off();
    conn.subscriptions.clear();
    const entry = conn.entry;
    entry.conns.delete(conn);
    this.open.delete(conn);
    this.options.metrics.docsConnections.set(this.open.size);
    const replicaClosed = entry.conns.size === 0 && this.entries.get(entry.key) === entry ? this.drop(entry) : this.closing.get(entry.key);
    // The replica syncs with the database until it closed: held until then.
    if (!replicaClosed) return conn.db.release?.();
    void replicaClosed.then(() => conn.db.release?.()).catch((err: Error) => this.options.log('warn', `releasing database ${conn.db.name} failed: ${err.message}`));
  }

  /** Closes an entry's replica (its connections are gone or being closed). */
  private drop(entry: Entry, remove = false): Promise<void> {
    this.entries.delete(entry.key);
    const done = entry.replica
      .then((r) => r.close(), () => {})
      .then(() => {
        if (remove) rmSync(entry.dir, { recursive: true, force: true });
      })
      .catch((err: Error) => this.options.log('warn', `closing a document replica failed: ${err.message}`))
      .finally(() => {
        if (this.closing.get(entry.key) === done) this.closing.delete(entry.key);
      });
    this.closing.set(entry.key, done);
    return done;
  }

  /**
   * The database refused a change the replica already holds: the replica no longer equals what its
   * user may see there. Its connections are closed (1012, reconnect) and it is rebuilt from the
   * database on the next connection.
   */
  private reset(entry: Entry): void {
    if (this.entries.get(entry.key) !== entry) return;
    this.options.log('warn', `the document replica of ${entry.key.split('\0')[0]} was refused a change: rebuilding it`);
    for (const c of entry.conns) c.ws.close(DOCS_CLOSE.reset, 'document replica reset: reconnect');
    void this.drop(entry, true);
  }

  /**
   * The user's access to the entry's database was withdrawn or changed: its connections are closed
   * (4403; a changed one may reconnect under the new policy) and its replica removed, since it holds
   * what the old policy let the user read.
   */
  private withdraw(entry: Entry, reason: 'forbidden' | 'policy'): void {
    if (this.entries.get(entry.key) !== entry) return;
    const [db] = entry.key.split('\0');
    const text = reason === 'forbidden' ? `access withdrawn: database ${db} is no longer shared with you` : `access changed: your policy on database ${db} changed; reconnect to use the new one`;
    this.options.metrics.refused(reason);
    this.options.log('warn', `closed the document connections of ${entry.key.split('\0')[2]} on ${db}: ${text}`);
    for (const c of entry.conns) c.ws.close(DOCS_CLOSE.forbidden, text);
    void this.drop(entry, true);
  }

  // --- credentials ---

  private schedule(conn: Conn): void {
    clearTimeout(conn.expiry);
    const at = conn.principal.expiresAt;
    if (at === undefined) return;
    conn.expiry = setTimeout(() => void this.recheck(conn, 'expired'), Math.min(Math.max(0, at - Date.now()), 2 ** 31 - 1));
    conn.expiry.unref();
  }

  /**
   * Closes the connection if its principal is no longer valid (revoked, expired) or — after a
   * revocation, which may be of access (a share removed or changed) — if its access to the
   * database is not what it connected with.
   */
  private async recheck(conn: Conn, reason: 'revoked' | 'expired'): Promise<void> {
    let ok = false;
    try {
      ok = (conn.principal.expiresAt === undefined || conn.principal.expiresAt > Date.now()) && (await this.options.auth.valid(conn.principal));
    } catch (err) {
      this.options.log('warn', `checking the credentials of ${conn.principal.user} failed: ${(err as Error).message}`);
    }
    if (!ok) {
      this.options.metrics.refused(reason);
      conn.ws.close(DOCS_CLOSE.unauthorized, reason === 'expired' ? 'credentials expired: reconnect with a fresh token' : 'credentials revoked');
      return;
    }
    this.schedule(conn);
    if (reason !== 'revoked') return;
    let now: PeerPolicy | undefined;
    try {
      now = accessOf(await conn.db.info(), conn.principal);
    } catch (err) {
      return this.options.log('warn', `checking the access of ${conn.principal.user} to ${conn.db.name} failed: ${(err as Error).message}`);
    }
    if (!now) this.withdraw(conn.entry, 'forbidden');
    else if (policyText(now) !== conn.entry.policy) this.withdraw(conn.entry, 'policy');
  }

  /** Closes every connection (1001) and replica; removes a temporary cache folder. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.unsubscribe();
      const entries = [...this.entries.values()];
      for (const e of entries) for (const c of e.conns) c.ws.close(DOCS_CLOSE.goingAway, 'the hub is shutting down');
      await Promise.all(entries.map((e) => this.drop(e)));
      await Promise.all([...this.closing.values()]);
      for (const ws of this.wss.clients) ws.terminate();
      if (this.ownRoot && this.root !== undefined) rmSync(this.root, { recursive: true, force: true });
    })();
    return this.stopping;
  }
}

/** Empties a replica folder filled under another policy than `policy` (or under an unknown one), so it starts afresh. */
function forgetOtherPolicy(dir: string, policy: string): void {
  const file = join(dir, POLICY_FILE);
  if (!existsSync(dir) || (existsSync(file) && readFileSync(file, 'utf8') === policy)) return;
  rmSync(dir, { recursive: true, force: true });
}

function safeParse(data: RawData): unknown {
  try {
    return JSON.parse(Buffer.isBuffer(data) ? data.toString('utf8') : '') as unknown;
  } catch {
    return undefined;
  }
}
