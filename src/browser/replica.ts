/**
 * A replica in this thread: the engine on sqlite-wasm, SQL to read and write it, change
 * notifications, JSON documents, and live sync with a hub. The worker (worker.ts) runs one of these
 * for every tab of an origin; a page can also use one directly (in memory, one tab) — tests and the
 * benchmark do.
 */
// SHA-256 and Ed25519 for the engine and sync here, where node:crypto is missing (base/portable.ts).
import '../base/portable-web.ts';
import { Documents } from '../docs/documents.ts';
import type { DocumentEvent } from '../docs/events.ts';
import { Engine, transaction, type SqlValue } from '../engine/index.ts';
import type { ConnectionState } from '../repo/connection.ts';
import { loadIdentity, type BrowserIdentity } from './identity.ts';
import { openBrowserDatabase, type Storage } from './sqlite.ts';
import { EngineFeed, HubSync, type HubConnection } from './sync.ts';
import type { WasmConnection } from './wasm-connection.ts';

export interface ReplicaOptions {
  /** The database's name (its file in OPFS). */
  name: string;
  /** `opfs` (persisted; a dedicated worker only) or `memory` (default). */
  storage?: Storage;
}

/** What a write did. */
export interface ExecResult {
  changes: number;
  lastInsertRowid: number;
  /** The replica's db_version after it (sealed). */
  version: number;
}

export type ChangeListener = (change: { version: number; origin: 'local' | 'hub' }) => void;
export type StateListener = (state: ConnectionState, error?: string) => void;

export class LocalReplica {
  readonly name: string;
  readonly storage: Storage;
  readonly engine: Engine;
  readonly db: WasmConnection;
  readonly identity: BrowserIdentity;
  readonly #feed: EngineFeed;
  #docs: Documents | undefined;
  #sync: HubSync | undefined;
  #version: number;
  readonly #changeListeners = new Set<ChangeListener>();
  readonly #stateListeners = new Set<StateListener>();
  /** Whether document events are listened to ({@link onDocs}): merges from the hub are then read back for them. */
  #docsWatched = 0;

  private constructor(name: string, storage: Storage, db: WasmConnection) {
    this.name = name;
    this.storage = storage;
    this.db = db;
    this.engine = Engine.open(db);
    this.identity = loadIdentity(db);
    this.#feed = new EngineFeed(this.engine);
    this.#version = this.engine.dbVersion();
  }

  /** Opens (or creates) a replica. */
  static async open(options: ReplicaOptions): Promise<LocalReplica> {
    const storage = options.storage ?? 'memory';
    return new LocalReplica(options.name, storage, await openBrowserDatabase(options.name, { storage }));
  }

  /** The replica's 16-byte site id, as hex. */
  get siteId(): string {
    return [...this.engine.siteId].map((b) => b.toString(16).padStart(2, '0')).join('');
  }

  /** The replica's address (its identity in sessions). */
  get address(): string {
    return this.identity.address;
  }

  /** The current db_version. */
  get version(): number {
    return this.#version;
  }

  /**
   * Runs SQL that writes: one statement with `params`, or any number of statements without — those
   * in one transaction, all or nothing (so they must not begin or commit one themselves). Tracked
   * tables' writes are sealed into a new db_version at once, and listeners and the hub hear of it.
   */
  exec(sql: string, params?: SqlValue[]): ExecResult {
    let changes = 0;
    let lastInsertRowid = 0;
    if (params === undefined) transaction(this.db, () => this.db.exec(sql));
    else {
      const r = this.db.prepare(sql).run(...params);
      changes = Number(r.changes);
      lastInsertRowid = Number(r.lastInsertRowid);
    }
    this.committed('local');
    return { changes, lastInsertRowid, version: this.#version };
  }

  /** Runs a query; rows as objects (INTEGER as number; BigInt past 2^53 throws: cast it in SQL). */
  query(sql: string, params: SqlValue[] = []): Record<string, SqlValue>[] {
    return this.db.prepare(sql).all(...params) as Record<string, SqlValue>[];
  }

  /** Makes `table` a CRR: its rows sync (cr-sqlite's `crsql_as_crr`). Idempotent. */
  asCrr(table: string): void {
    this.engine.asCrr(table);
    this.committed('local');
  }

  /** JSON documents (ddcp/docs) on this replica, made on first use. */
  get docs(): Documents {
    return (this.#docs ??= new Documents(this.engine));
  }

  /** Calls a {@link Documents} method by name (what a forwarding tab asks for), noting its writes. */
  callDocs(method: string, args: unknown[]): unknown {
    const docs = this.docs as unknown as Record<string, unknown>;
    if (!DOC_METHODS.has(method) || typeof docs[method] !== 'function') throw new TypeError(`documents have no method ${method}`);
    const out = (docs[method] as (...a: unknown[]) => unknown).apply(this.docs, args);
    this.committed('local');
    return out;
  }

  /** Hears every committed change (local or from the hub). Returns the unsubscribe function. */
  onChange(listener: ChangeListener): () => void {
    this.#changeListeners.add(listener);
    return () => this.#changeListeners.delete(listener);
  }

  /**
   * Hears every document event of this replica: changes made here (by any tab) as they commit, and
   * those merged from the hub (read back after each merge, with `conflict` events for fields where
   * the hub's value won). Returns the unsubscribe function.
   */
  onDocs(listener: (event: DocumentEvent) => void): () => void {
    // Move the documents' event cursor past what is already stored: only what comes next is news.
    if (this.#docsWatched === 0) this.docs.refresh();
    this.#docsWatched++;
    const off = this.docs.on('*', listener);
    let on = true;
    return () => {
      if (!on) return;
      on = false;
      this.#docsWatched--;
      off();
    };
  }

  /** Hears the hub connection's state. Returns the unsubscribe function. */
  onState(listener: StateListener): () => void {
    this.#stateListeners.add(listener);
    return () => this.#stateListeners.delete(listener);
  }

  /** The hub connection's state. */
  get state(): ConnectionState {
    return this.#sync?.state ?? 'offline';
  }

  /** Follows a hub database live both ways (replacing any earlier connection). */
  async connect(hub: HubConnection): Promise<void> {
    await this.disconnect();
    this.#sync = new HubSync(this.engine, this.#feed, this.identity, hub, {
      onState: (state, error) => {
        for (const l of this.#stateListeners) l(state, error);
      },
      onMerged: () => this.committed('hub'),
    });
  }

  /** A fresh token for the hub connection. */
  setToken(token: string): void {
    this.#sync?.setToken(token);
  }

  /** Stops syncing (local reads and writes go on). */
  async disconnect(): Promise<void> {
    const sync = this.#sync;
    this.#sync = undefined;
    await sync?.stop();
  }

  /** Stops syncing and closes the database. */
  async close(): Promise<void> {
    await this.disconnect();
    this.db.close();
  }

  /** Seals what was written and tells whoever listens, if the version moved. */
  private committed(origin: 'local' | 'hub'): void {
    const v = origin === 'hub' ? this.engine.currentDbVersion() : this.engine.dbVersion();
    if (v === this.#version) return;
    this.#version = v;
    if (origin === 'local') this.#feed.notify();
    // A merge wrote documents behind the Documents object's back: it reports them (local writes it made itself).
    else if (this.#docsWatched > 0) this.docs.refresh();
    for (const l of this.#changeListeners) l({ version: v, origin });
  }
}

/** The {@link Documents} methods another tab may call (reads and writes; no listeners or internals). */
export const DOC_METHODS = new Set(['collections', 'create', 'get', 'list', 'update', 'mergePatch', 'delete', 'history', 'undo']);
