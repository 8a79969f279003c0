/**
 * The embedded hub store: a data folder with one SQLite file per hosted database (a ddcp engine,
 * served through the repository's feed — repo/feed.ts — like any repository) and `hub.db` for the
 * metadata (owners, shares). No set-up; WAL, so an acknowledged change (committed before the ack)
 * survives a killed process.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Engine, ident, openDatabase, transaction, type Conflict, type SqliteConnection, type TableInfo } from '../../../engine/index.ts';
import { createIdentity, loadIdentity, type Identity } from '../../../repo/identity.ts';
import { Staging } from '../../../repo/staging.ts';
import type { Batch } from '../../../sync/batches.ts';
import type { ChangeSink, FeedRequest } from '../../../sync/ports.ts';
import { makeSiteProof, type SiteProof } from '../../../sync/proof.ts';
import { policyFromJson, policyToJson, type PeerPolicy } from '../../../sync/policy.ts';
import { planDeclare } from '../declare.ts';
import { HostedFeed, type HostedFeedOptions } from './feed.ts';
import { Leases } from '../leases.ts';
import { checkDatabaseName, HubStoreError, type DatabaseAccess, type DatabaseInfo, type HubDatabase, type HubStore, type HubUser } from '../port.ts';

const META_SCHEMA = `
CREATE TABLE IF NOT EXISTS databases (name TEXT PRIMARY KEY, app TEXT NOT NULL, owner TEXT NOT NULL, created_at INTEGER NOT NULL) STRICT;
CREATE TABLE IF NOT EXISTS shares (db TEXT NOT NULL REFERENCES databases(name), user TEXT NOT NULL, policy TEXT NOT NULL, PRIMARY KEY (db, user)) STRICT;`;

interface MetaRow {
  name: string;
  app: string;
  owner: string;
}

interface DatabaseHooks {
  release(): void;
  closed(): void;
}

class SqliteHubDatabase implements HubDatabase {
  readonly name: string;
  readonly feed: HostedFeed;
  readonly sink: ChangeSink;
  readonly dbPath: string;
  readonly engine: Engine;
  readonly proof: SiteProof;
  /** The feed tells of each group commit once, after it landed (feed.ts): the fan-out reads at once. */
  readonly wakesOnce = true;
  private readonly db: SqliteConnection;
  private readonly meta: SqliteConnection;
  /** The store's: one hold given back, and this closed. */
  private readonly hooks: DatabaseHooks;

  constructor(meta: SqliteConnection, dir: string, name: string, identity: Identity, hooks: DatabaseHooks, feedOptions: HostedFeedOptions) {
    this.name = name;
    this.hooks = hooks;
    this.meta = meta;
    this.dbPath = join(dir, `${name}.db`);
    this.db = openDatabase(this.dbPath);
    try {
      // Only merges write a hosted database (the document API writes through replicas that push):
      // kept without tracking triggers, which would only log each merged row to clear it again.
      this.engine = Engine.open(this.db, { mergeOnly: true });
    } catch (cause) {
      this.db.close();
      throw new HubStoreError(`cannot open hosted database ${name} (${this.dbPath}): ${(cause as Error).message}`, { cause });
    }
    this.proof = makeSiteProof(this.engine.siteId, identity.address, (m) => identity.sign(m));
    const feed = (this.feed = new HostedFeed(this, () => new Staging(join(dir, `${name}.staging.db`)), feedOptions));
    // Pushes go through the feed's group commit (see feed.ts).
    this.sink = {
      trackedVersion: (siteId) => feed.trackedVersion(siteId),
      bindSite: (siteId, address) => feed.bindSite(siteId, address),
      receive: (batch, from) => feed.receiveGrouped(batch, from),
      caughtUp: (version, from) => feed.caughtUp(version, from),
      dropIncomplete: (from) => feed.dropIncomplete(from),
    };
  }

  /** For the fan-out (hub/fanout.ts): one listener for the feed's changes while anyone follows. */
  onChanged(listener: () => void): () => void {
    return this.feed.onChanged(listener);
  }

  async directVersions(since: number, until: number): Promise<Map<number, Uint8Array>> {
    return this.feed.directVersions(since, until);
  }

  /** For the fan-out (hub/fanout.ts): what the group commits since `since` stored, handed over instead of read back. */
  takeStored(since: number): Batch[] | undefined {
    return this.feed.takeStored(since);
  }

  /** For the fan-out (hub/fanout.ts): a group's read of what is new, on the writer's connection. */
  readNow(since: number, request: FeedRequest): Batch[] {
    return this.feed.readNow(since, request);
  }

  async info(): Promise<DatabaseInfo> {
    const row = this.meta.prepare('SELECT name, app, owner FROM databases WHERE name = ?').get(this.name) as MetaRow | undefined;
    if (!row) throw new HubStoreError(`hosted database ${this.name} has no metadata`);
    return { name: row.name, owner: { app: row.app, user: row.owner }, shares: sharesOf(this.meta, this.name), tables: this.engine.crrs() };
  }

  async declare(tables: readonly TableInfo[]): Promise<void> {
    const plan = planDeclare(this.engine.crrs(), tables);
    if (plan.create.length === 0 && plan.add.length === 0) return;
    // Untyped columns: values keep the type each client gave them, as in the clients' databases.
    transaction(this.db, () => {
      for (const t of plan.create) {
        const cols = [...t.pks.map((c) => `${ident(c)} NOT NULL`), ...t.columns.map(ident)];
        this.db.exec(`CREATE TABLE ${ident(t.name)} (${cols.join(', ')}, PRIMARY KEY (${t.pks.map(ident).join(', ')}))`);
        this.engine.asCrr(t.name);
      }
      for (const a of plan.add) {
        this.engine.beginAlter(a.table);
        for (const c of a.columns) this.db.exec(`ALTER TABLE ${ident(a.table)} ADD COLUMN ${ident(c)}`);
        this.engine.commitAlter(a.table);
      }
    });
    this.feed.schemaChanged();
  }

  async share(user: string, policy: PeerPolicy | undefined): Promise<void> {
    if (policy === undefined) this.meta.prepare('DELETE FROM shares WHERE db = ? AND user = ?').run(this.name, user);
    else this.meta.prepare('INSERT OR REPLACE INTO shares VALUES (?, ?, ?)').run(this.name, user, JSON.stringify(policyToJson(policy)));
  }

  async conflicts(limit: number): Promise<Conflict[]> {
    return this.engine.conflicts({ limit });
  }

  /** Ends one open's hold (see storage/leases.ts). */
  release(): void {
    this.hooks.release();
  }

  /** Work in flight a close would cut short (see HostedFeed.busy). */
  busy(): boolean {
    return this.feed.busy;
  }

  /** Lands what is queued, closes the read pool, then the writer (its last connection: SQLite checkpoints the WAL). */
  close(): void {
    this.feed.stop(); // and its staging area
    this.db.close();
    this.hooks.closed();
  }
}

function sharesOf(meta: SqliteConnection, name: string): Record<string, PeerPolicy> {
  const rows = meta.prepare('SELECT user, policy FROM shares WHERE db = ? ORDER BY user').all(name) as { user: string; policy: string }[];
  return Object.fromEntries(rows.map((r) => [r.user, policyFromJson(JSON.parse(r.policy), `share of ${name} with ${r.user}`)]));
}

/** Options of the embedded store. */
export interface SqliteHubStoreOptions {
  /**
   * How long (ms) a hosted database nobody uses (no session, follower, push, API call) stays open
   * before its engine and read pool are closed; default 5 s (storage/leases.ts).
   */
  idleCloseMs?: number;
  /**
   * At most this many hosted databases open at once: opening one more first closes the least
   * recently released idle ones (each holds a writer, pooled readers, WAL and shm handles); default
   * 1,000 (storage/leases.ts).
   */
  maxOpen?: number;
  /** Told when closing an idle database failed (it is forgotten anyway). */
  log?: (line: string) => void;
  /**
   * How long (ms) a pooled reader of an open database may go unused before it is closed (a database
   * held open by a quiet follower keeps only its writer); default 5 s (sqlite/feed.ts).
   */
  readerTrimMs?: number;
}

/** Hosted databases in a data folder (created if missing); each open while used (see storage/leases.ts). */
export class SqliteHubStore implements HubStore {
  readonly dir: string;
  private readonly meta: SqliteConnection;
  private readonly leases: Leases<SqliteHubDatabase>;
  /** The open databases (opened, not yet closed), for `list`. */
  private readonly opened = new Map<string, SqliteHubDatabase>();
  private closed = false;
  private readonly feedOptions: HostedFeedOptions;

  constructor(dir: string, options: SqliteHubStoreOptions = {}) {
    this.dir = dir;
    this.feedOptions = options.readerTrimMs !== undefined ? { readerTrimMs: options.readerTrimMs } : {};
    const log = options.log;
    this.leases = new Leases({
      ...(options.idleCloseMs !== undefined && { idleMs: options.idleCloseMs }),
      ...(options.maxOpen !== undefined && { maxOpen: options.maxOpen }),
      onCloseError: (name, err) => log?.(`closing idle hosted database ${name} failed: ${err.message}`),
    });
    mkdirSync(join(dir, 'databases'), { recursive: true });
    this.meta = openDatabase(join(dir, 'hub.db'));
    this.meta.exec(META_SCHEMA);
  }

  /** Hosted databases open now (held, or idle and not yet closed). */
  get openDatabases(): number {
    return this.leases.size;
  }

  /** Opens past `maxOpen` because every open database was in use (storage/leases.ts). */
  get opensOverCap(): number {
    return this.leases.opensOverCap;
  }

  /** The database, held until its `release()` (once per open that returned one). */
  async open(name: string, create?: HubUser): Promise<HubDatabase | undefined> {
    checkDatabaseName(name);
    if (this.closed) throw new HubStoreError('the hub store is closed');
    const db = await this.leases.acquire(name, () => this.load(name, create));
    // Joined an open (without `create`) that found none: this one creates it.
    return db || !create ? db : this.leases.acquire(name, () => this.load(name, create));
  }

  private async load(name: string, create?: HubUser): Promise<SqliteHubDatabase | undefined> {
    if (this.closed) throw new HubStoreError('the hub store is closed');
    const known = this.meta.prepare('SELECT 1 FROM databases WHERE name = ?').get(name) !== undefined;
    if (!known) {
      if (!create) return undefined;
      this.meta.prepare('INSERT INTO databases VALUES (?, ?, ?, ?)').run(name, create.app, create.user, Date.now());
    }
    const dir = join(this.dir, 'databases');
    // The database's identity, beside its file (made with it; made now for one made before hubs proved site ids).
    const keyPath = join(dir, `${name}.key`);
    const identity = existsSync(keyPath) ? loadIdentity(keyPath) : await createIdentity(keyPath);
    if (this.closed) throw new HubStoreError('the hub store is closed');
    const db: SqliteHubDatabase = new SqliteHubDatabase(this.meta, dir, name, identity, {
      release: () => this.leases.release(name),
      closed: () => this.opened.get(name) === db && this.opened.delete(name),
    }, this.feedOptions);
    this.opened.set(name, db);
    return db;
  }

  async list(): Promise<DatabaseInfo[]> {
    const rows = this.meta.prepare('SELECT name, app, owner FROM databases ORDER BY name').all() as unknown as MetaRow[];
    const out: DatabaseInfo[] = [];
    for (const r of rows) {
      const open = this.opened.get(r.name);
      out.push(open ? await open.info() : { name: r.name, owner: { app: r.app, user: r.owner }, shares: sharesOf(this.meta, r.name), tables: this.tablesOf(r.name) });
    }
    return out;
  }

  async listFor(who: HubUser): Promise<DatabaseAccess[]> {
    const rows = this.meta
      .prepare('SELECT name, app, owner FROM databases WHERE app = ? AND (owner = ? OR name IN (SELECT db FROM shares WHERE user = ?)) ORDER BY name')
      .all(who.app, who.user, who.user) as unknown as MetaRow[];
    return rows.map((r) => ({ name: r.name, owner: { app: r.app, user: r.owner }, shares: sharesOf(this.meta, r.name) }));
  }

  /** A closed database's tables, read without opening its engine for good. */
  private tablesOf(name: string): TableInfo[] {
    const db = openDatabase(join(this.dir, 'databases', `${name}.db`));
    try {
      return Engine.open(db, { mergeOnly: true }).crrs(); // merge-only, as the database is kept
    } finally {
      db.close();
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const db of await this.leases.drain()) db.close();
    this.opened.clear();
    this.meta.close();
  }
}
