/**
 * Hub test helpers: an {@link Authenticator} over a map of bearer tokens (the hub server codes against
 * the port; src/hub/auth is the real one), a hub on 127.0.0.1 with the embedded SQLite store, and a
 * store that hosts an existing repository as one database (for the remote conformance suite).
 */
import { EventEmitter } from 'node:events';
import { after, before } from 'node:test';
import type { AuthRequest, Authenticator, Principal } from '../../src/hub/auth/port.ts';
import { HubServer, type HubServerOptions } from '../../src/hub/server.ts';
import { SqliteHubStore } from '../../src/hub/storage/sqlite/store.ts';
import type { DatabaseInfo, HubDatabase, HubStore } from '../../src/hub/storage/port.ts';
import type { Repository } from '../../src/index.ts';
import { notesRepo } from './notes.ts';
import type { PeerPolicy } from '../../src/sync/policy.ts';

export class TestAuthError extends Error {
  override name = 'AuthError';
  constructor() {
    super('authentication failed');
  }
}

/** Bearer tokens → principals; revoking a token tells listeners of its app. */
export class TokenAuthenticator implements Authenticator {
  private readonly tokens = new Map<string, Principal>();
  private readonly events = new EventEmitter();

  /** Issues `token` for `user` of `app` (expiring at `expiresAt`, ms epoch, if given). */
  issue(token: string, user: string, app = 'test-app', expiresAt?: number): string {
    this.tokens.set(token, { app, user, method: 'token', ...(expiresAt !== undefined ? { expiresAt } : {}) });
    return token;
  }

  revoke(token: string): void {
    const p = this.tokens.get(token);
    this.tokens.delete(token);
    if (p) this.events.emit('revoked', p.app);
  }

  private lookup(token: string | undefined): Principal {
    const p = token === undefined ? undefined : this.tokens.get(token);
    if (!p || (p.expiresAt !== undefined && p.expiresAt <= Date.now())) throw new TestAuthError();
    return p;
  }

  async authenticate(req: AuthRequest): Promise<Principal> {
    const h = req.headers.authorization;
    const m = typeof h === 'string' ? /^Bearer (\S+)$/.exec(h) : null;
    // As the real hub: a browser, which can't set headers, sends its token as access_token.
    return this.lookup(m?.[1] ?? (h === undefined ? (new URL(req.url, 'http://hub.invalid').searchParams.get('access_token') ?? undefined) : undefined));
  }

  async refresh(p: Principal, token: string): Promise<Principal> {
    const q = this.lookup(token);
    if (q.app !== p.app || q.user !== p.user) throw new TestAuthError();
    return q;
  }

  async valid(p: Principal): Promise<boolean> {
    const now = Date.now();
    return [...this.tokens.values()].some((q) => q.app === p.app && q.user === p.user && (q.expiresAt === undefined || q.expiresAt > now));
  }

  async accessChanged(app: string): Promise<void> {
    this.events.emit('revoked', app);
  }

  onRevoked(listener: (app: string) => void): () => void {
    this.events.on('revoked', listener);
    return () => this.events.off('revoked', listener);
  }
}

/** A hub on 127.0.0.1 (a free port) with the SQLite store in `dir` and `auth`. */
export function startHub(dir: string, auth: Authenticator, options: Partial<HubServerOptions> = {}): Promise<HubServer> {
  return HubServer.start({ store: new SqliteHubStore(dir), auth, host: '127.0.0.1', port: 0, ...options });
}

/**
 * A store hosting repository `repo` as database `name`, owned by `owner` of app `app`: the shares
 * are the repository's peer policies (by address: the suite's users are repositories' addresses),
 * and its schema is the repository's own (declare changes nothing, so a misfit is refused as a
 * repository refuses it). The hub's own SQLite store grows its schema instead (test/hub.test.ts).
 */
export function repositoryStore(repo: Repository, name: string, app = 'test-app', owner = 'owner'): HubStore {
  const feed = repo.feed();
  const db: HubDatabase = {
    name,
    feed,
    sink: feed,
    proof: repo.siteProof(),
    directVersions: async (since, until) => repo.engine.directVersions(since, until),
    info: async (): Promise<DatabaseInfo> => ({
      name,
      owner: { app, user: owner },
      shares: Object.fromEntries(repo.policies().map((p) => [p.address, p.policy] as [string, PeerPolicy])),
      tables: repo.engine.crrs(),
    }),
    declare: async () => {},
    share: async (user, policy) => (policy ? repo.setPolicy(user, policy) : repo.deny(user)),
  };
  return {
    open: async (n) => (n === name ? db : undefined),
    list: async () => [await db.info()],
    close: async () => feed.stop(),
  };
}

/**
 * A client repository `name` in `dir` (the notes table, or `ddl`) whose remote 'origin' is database
 * `db` on the hub at `hubUrl`, presenting `token`.
 */
export async function hubClient(dir: string, name: string, hubUrl: string, db: string, token: string, ddl?: string): Promise<Repository> {
  const r = await notesRepo(dir, name, ddl);
  r.addRemote('origin', `${hubUrl}/${db}`);
  r.hubTokens.set(`${hubUrl}/${db}`, token);
  return r;
}

/** A hub for the tests of one `describe`, and client repositories of it. */
export interface HubFixture {
  readonly auth: TokenAuthenticator;
  /** The folder of the hub's data and of the clients. */
  readonly dir: string;
  /** The hub (once `before` ran). */
  readonly hub: HubServer;
  /** A client repository of `user` (token auth, app `test-app`) whose 'origin' is database `db`. */
  clientOf(user: string, db: string): Promise<Repository>;
}

/**
 * Starts a hub (embedded SQLite store, token auth) in `dir` before the surrounding `describe`'s
 * tests, and stops it — closing every client made through it — after them.
 */
export function hubFixture(dir: string): HubFixture {
  const auth = new TokenAuthenticator();
  let hub: HubServer | undefined;
  const repos: Repository[] = [];
  let n = 0;
  before(async () => {
    hub = await startHub(`${dir}/hub`, auth);
  });
  after(async () => {
    await hub?.stop();
    for (const r of repos) r.close();
  });
  const started = (): HubServer => {
    if (!hub) throw new Error('the hub starts in before()');
    return hub;
  };
  return {
    auth,
    dir,
    get hub() {
      return started();
    },
    async clientOf(user, db) {
      const r = await hubClient(dir, `${user}-${++n}`, started().url, db, auth.issue(`test-app:${user}`, user));
      repos.push(r);
      return r;
    },
  };
}
