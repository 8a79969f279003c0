/**
 * The hub's PostgreSQL store (`ddcp hub serve --database-url postgres://…`): every hosted database in
 * one schema (schema.ts), migrated at start. All state is in PostgreSQL, so several hub processes
 * can share it and any of them serves any client.
 *
 * Scale-out uses PostgreSQL's own LISTEN/NOTIFY: a merge sends `NOTIFY <channel>, '<database>'` in
 * its transaction, and every hub process LISTENs on the channel and wakes the followers of that
 * database. Chosen over NATS because it needs no second service to run and secure, and because the
 * notification is transactional — sent exactly when the commit happens, never for a rolled-back
 * merge, never before the change is readable — where a separate bus would be a second write that can
 * be lost or overtake the commit. Its limits (payloads under 8 KB, one queue per database server)
 * don't matter for a few bytes per merged push.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import postgres, { type Sql } from 'postgres';
import { SITE_ID_BYTES, type TableInfo } from '../../../engine/index.ts';
import { identityFromKeyFile, newKeyFile } from '../../../repo/identity.ts';
import { policyFromJson, type PeerPolicy } from '../../../sync/policy.ts';
import { checkDatabaseName, HubStoreError, type DatabaseAccess, type DatabaseInfo, type HubDatabase, type HubStore, type HubUser } from '../port.ts';
import { bytes } from './cells.ts';
import { Leases } from '../leases.ts';
import { infoOf, PgHubDatabase, type StoreContext } from './database.ts';
import { ScratchPredicates } from './predicates.ts';
import { MergeTurns } from './slots.ts';
import { checkSchemaName, migrate } from './schema.ts';

/** The schema the hub's tables live in unless told otherwise. */
export const DEFAULT_SCHEMA = 'ddcp_hub';

export interface PgHubStoreOptions {
  /** `postgres://user@host:port/database` (or an open postgres.js client, which the store then does not end). */
  url: string | Sql;
  /** The schema for the hub's tables (default {@link DEFAULT_SCHEMA}); hubs sharing storage use the same one. */
  schema?: string;
  /** Connections in the pool (default 10; one more is used to LISTEN). */
  max?: number;
  /**
   * The most complete pushes into one database merged in one transaction (default
   * {@link DEFAULT_MAX_GROUP}; 1 gives each its own): pushes arriving while a merge runs wait for it
   * and then go in together, each at its own version.
   */
  maxGroup?: number;
  /**
   * How long (ms) a hosted database nobody uses stays cached (its object, its fan-out's frames,
   * what this process heard of it) before it is dropped; default 5 s (storage/leases.ts).
   */
  idleCloseMs?: number;
  /** At most this many hosted databases cached at once, least recently released idle ones dropped first; default 1,000 (storage/leases.ts). */
  maxOpen?: number;
}

/**
 * Databases whose groups one merge transaction takes at most (those waiting for a merge slot when
 * one frees, or asking in the same turn of the event loop: see MergeTurns).
 */
const DATABASES_PER_TRANSACTION = 32;

/**
 * Merge transactions one hub process runs at once at most (fewer if the pool is small). Two: one
 * commits while the next sends its lock, loads and writes. More only queue at the commit: a merge
 * sends NOTIFY, and PostgreSQL lets one transaction that notified commit at a time, holding a
 * cluster-wide lock from before its commit record until its WAL flush is done (async.c,
 * PreCommit_Notify) — so concurrent merges' commits never share a flush, each waits for the
 * flushes of all ahead of it, and at ~1,000 changes/s over 100 databases (a transaction each) the
 * changes waited tens of ms in that queue. With two, what arrives meanwhile goes in the next
 * transaction together (up to DATABASES_PER_TRANSACTION databases): one flush for all of them.
 */
const MERGE_SLOTS = 2;

/** Pushes merged in one transaction at most, by default. */
export const DEFAULT_MAX_GROUP = 256;

export class PgHubStore implements HubStore {
  readonly schema: string;
  private readonly sql: Sql;
  private readonly ownsClient: boolean;
  private readonly channel: string;
  private readonly events = new EventEmitter();
  /** The databases open here, held by sessions and API calls, dropped once idle (storage/leases.ts). */
  private readonly leases: Leases<PgHubDatabase>;
  private readonly predicates = new ScratchPredicates();
  private unlisten: (() => Promise<void>) | undefined;
  /** Per database open here, the newest version heard of (merged here, or notified): its followers were told of it. */
  private readonly told = new Map<string, number>();
  /** Per database, the version a merge here is committing (see StoreContext.committing). */
  private readonly committing = new Map<string, number>();
  /** Databases a hub that sends no versions merged into (see notified). */
  private readonly unversioned = new Set<string>();
  private closed = false;

  private readonly maxGroup: number;
  private readonly mergeTurns: MergeTurns<PgHubDatabase>;

  private constructor(sql: Sql, owns: boolean, schema: string, maxGroup: number, poolSize: number, idleCloseMs: number | undefined, maxOpen: number | undefined) {
    this.maxGroup = maxGroup;
    this.leases = new Leases({ ...(idleCloseMs !== undefined && { idleMs: idleCloseMs }), ...(maxOpen !== undefined && { maxOpen }) });
    // Merges reserve at most all but two of the pool's connections (see slots.ts), and MERGE_SLOTS.
    this.mergeTurns = new MergeTurns(Math.min(MERGE_SLOTS, poolSize - 2), DATABASES_PER_TRANSACTION);
    this.sql = sql;
    this.ownsClient = owns;
    this.schema = schema;
    this.channel = `${schema}_changed`;
    this.events.setMaxListeners(0);
  }

  /** Connects, migrates the schema (idempotent) and starts listening for other processes' merges. */
  static async open(options: PgHubStoreOptions): Promise<PgHubStore> {
    const schema = options.schema ?? DEFAULT_SCHEMA;
    checkSchemaName(schema);
    const owns = typeof options.url === 'string';
    const sql = typeof options.url === 'string' ? postgres(options.url, { max: options.max ?? 10, onnotice: () => {} }) : options.url;
    const store = new PgHubStore(sql, owns, schema, Math.max(1, Math.floor(options.maxGroup ?? DEFAULT_MAX_GROUP)), owns ? (options.max ?? 10) : ((sql.options as { max?: number } | undefined)?.max ?? 10), options.idleCloseMs, options.maxOpen);
    try {
      await migrate(sql, schema);
      let first = true;
      const listened = (): void => {
        if (first) first = false;
        else store.relistened();
      };
      const listening = await sql.listen(store.channel, (payload) => store.notified(payload), listened);
      store.unlisten = () => listening.unlisten();
    } catch (cause) {
      if (owns) await sql.end({ timeout: 5 }).catch(() => {});
      throw new HubStoreError(`cannot open the hub's PostgreSQL storage (schema ${schema}): ${(cause as Error).message}`, { cause });
    }
    return store;
  }

  private context(): StoreContext {
    return {
      sql: this.sql,
      schema: this.schema,
      channel: this.channel,
      predicates: this.predicates,
      maxGroup: this.maxGroup,
      mergeTurns: this.mergeTurns,
      release: (name) => this.leases.release(name),
      closed: (name) => this.forget(name),
      changed: (name, signal) =>
        new Promise((resolve) => {
          if (signal.aborted || this.closed) return resolve();
          const done = (): void => {
            this.events.off(name, done);
            this.events.off('\u0000closed', done);
            signal.removeEventListener('abort', done);
            resolve();
          };
          this.events.on(name, done);
          this.events.on('\u0000closed', done);
          signal.addEventListener('abort', done);
        }),
      committing: (name, version) => void this.committing.set(name, version),
      settled: (name, version) => {
        this.committing.delete(name);
        if (version === undefined) this.events.emit(name);
        else this.tell(name, version);
      },
      following: (name) => this.events.listenerCount(name) > 0,
      heard: (name) => (this.unversioned.has(name) ? Infinity : (this.told.get(name) ?? -1)),
    };
  }

  /**
   * A notification: `<database> <version>` (a merge's commit; a bare name, from a hub before
   * versions were sent, always wakes, and ends the fan-out's handover for that database). One of a merge this process's followers were told of already
   * — most often this process's own, told at its commit — wakes nobody: they would read nothing new.
   */
  private notified(payload: string): void {
    const space = payload.indexOf(' ');
    if (space < 0) {
      // Of an unknown version: from now on the fan-out reads every change of it (heard: always newer).
      this.unversioned.add(payload);
      return void this.events.emit(payload);
    }
    const name = payload.slice(0, space);
    // Kept for databases open here (a fan-out's handover checks it, even while nobody waits).
    if (!this.leases.has(name)) return;
    const version = Number(payload.slice(space + 1));
    if (version <= (this.committing.get(name) ?? -1)) return; // told when its COMMIT is answered
    if (Number.isFinite(version)) this.tell(name, version);
    else this.events.emit(name);
  }

  /**
   * Listening again after the connection dropped (a network blip, a PostgreSQL restart): merges
   * other processes made meanwhile were never notified here, so every database with followers here
   * wakes them (they read what is new; a wake with nothing new reads nothing).
   */
  private relistened(): void {
    for (const name of this.events.eventNames()) if (typeof name === 'string' && name !== '\u0000closed') this.events.emit(name);
  }

  /** Wakes the followers of `name`, now at `version`, unless they were told of it (or a later one) already. */
  private tell(name: string, version: number): void {
    if (!(version > (this.told.get(name) ?? -1))) return;
    this.told.set(name, version);
    this.events.emit(name);
  }

  open(name: string, create?: HubUser): Promise<HubDatabase | undefined> {
    try {
      checkDatabaseName(name);
    } catch (err) {
      return Promise.reject(err);
    }
    if (this.closed) return Promise.reject(new HubStoreError('the hub store is closed'));
    // (a database that isn't there may be created later, by us or another hub: not remembered)
    const find = (): Promise<PgHubDatabase | undefined> => this.find(name, create);
    // Joined an open (without `create`) that found none: this one creates it.
    return this.leases.acquire(name, find).then((db) => (db || !create ? db : this.leases.acquire(name, find)));
  }

  /** Hosted databases open here now (held, or idle and not yet dropped). */
  get openDatabases(): number {
    return this.leases.size;
  }

  /** Opens past `maxOpen` because every cached database was in use (storage/leases.ts). */
  get opensOverCap(): number {
    return this.leases.opensOverCap;
  }

  /** A database dropped for being idle: what this process heard of it goes too (heard again from PostgreSQL). */
  private forget(name: string): void {
    this.told.delete(name);
    this.committing.delete(name);
  }

  private async find(name: string, create?: HubUser): Promise<PgHubDatabase | undefined> {
    const s = this.schema;
    const select = async (): Promise<{ id: string; site_id: Buffer } | undefined> =>
      (await this.sql.unsafe<{ id: string; site_id: Buffer }[]>(`SELECT id::text AS id, site_id FROM ${s}.databases WHERE name = $1`, [name]))[0];
    let row = await select();
    if (!row && create) {
      // Another hub may create it at the same moment: the first wins, both then open that one.
      await this.sql.unsafe(`INSERT INTO ${s}.databases (name, app, owner, site_id, identity) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO NOTHING`, [
        name,
        create.app,
        create.user,
        randomBytes(SITE_ID_BYTES),
        Buffer.from(newKeyFile()),
      ]);
      row = await select();
    }
    if (!row) return undefined;
    // The database's identity: made with it, or now for one made before hubs proved site ids. Every
    // hub process proves the same: the first to store a key wins, the others read that one.
    let [key] = await this.sql.unsafe<{ identity: Buffer | null }[]>(`SELECT identity FROM ${s}.databases WHERE id = $1`, [row.id]);
    if (!key?.identity) {
      await this.sql.unsafe(`UPDATE ${s}.databases SET identity = $2 WHERE id = $1 AND identity IS NULL`, [row.id, Buffer.from(newKeyFile())]);
      [key] = await this.sql.unsafe<{ identity: Buffer | null }[]>(`SELECT identity FROM ${s}.databases WHERE id = $1`, [row.id]);
    }
    if (!key?.identity) throw new HubStoreError(`hosted database ${name} is gone`);
    const identity = identityFromKeyFile(bytes(key.identity), `hosted database ${name}`);
    return new PgHubDatabase(this.context(), name, row.id, bytes(row.site_id), identity);
  }

  async list(): Promise<DatabaseInfo[]> {
    const s = this.schema;
    const rows = await this.sql.unsafe<{ id: string; name: string; app: string; owner: string; tables: TableInfo[] }[]>(`SELECT id::text AS id, name, app, owner, tables FROM ${s}.databases ORDER BY name`);
    const shares = await this.sql.unsafe<{ db: string; user: string; policy: unknown }[]>(`SELECT db::text AS db, "user", policy FROM ${s}.shares ORDER BY "user"`);
    return rows.map((r) => {
      const mine: Record<string, PeerPolicy> = {};
      for (const sh of shares) if (sh.db === r.id) mine[sh.user] = policyFromJson(sh.policy, `share of ${r.name} with ${sh.user}`);
      return infoOf(r, mine);
    });
  }

  async listFor(who: HubUser): Promise<DatabaseAccess[]> {
    const s = this.schema;
    const rows = await this.sql.unsafe<{ id: string; name: string; app: string; owner: string }[]>(
      `SELECT id::text AS id, name, app, owner FROM ${s}.databases d WHERE app = $1 AND (owner = $2 OR EXISTS (SELECT 1 FROM ${s}.shares sh WHERE sh.db = d.id AND sh."user" = $2)) ORDER BY name`,
      [who.app, who.user],
    );
    const shares = rows.length === 0 ? [] : await this.sql.unsafe<{ db: string; user: string; policy: unknown }[]>(`SELECT db::text AS db, "user", policy FROM ${s}.shares WHERE db = ANY($1::bigint[]) ORDER BY "user"`, [rows.map((r) => r.id) as never]);
    return rows.map((r) => {
      const mine: Record<string, PeerPolicy> = {};
      for (const sh of shares) if (sh.db === r.id) mine[sh.user] = policyFromJson(sh.policy, `share of ${r.name} with ${sh.user}`);
      return { name: r.name, owner: { app: r.app, user: r.owner }, shares: mine };
    });
  }

  /** Stops listening and closes the pool; every acknowledged merge was committed before its ack. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.events.emit('\u0000closed'); // followers end their waits
    await this.leases.drain();
    await this.unlisten?.().catch(() => {});
    if (this.ownsClient) await this.sql.end({ timeout: 5 });
    this.predicates.close();
  }
}
