/**
 * The inspector's HTTP endpoints under /ui, behind the hub operator's admin session:
 *
 * | path | what |
 * | --- | --- |
 * | `GET /ui` | the inspector, or the login form without a session |
 * | `POST /ui/login` (form or JSON `token`) | checks an admin token; sets the session cookie, 303 to /ui |
 * | `POST /ui/logout` | ends the session, 303 to /ui |
 * | `GET /ui/api/overview`, `/ui/api/conflicts`, `/ui/api/metrics` | JSON (401 without a session) |
 * | `GET /ui/api/feed` | the live changes as Server-Sent Events (401 without a session) |
 * | `GET /ui/app.js`, `/ui/chart.js`, `/ui/style.css` | the page's code and style (no data) |
 *
 * The session cookie is HttpOnly and SameSite=Strict (so no other site's page can make the browser
 * send it), scoped to /ui, and Secure when the hub sits behind a TLS proxy that says so
 * (`X-Forwarded-Proto: https`). Logins and logouts from another origin are refused. Every response
 * carries a CSP allowing only this origin, and is not cached.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { AdminAccess } from './admins.ts';
import { chartJs } from './assets.ts';
import { CLIENT_JS } from './client.ts';
import { overview, recentConflicts } from './data.ts';
import { AdminLoginError } from './errors.ts';
import { ChangeWatcher, type FeedEvent, type WatchOptions } from './feed.ts';
import type { InspectedHub } from './hub.ts';
import { CSP, inspectorPage, loginPage, STYLE } from './page.ts';
import { MetricsSampler } from './samples.ts';

/** Where the inspector lives. */
export const INSPECTOR_PATH = '/ui';
/** The session cookie's name. */
export const SESSION_COOKIE = 'ddcp_admin';
/** The largest login body read (a token is under 100 bytes). */
const MAX_LOGIN_BODY = 4096;
/** How often an open feed stream checks its session again (a revoked token ends it; ms). */
const FEED_RECHECK_MS = 15_000;

export interface InspectorOptions {
  admins: AdminAccess;
  log?: (line: string) => void;
  /** The live feed's bounds (feed.ts). */
  feed?: WatchOptions;
  /** Metric sampling interval (ms; default 1,000). */
  sampleMs?: number;
}

export class Inspector {
  readonly #hub: InspectedHub;
  readonly #admins: AdminAccess;
  readonly #log: (line: string) => void;
  readonly #sampler: MetricsSampler;
  readonly #watcher: ChangeWatcher;
  readonly #streams = new Set<ServerResponse>();

  constructor(hub: InspectedHub, options: InspectorOptions) {
    this.#hub = hub;
    this.#admins = options.admins;
    this.#log = options.log ?? (() => {});
    this.#sampler = new MetricsSampler(hub.metrics, options.sampleMs);
    this.#sampler.start();
    this.#watcher = new ChangeWatcher(hub.store, options.feed, this.#log);
  }

  /** Answers a request under /ui and resolves true, or resolves false for any other path. */
  async handle(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    const path = new URL(req.url ?? '/', 'http://hub.invalid').pathname;
    if (path !== INSPECTOR_PATH && !path.startsWith(`${INSPECTOR_PATH}/`)) return false;
    const route = `${req.method} ${path}`;
    switch (route) {
      case 'GET /ui/style.css':
        return send(res, 200, 'text/css; charset=utf-8', STYLE);
      case 'GET /ui/app.js':
        return send(res, 200, 'text/javascript; charset=utf-8', CLIENT_JS);
      case 'GET /ui/chart.js':
        return send(res, 200, 'text/javascript; charset=utf-8', chartJs());
      case 'POST /ui/login':
        return await this.#login(req, res);
      case 'POST /ui/logout':
        if (!sameOrigin(req)) return send(res, 403, 'text/plain; charset=utf-8', 'cross-origin request refused');
        await this.#admins.logout(cookieOf(req));
        res.setHeader('set-cookie', cookie(req, '', 0));
        return redirect(res);
    }
    const admin = await this.#admins.session(cookieOf(req));
    if (route === 'GET /ui' || route === 'GET /ui/') return send(res, 200, 'text/html; charset=utf-8', admin ? inspectorPage() : loginPage(false));
    if (!path.startsWith('/ui/api/')) return send(res, 404, 'application/json', JSON.stringify({ code: 'not-found', message: `no such endpoint: ${route}` }));
    if (!admin) return send(res, 401, 'application/json', JSON.stringify({ code: 'unauthenticated', message: 'log in at /ui with an admin token' }));
    switch (route) {
      case 'GET /ui/api/overview':
        return send(res, 200, 'application/json', JSON.stringify(await overview(this.#hub)));
      case 'GET /ui/api/conflicts':
        return send(res, 200, 'application/json', JSON.stringify(await recentConflicts(this.#hub)));
      case 'GET /ui/api/metrics':
        return send(res, 200, 'application/json', JSON.stringify({ samples: this.#sampler.samples() }));
      case 'GET /ui/api/feed':
        return this.#feed(req, res);
    }
    return send(res, 404, 'application/json', JSON.stringify({ code: 'not-found', message: `no such endpoint: ${route}` }));
  }

  /** Stops sampling and following, and ends the open feed streams. */
  stop(): void {
    this.#sampler.stop();
    this.#watcher.stop();
    for (const res of this.#streams) res.end();
  }

  async #login(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    if (!sameOrigin(req)) return send(res, 403, 'text/plain; charset=utf-8', 'cross-origin request refused');
    const remote = req.socket.remoteAddress ?? 'unknown';
    let token = '';
    try {
      token = tokenOf(req.headers['content-type'] ?? '', await readBody(req));
      const { session, expiresAt } = await this.#admins.login(token, remote);
      res.setHeader('set-cookie', cookie(req, session, Math.floor((expiresAt - Date.now()) / 1000)));
      return redirect(res);
    } catch (err) {
      if (!(err instanceof AdminLoginError) && !(err instanceof BodyError)) throw err;
      if (err instanceof BodyError) this.#log(`refused an inspector login from ${remote}: ${err.message}`);
      const wantsJson = (req.headers['content-type'] ?? '').startsWith('application/json');
      return wantsJson
        ? send(res, 401, 'application/json', JSON.stringify({ code: 'unauthenticated', message: 'admin login failed' }))
        : send(res, 401, 'text/html; charset=utf-8', loginPage(true));
    }
  }

  #feed(req: IncomingMessage, res: ServerResponse): boolean {
    res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/event-stream; charset=utf-8', connection: 'keep-alive' });
    const write = (e: FeedEvent): void => void res.write(`id: ${e.seq}\ndata: ${JSON.stringify(e)}\n\n`);
    res.write('retry: 2000\n\n');
    const after = Number(req.headers['last-event-id'] ?? 0) || 0;
    for (const e of this.#watcher.recent()) if (e.seq > after) write(e);
    const unsubscribe = this.#watcher.subscribe(write);
    this.#streams.add(res);
    // The page says it is live only once every database is watched: a change made after that shows.
    void this.#watcher.ready().then(() => res.writableEnded || res.destroyed || res.write('event: ready\ndata: {}\n\n'));
    // Comments keep proxies from timing the stream out; the session is checked again now and then.
    const cookieValue = cookieOf(req);
    const timer = setInterval(() => {
      res.write(': keep-alive\n\n');
      void this.#admins.session(cookieValue).then((ok) => ok || res.end(), () => res.end());
    }, FEED_RECHECK_MS);
    timer.unref();
    res.on('close', () => {
      clearInterval(timer);
      unsubscribe();
      this.#streams.delete(res);
    });
    return true;
  }
}

const SECURITY_HEADERS = {
  'content-security-policy': CSP,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  // same-origin, not no-referrer: with no-referrer a form post's Origin is 'null'
  'referrer-policy': 'same-origin',
  'cache-control': 'no-store',
};

function send(res: ServerResponse, status: number, type: string, body: string | Buffer): true {
  res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
  return true;
}

function redirect(res: ServerResponse): true {
  res.writeHead(303, { ...SECURITY_HEADERS, location: INSPECTOR_PATH, 'content-length': 0 });
  res.end();
  return true;
}

/** The session cookie, or one that clears it (`maxAge` 0). */
function cookie(req: IncomingMessage, value: string, maxAge: number): string {
  const secure = req.headers['x-forwarded-proto'] === 'https' ? '; Secure' : '';
  return `${SESSION_COOKIE}=${value}; Path=${INSPECTOR_PATH}; Max-Age=${maxAge}; HttpOnly; SameSite=Strict${secure}`;
}

/** The session cookie's value in a request, if any. */
export function cookieOf(req: IncomingMessage): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === SESSION_COOKIE) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/**
 * Whether a state-changing request comes from the hub's own pages (or from no page: curl). The
 * browser's Sec-Fetch-Site says so where sent; else the Origin must be the hub's own.
 */
function sameOrigin(req: IncomingMessage): boolean {
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined) return site === 'same-origin' || site === 'none';
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  try {
    return new URL(origin).host === req.headers.host;
  } catch {
    return false; // 'null' among others
  }
}

class BodyError extends Error {}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_LOGIN_BODY) throw new BodyError(`login body over ${MAX_LOGIN_BODY} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The token of a login body: a form (`token=…`) or JSON (`{"token": …}`). */
function tokenOf(type: string, body: string): string {
  if (type.startsWith('application/json')) {
    let v: unknown;
    try {
      v = JSON.parse(body);
    } catch {
      throw new BodyError('login body is not JSON');
    }
    const t = (v as { token?: unknown } | null)?.token;
    if (typeof t !== 'string') throw new BodyError('login body has no "token" string');
    return t;
  }
  if (type.startsWith('application/x-www-form-urlencoded')) return new URLSearchParams(body).get('token') ?? '';
  throw new BodyError(`login body of type ${JSON.stringify(type)}: send a form or JSON`);
}
