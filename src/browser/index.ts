/**
 * `ddcp/browser`: a web page as a full ddcp replica — the same engine on SQLite's WebAssembly build,
 * persisted in the origin private file system, syncing live with a ddcp hub over WebSocket.
 *
 * {@link openReplica} starts a dedicated worker (`worker.js`, beside this file, with `sqlite3.wasm`).
 * All tabs of an origin share one replica per name: the workers elect a leader with a Web Lock; it
 * holds the database and the hub connection, the others forward to it and hear its changes live;
 * when the leader's tab closes the next tab takes over. Calls are asynchronous (they cross threads).
 *
 * @example
 * ```ts
 * import { openReplica } from 'ddcp/browser';
 * const replica = await openReplica({ name: 'tasks' });
 * await replica.exec('CREATE TABLE IF NOT EXISTS task (id TEXT PRIMARY KEY NOT NULL, title TEXT)');
 * await replica.asCrr('task');
 * replica.onChange(async () => render(await replica.query('SELECT * FROM task')));
 * await replica.connect({ url: 'wss://hub.example.com/tasks', token });
 * ```
 */
import type { ConnectionState } from '../repo/connection.ts';
import type { SqlValue } from '../engine/index.ts';
import type { Document, UndoResult } from '../docs/documents.ts';
import type { HistoryEntry } from '../docs/history.ts';
import { Events, type DocumentEvent, type EventFilter, type EventType, type Listener } from '../docs/events.ts';
import type { ErrorShape, Op, PageRequest, ReplicaInfo, WorkerMessage } from './protocol.ts';
import type { ExecResult } from './replica.ts';
import type { HubConnection } from './sync.ts';
import type { Storage } from './sqlite.ts';

export type { ConnectionState, DocumentEvent, EventFilter, ExecResult, HubConnection, ReplicaInfo, SqlValue, Storage };

export interface OpenReplicaOptions {
  /** The database's name: tabs opening the same name share it (1-100 of letters, digits, `_-.`). */
  name: string;
  /** `opfs` (persisted), `memory`, or `auto` (default: OPFS where the browser has it). */
  storage?: Storage | 'auto';
  /** Where the worker script is (default: `worker.js` beside this module). */
  workerUrl?: string | URL;
}

/** An error the replica reported (its original name and message). */
export class ReplicaError extends Error {
  constructor(shape: ErrorShape) {
    super(shape.message);
    this.name = shape.name;
  }
}

/** JSON documents (ddcp/docs) of a replica, asynchronously. */
export interface DocumentsApi {
  collections(): Promise<string[]>;
  create(collection: string, content: unknown, options?: { id?: string }): Promise<Document>;
  get(collection: string, id: string, options?: { version?: number }): Promise<Document | undefined>;
  list(collection: string, options?: { where?: Record<string, unknown> }): Promise<Document[]>;
  update(collection: string, id: string, patch: unknown): Promise<Document>;
  mergePatch(collection: string, id: string, patch: unknown): Promise<Document>;
  delete(collection: string, id: string): Promise<void>;
  history(collection: string, id: string): Promise<HistoryEntry[]>;
  undo(collection: string, id: string): Promise<UndoResult>;
  /**
   * Hears document events (`created`, `updated`, `deleted` with the patch, `conflict`; `'*'` for all),
   * optionally of one collection or document: changes made in any tab and those merged from the hub.
   * Listeners run in this page, never inside a transaction; one that throws doesn't stop the others.
   * Returns the unsubscribe function.
   */
  on(types: Exclude<EventType, 'sync'> | Exclude<EventType, 'sync'>[] | '*', listener: Listener, filter?: Omit<EventFilter, 'remote'>): () => void;
}

interface WorkerLike {
  postMessage(m: PageRequest): void;
  onmessage: ((ev: { data: WorkerMessage }) => void) | null;
  onerror: ((ev: { message?: string }) => void) | null;
  terminate(): void;
}

/** A replica as a page sees it (see the module's comment). */
export class Replica {
  readonly name: string;
  readonly #worker: WorkerLike;
  readonly #calls = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  readonly #changeListeners = new Set<(c: { version: number; origin: 'local' | 'hub' }) => void>();
  readonly #stateListeners = new Set<(s: ConnectionState, error?: string) => void>();
  readonly #roleListeners = new Set<(role: 'leader' | 'follower') => void>();
  /** This page's document-event listeners (the replica reports events once one subscribed). */
  readonly #docEvents = new Events();
  #watchingDocs: Promise<unknown> | undefined;
  #next = 0;
  #state: ConnectionState = 'offline';
  #role: 'leader' | 'follower' = 'follower';
  #closed = false;
  /** JSON documents on this replica. */
  readonly docs: DocumentsApi;

  /** @internal use {@link openReplica} */
  constructor(name: string, worker: WorkerLike) {
    this.name = name;
    this.#worker = worker;
    worker.onmessage = (ev) => this.#receive(ev.data);
    worker.onerror = (ev) => {
      const err = new Error(`the replica's worker failed: ${ev.message ?? 'unknown error'}`);
      for (const c of this.#calls.values()) c.reject(err);
      this.#calls.clear();
    };
    const call = (method: string) => (...args: unknown[]) => this.#call({ op: 'docs', method, args });
    const methods = Object.fromEntries(['collections', 'create', 'get', 'list', 'update', 'mergePatch', 'delete', 'history', 'undo'].map((m) => [m, call(m)]));
    const on = (types: EventType | EventType[] | '*', listener: Listener, filter: EventFilter = {}): (() => void) => {
      const off = this.#docEvents.on(types, listener as Listener<never>, filter);
      // Failing (a closed replica) leaves the subscription quiet: nothing to report.
      this.#watchingDocs ??= this.#call({ op: 'watchDocs' }).catch(() => undefined);
      return off;
    };
    this.docs = { ...methods, on } as unknown as DocumentsApi;
  }

  /** Runs SQL that writes: one statement with `params`, or several without. */
  exec(sql: string, params?: SqlValue[]): Promise<ExecResult> {
    return this.#call({ op: 'exec', sql, ...(params ? { params } : {}) }) as Promise<ExecResult>;
  }

  /** Runs a query; rows as objects. */
  query<Row = Record<string, SqlValue>>(sql: string, params?: SqlValue[]): Promise<Row[]> {
    return this.#call({ op: 'query', sql, ...(params ? { params } : {}) }) as Promise<Row[]>;
  }

  /** Makes `table` a CRR (its rows sync). Idempotent. */
  asCrr(table: string): Promise<void> {
    return this.#call({ op: 'asCrr', table }) as Promise<void>;
  }

  /** Follows a hub database live both ways (`ws[s]://host:port/<db>`, with a user token); every tab's replica shares it. */
  connect(hub: HubConnection): Promise<void> {
    return this.#call({ op: 'connect', hub }) as Promise<void>;
  }

  /** Gives the hub connection a fresh token (the open session and later reconnects use it). */
  setToken(token: string): Promise<void> {
    return this.#call({ op: 'setToken', token }) as Promise<void>;
  }

  /** Stops syncing with the hub. */
  disconnect(): Promise<void> {
    return this.#call({ op: 'disconnect' }) as Promise<void>;
  }

  /** Name, storage, site id, address, db_version and connection state. */
  info(): Promise<ReplicaInfo> {
    return this.#call({ op: 'info' }) as Promise<ReplicaInfo>;
  }

  /** The hub connection's state as last reported. */
  get state(): ConnectionState {
    return this.#state;
  }

  /** Whether this tab holds the database (`leader`) or forwards to the tab that does. */
  get role(): 'leader' | 'follower' {
    return this.#role;
  }

  /** Hears every committed change, from this tab, another tab or the hub. Returns the unsubscribe function. */
  onChange(listener: (change: { version: number; origin: 'local' | 'hub' }) => void): () => void {
    this.#changeListeners.add(listener);
    return () => this.#changeListeners.delete(listener);
  }

  /** Hears the hub connection's state (`online`, `reconnecting`, `offline`). */
  onState(listener: (state: ConnectionState, error?: string) => void): () => void {
    this.#stateListeners.add(listener);
    return () => this.#stateListeners.delete(listener);
  }

  /** Hears this tab becoming the leader. */
  onRole(listener: (role: 'leader' | 'follower') => void): () => void {
    this.#roleListeners.add(listener);
    return () => this.#roleListeners.delete(listener);
  }

  /** Closes this tab's share (its worker ends; if it led, another tab takes over). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#worker.terminate();
    const err = new Error('the replica is closed');
    for (const c of this.#calls.values()) c.reject(err);
    this.#calls.clear();
  }

  /** @internal the state as the replica reported it when this tab joined */
  noteState(state: ConnectionState): void {
    if (state === this.#state) return;
    this.#state = state;
    for (const l of this.#stateListeners) l(state);
  }

  /** @internal */
  call(request: Op | { op: 'open'; name: string; storage: Storage | 'auto' }): Promise<unknown> {
    return this.#call(request);
  }

  #call(request: Op | { op: 'open'; name: string; storage: Storage | 'auto' }): Promise<unknown> {
    if (this.#closed) return Promise.reject(new Error('the replica is closed'));
    const id = ++this.#next;
    return new Promise((resolve, reject) => {
      this.#calls.set(id, { resolve, reject });
      this.#worker.postMessage({ id, ...request } as PageRequest);
    });
  }

  #receive(m: WorkerMessage): void {
    if ('event' in m) {
      if (m.event === 'change') for (const l of this.#changeListeners) l({ version: m.version, origin: m.origin });
      else if (m.event === 'state') {
        this.#state = m.state;
        for (const l of this.#stateListeners) l(m.state, m.error);
      } else if (m.event === 'doc') {
        this.#docEvents.deliver([m.doc]);
      } else {
        this.#role = m.role;
        for (const l of this.#roleListeners) l(m.role);
      }
      return;
    }
    const c = this.#calls.get(m.id);
    if (!c) return;
    this.#calls.delete(m.id);
    if (m.ok) c.resolve(m.value);
    else c.reject(new ReplicaError(m.error));
  }
}

/** Opens (or joins, from another tab) the replica `name`. */
export async function openReplica(options: OpenReplicaOptions): Promise<Replica> {
  const Ctor = (globalThis as unknown as { Worker?: new (url: string | URL, o: { type: 'module'; name?: string }) => WorkerLike }).Worker;
  if (!Ctor) throw new Error('ddcp/browser needs Web Workers');
  const url = options.workerUrl ?? new URL('./worker.js', import.meta.url);
  const replica = new Replica(options.name, new Ctor(url, { type: 'module', name: `ddcp:${options.name}` }));
  try {
    await replica.call({ op: 'open', name: options.name, storage: options.storage ?? 'auto' });
    // A tab joining a replica that is already online hears no state change: ask for the state now.
    replica.noteState(((await replica.call({ op: 'info' })) as ReplicaInfo).state);
  } catch (err) {
    replica.close();
    throw err;
  }
  return replica;
}
