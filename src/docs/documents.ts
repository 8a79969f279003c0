/**
 * JSON documents on the CRR engine: collections of JSON objects, changed by JSON Patch or JSON
 * Merge Patch, merged field by field, with a synced history, undo and events.
 *
 * @example
 * ```ts
 * const docs = new Documents(repo.engine);
 * const task = docs.create('tasks', { title: 'Write docs', status: 'open' });
 * docs.update('tasks', task.id, [{ op: 'replace', path: '/status', value: 'done' }]);
 * docs.on('updated', (e) => console.log(e.id, e.patch), { collection: 'tasks' });
 * repo.engine.applyChanges(changesFromAPeer); docs.refresh(); // events for what arrived
 * ```
 */
import { randomUUID } from '../base/portable.ts';
import type { ApplyOptions, ApplyResult, Engine, Change, SqlValue } from '../engine/index.ts';
import { toHex } from '../base/hex.ts';
import { unpackColumns, transaction } from '../engine/index.ts';
import { DocumentError, DocumentExistsError, DocumentNotFoundError, InvalidDocumentError, NothingToUndoError } from './errors.ts';
import { changeType, Events, type AnyEvent, type ChangeEvent, type ConflictEvent, type ConnectionEvent, type DocumentEvent, type EventFilter, type EventType, type Listener } from './events.ts';
import { ELEMENT_TOKEN } from './elements.ts';
import { ARRAY_MARKER, asRead, OBJECT_MARKER } from './fields.ts';
import { contentOf, documentOf, revisionOf, type Document } from './decode.ts';
import { changeId, ENTRY_COLUMNS, entriesAfter, entryRow, lastRowid, lastUndoable, readHistory, recordEntry, type ChangeKind, type HistoryEntry } from './history.ts';
import { checkContent, clone, isObject, type Json, type JsonObject } from './json.ts';
import { applyMergePatch } from './merge-patch.ts';
import { applyPatch, diff, inverse } from './patch.ts';
import { parentPath } from './pointer.ts';
import { matches, type Where } from './query.ts';
import { CHANGES_TABLE, DOCS_TABLE, ensureSchema, FIELDS_TABLE } from './schema.ts';
import { replay } from './replay.ts';
import { applyWrites, collectionNames, inStoredOrder, liveIds, loadDocument, planWrites, upsertMany, writeRows, type LoadedDocument, type RowWrites } from './store.ts';
import { DEFAULT_PAGE_CACHE_BYTES, tuneConnection } from './connection.ts';
import { DEFAULT_CACHE_SIZE, DocumentCache, type CachedDocument } from './cache.ts';
import { planUndo } from './undo.ts';

export type { Document } from './decode.ts';

/**
 * What reports remotes' connection states: a served repository (`Server` of `ddcp/peer`) or anything
 * with the same `connection` event (and, optionally, the states now).
 */
export interface ConnectionSource {
  on(event: 'connection', listener: (e: Omit<ConnectionEvent, 'type'>) => void): unknown;
  off(event: 'connection', listener: (e: Omit<ConnectionEvent, 'type'>) => void): unknown;
  connectionStates?(): Omit<ConnectionEvent, 'type'>[];
}

export interface DocumentsOptions {
  /** Recorded as the author of local changes (e.g. a user name). */
  author?: string;
  /** Called with an error a listener threw (default: ignored). */
  onListenerError?: (err: unknown, event: DocumentEvent | ConnectionEvent) => void;
  /**
   * How many documents' states to keep between changes (default 10,000; 0: none), so changing a
   * document changed (or read for a change) before needs no read. Anything written to the database
   * other than by this object's own changes — a merge, another connection, an app's SQL — drops
   * them all (see cache.ts).
   */
  cacheSize?: number;
  /**
   * SQLite page cache to give the engine's connection, in bytes (default 64 MiB, used only as pages
   * are read; never lowered); its WAL checkpoints less often and its temporary storage is kept in
   * memory too. 0: leave the connection as it is. See connection.ts.
   */
  pageCacheBytes?: number;
}

/** What `undo` did. */
export interface UndoResult {
  /** The change undone (undefined if nothing could be reverted). */
  undone: HistoryEntry;
  /** The new change that reverted it, or undefined if every field it touched changed since. */
  change?: HistoryEntry;
  /** Pointers of fields left alone because they changed after the undone change (`""`: the document). */
  skipped: string[];
  /** The document now (undefined: deleted). */
  document?: Document;
}

function checkName(what: string, value: unknown): asserts value is string {
  if (typeof value !== 'string' || value.length === 0) throw new DocumentError(`${what} must be a non-empty string`);
}

export class Documents {
  readonly engine: Engine;
  private readonly author: string | undefined;
  private readonly events: Events;
  private readonly site: string;
  /** History rows up to here have been reported by {@link refresh}. */
  private historyCursor: number;
  /** Conflicts up to this id have been reported. */
  private conflictCursor: number;
  /** Changes made through this object, already reported when made. */
  private readonly own = new Set<string>();
  /** The batch being run ({@link batch}), if any. */
  private pending: Batch | undefined;
  /** Documents' states between changes. */
  private readonly cache: DocumentCache;

  /** Opens documents on `engine`, creating the document tables (as CRRs) if they are missing. */
  constructor(engine: Engine, options: DocumentsOptions = {}) {
    this.engine = engine;
    this.author = options.author;
    this.events = new Events(options.onListenerError);
    this.cache = new DocumentCache(engine.db, options.cacheSize ?? DEFAULT_CACHE_SIZE);
    ensureSchema(engine);
    tuneConnection(engine.db, options.pageCacheBytes ?? DEFAULT_PAGE_CACHE_BYTES);
    this.site = toHex(engine.siteId);
    this.historyCursor = lastRowid(engine.db);
    this.conflictCursor = engine.conflicts({ limit: 1 })[0]?.id ?? 0;
  }

  /** Collections holding at least one document. */
  collections(): string[] {
    this.flush();
    return collectionNames(this.engine.db);
  }

  /** Creates a document (id: a random UUID unless given). Throws {@link DocumentExistsError} if the id is taken. */
  create(collection: string, content: unknown, options: { id?: string } = {}): Document {
    checkName('collection', collection);
    const id = options.id ?? randomUUID();
    checkName('id', id);
    checkContent(content);
    return this.change(collection, id, (current) => {
      if (current) throw new DocumentExistsError(collection, id);
      return { op: 'create', next: clone(content) };
    }).document!;
  }

  /** A document, or undefined if there is none (or it was deleted). With `version`, as it was after that change. */
  get(collection: string, id: string, options: { version?: number } = {}): Document | undefined {
    if (options.version !== undefined) return this.at(collection, id, options.version);
    this.flush();
    const { stored, version } = loadDocument(this.engine.db, collection, id);
    return documentOf(collection, id, stored, version);
  }

  private at(collection: string, id: string, version: number): Document | undefined {
    if (!Number.isSafeInteger(version) || version < 1) throw new DocumentError(`version must be a positive integer, got ${version}`);
    this.flush();
    const history = readHistory(this.engine.db, collection, id);
    if (version > history.length) return undefined;
    const content = replay(history, version);
    if (!content) return undefined;
    return { collection, id, version, revision: revisionOf(version, content), content };
  }

  /** The documents of a collection (in id order), optionally only those holding the values of `where`. */
  list(collection: string, options: { where?: Where } = {}): Document[] {
    this.flush();
    const out: Document[] = [];
    for (const id of liveIds(this.engine.db, collection)) {
      const d = this.get(collection, id);
      if (d && (!options.where || matches(d.content, options.where))) out.push(d);
    }
    return out;
  }

  /**
   * Applies a JSON Patch (RFC 6902, `test` included). Throws `PatchError` (invalid patch,
   * missing path, failed test), `InvalidDocumentError` (the result isn't an object) or
   * {@link DocumentNotFoundError}; then nothing changed. A patch that changes nothing records nothing.
   */
  update(collection: string, id: string, patch: unknown): Document {
    return this.change(collection, id, (current) => {
      if (!current) throw new DocumentNotFoundError(collection, id);
      const next = applyPatch(current, patch);
      // The patch's values were checked, and current is JSON: only the result's kind can be wrong.
      if (!isObject(next)) throw new InvalidDocumentError('a document must be a JSON object');
      return { op: 'update', next };
    }).document!;
  }

  /** Applies a JSON Merge Patch (RFC 7396); errors as {@link update}. */
  mergePatch(collection: string, id: string, patch: unknown): Document {
    return this.change(collection, id, (current) => {
      if (!current) throw new DocumentNotFoundError(collection, id);
      const next = applyMergePatch(current, patch);
      checkContent(next);
      return { op: 'update', next };
    }).document!;
  }

  /** Deletes a document. Throws {@link DocumentNotFoundError} if there is none. */
  delete(collection: string, id: string): void {
    this.change(collection, id, (current) => {
      if (!current) throw new DocumentNotFoundError(collection, id);
      return { op: 'delete', next: undefined };
    });
  }

  /** A document's changes, oldest first (local ones and those that arrived by sync; deleted documents too). */
  history(collection: string, id: string): HistoryEntry[] {
    this.flush();
    return readHistory(this.engine.db, collection, id);
  }

  /**
   * Reverts the last local change of a document not undone yet, as a new change (so the undo
   * syncs). Fields changed since that change (e.g. by a remote edit) are left alone and listed in
   * `skipped`. Throws {@link NothingToUndoError} if there is no such change.
   */
  undo(collection: string, id: string): UndoResult {
    this.flush();
    let undone: HistoryEntry | undefined;
    let skipped: string[] = [];
    const { entry, document } = this.change(collection, id, (current) => {
      const history = readHistory(this.engine.db, collection, id);
      undone = lastUndoable(history, this.site);
      if (!undone) throw new NothingToUndoError(collection, id);
      const plan = planUndo(history, history.indexOf(undone), current);
      skipped = plan.skipped;
      if (plan.target === 'unchanged') return undefined;
      const op: ChangeKind = plan.target === undefined ? 'delete' : current === undefined ? 'create' : 'update';
      return { op, next: plan.target, undoes: undone.id };
    });
    const result: UndoResult = { undone: undone!, skipped };
    if (entry) result.change = entry;
    if (document) result.document = document;
    return result;
  }

  /**
   * Subscribes to events (see events.ts), optionally of one collection or document; returns the
   * unsubscribe function. `'*'` is every document event; connection states (see
   * {@link watchConnections}) come to `'connection'` subscriptions, optionally of one `remote`.
   */
  on(types: 'connection', listener: Listener<ConnectionEvent>, filter?: Pick<EventFilter, 'remote'>): () => void;
  on(types: EventType | EventType[] | '*', listener: Listener, filter?: EventFilter): () => void;
  on(types: EventType | EventType[] | '*' | 'connection', listener: Listener<never>, filter: EventFilter = {}): () => void {
    return this.events.on(types, listener, filter);
  }

  /**
   * Delivers `source`'s connection states as `connection` events (first the state of each remote it
   * follows now, then every change) until the returned function is called. Subscribe with
   * `docs.on('connection', listener, { remote })` to hear of one remote only.
   */
  watchConnections(source: ConnectionSource): () => void {
    const listener = (e: Omit<ConnectionEvent, 'type'>): void => this.emit([{ ...e, type: 'connection' }]);
    source.on('connection', listener);
    this.emit((source.connectionStates?.() ?? []).map((e) => ({ ...e, type: 'connection' as const })));
    return () => void source.off('connection', listener);
  }

  /**
   * Reports what arrived since the last call (by a merge, or written by another process): an event
   * per new change and a `conflict` per field where a merge kept another replica's value over ours.
   * Call it after merging (ddcp's pull, a peer session…); {@link applyChanges} does. Returns the events.
   */
  refresh(): DocumentEvent[] {
    this.flush();
    const events: DocumentEvent[] = [];
    const { entries, last } = entriesAfter(this.engine.db, this.historyCursor);
    this.historyCursor = Math.max(this.historyCursor, last);
    for (const e of entries) {
      if (this.own.size > 0 && this.own.delete(ownKey(e))) continue;
      events.push(this.changeEvent(e, false));
    }
    const conflicts = this.conflictsAfter(this.conflictCursor);
    for (const c of conflicts.reverse()) {
      this.conflictCursor = Math.max(this.conflictCursor, c.id);
      if (c.winner !== 'incoming' || c.cid !== 'value') continue;
      const [collection, id, row] = unpackColumns(c.pk) as [string, string, string];
      // An array element's row is reported as its array's field.
      const path = ELEMENT_TOKEN.test(row.slice(row.lastIndexOf('/') + 1)) ? parentPath(row) : row;
      const ev: ConflictEvent = { type: 'conflict', collection, id, path, lost: parseField(c.local.value), kept: parseField(c.incoming.value), conflict: c.id };
      events.push(ev);
    }
    this.emit(events);
    return events;
  }

  /**
   * The fields' conflicts recorded after `cursor`, newest first (at most 100,000). Read in growing
   * pages, newest first, until one reaches the cursor: refreshing after a merge that recorded none
   * reads a handful of rows, not the last 100,000.
   */
  private conflictsAfter(cursor: number): ReturnType<Engine['conflicts']> {
    for (let limit = 64; ; limit = Math.min(limit * 8, 100_000)) {
      const page = this.engine.conflicts({ table: FIELDS_TABLE, limit });
      if (page.length < limit || page.at(-1)!.id <= cursor || limit === 100_000) return page.filter((c) => c.id > cursor);
    }
  }

  /** Moves the event cursors past everything stored (nobody listens: nothing to read or report). */
  private skipToNow(): void {
    this.historyCursor = lastRowid(this.engine.db);
    this.own.clear();
    this.conflictCursor = Math.max(this.conflictCursor, this.engine.conflicts({ limit: 1 })[0]?.id ?? 0);
  }

  /**
   * Merges changes from a peer into the engine (see `Engine.applyChanges`), then {@link refresh}es;
   * `sync` events mark its start and end (with counts). With no listener subscribed, the changes
   * that arrived are not read back for events (nobody would get them; refresh() won't return them).
   */
  applyChanges(changes: Iterable<Change>, options: ApplyOptions = {}): ApplyResult {
    const source = options.source === undefined ? {} : { source: options.source };
    this.emit([{ type: 'sync', phase: 'started', ...source }]);
    // Inside a batch: what it changed so far is written first, and its cached rows are read again after.
    this.flush();
    this.pending?.docs.clear();
    this.cache.clear();
    const result = this.engine.applyChanges(changes, options);
    if (this.events.listened) this.refresh();
    else this.skipToNow();
    this.emit([{ type: 'sync', phase: 'completed', ...source, received: result.received, applied: result.applied, conflicts: result.conflicts }]);
    return result;
  }

  private changeEvent(e: HistoryEntry, local: boolean): ChangeEvent {
    return { type: changeType(e.op), collection: e.collection, id: e.doc, patch: e.forward, change: e.id, local, site: e.site };
  }

  /**
   * Runs `fn` (which makes changes through this object) as one transaction, batching their work:
   * each document is read once, whatever the number of changes to it, and the rows all changes
   * write go out in a few multi-row statements at the end. Reads through this object inside `fn`
   * see every change made so far. Events go out after the commit. If `fn` throws, nothing of it
   * is kept. Nested calls join the outer batch.
   */
  batch<T>(fn: () => T): T {
    if (this.pending) return fn();
    // Only a batch that begins its own transaction knows its writes commit: only it uses the cache.
    const owned = this.cache.enabled && !inTransaction(this.engine.db);
    const pending: Batch = { docs: new Map(), fields: new Map(), docRows: new Map(), entries: [], events: [], owned };
    this.pending = pending;
    let result: T;
    let generation = 0;
    try {
      result = transaction(this.engine.db, () => {
        if (owned) {
          this.cache.check();
          generation = this.cache.generation;
        }
        const r = fn();
        this.flush();
        return r;
      });
    } catch (err) {
      if (owned) this.cache.clear(); // documents it changed in the cache were rolled back
      throw err;
    } finally {
      this.pending = undefined;
    }
    // Documents read before something else wrote (a merge in the batch…) may be stale: kept only if nothing did.
    if (owned && this.cache.generation === generation) for (const [key, doc] of pending.docs) settle(this.cache, key, doc);
    else if (owned) this.cache.clear();
    this.emit(pending.events);
    return result;
  }

  /** Writes what the current batch holds so far (reads inside a batch come after this). */
  private flush(): void {
    const p = this.pending;
    if (!p || (p.entries.length === 0 && p.fields.size === 0 && p.docRows.size === 0)) return;
    const db = this.engine.db;
    const write = (): void => {
      // Flat parameter lists, pushed value by value (no spread of a fresh array per row).
      const fields: SqlValue[] = [];
      for (const row of p.fields.values()) fields.push(row[0], row[1], row[2], row[3]);
      if (fields.length > 0) upsertMany(db, FIELDS_TABLE, ['collection', 'doc', 'path', 'value'], 3, fields);
      const docs: SqlValue[] = [];
      for (const row of p.docRows.values()) docs.push(row[0], row[1], row[2]);
      if (docs.length > 0) upsertMany(db, DOCS_TABLE, ['collection', 'id', 'deleted'], 2, docs);
      const entries: SqlValue[] = [];
      for (const e of p.entries) {
        const row = entryRow(e);
        entries.push(row[0], row[1], row[2], row[3], row[4]);
      }
      if (entries.length > 0) upsertMany(db, CHANGES_TABLE, [...ENTRY_COLUMNS], 4, entries);
    };
    if (p.owned) this.cache.wrote(write);
    else write();
    // Already reported (once committed): refresh() skips them, by the cursor if nothing else came in between.
    const last = lastRowid(db);
    if (last === this.historyCursor + p.entries.length) this.historyCursor = last;
    else for (const e of p.entries) this.own.add(ownKey(e));
    p.fields.clear();
    p.docRows.clear();
    p.entries = [];
  }

  /**
   * One change in one transaction (or in the current batch): `decide` sees the current content and
   * says what to write (or undefined: nothing). The history entry is written with it; events go
   * out after the commit.
   */
  private change(
    collection: string,
    id: string,
    decide: (current: JsonObject | undefined) => { op: ChangeKind; next: JsonObject | undefined; undoes?: string } | undefined,
  ): { entry?: HistoryEntry; document?: Document } {
    checkName('collection', collection);
    checkName('id', id);
    const db = this.engine.db;
    const batch = this.pending;
    // The cache serves a change in a transaction this object begins (see cache.ts), or in a batch that began its own.
    const cache = batch ? (batch.owned ? this.cache : undefined) : this.cache.enabled && !inTransaction(db) ? this.cache : undefined;
    const key = docKey(collection, id);
    let wrote = false;
    const run = (): { doc: CachedDocument; entry?: HistoryEntry; rowid?: number; writes?: RowWrites; next?: JsonObject | undefined } => {
      let doc = batch?.docs.get(key);
      if (!doc) {
        // In a batch (checked when it began) only writes made in it since, e.g. a merge, can have changed anything.
        cache?.check(batch !== undefined);
        doc = cache?.get(key) ?? cachedOf(loadDocument(db, collection, id));
        batch?.docs.set(key, doc);
      }
      const { stored, nextSeq, content: current } = doc;
      const decision = decide(current);
      if (!decision) return { doc };
      const forward = diff(current, decision.next);
      if (forward.length === 0) return { doc };
      const entry: HistoryEntry = {
        id: changeId(this.site, nextSeq),
        collection,
        doc: id,
        seq: nextSeq,
        at: Date.now(),
        site: this.site,
        op: decision.op,
        forward,
        reverse: inverse(forward, current, decision.next),
      };
      if (this.author !== undefined) entry.author = this.author;
      if (decision.undoes !== undefined) entry.undoes = decision.undoes;
      const writes = planWrites(stored, current, decision.next, doc.visible, forward);
      if (!batch) {
        wrote = true;
        writeRows(db, collection, id, writes);
        const rowid = recordEntry(db, entry);
        cache?.wroteSinceCheck();
        return { doc, entry, rowid, writes, next: decision.next };
      }
      // In a batch: the cached state takes the change, the writes wait for the flush.
      advance(doc, writes, decision.next);
      for (const [path, value] of writes.fields) batch.fields.set(`${key}${path}`, [collection, id, path, value]);
      if (writes.doc) batch.docRows.set(key, [collection, id, BigInt(writes.deleted)]); // INTEGER, not REAL (see entryRow)
      batch.entries.push(entry);
      return { doc, entry, next: decision.next };
    };
    let done: ReturnType<typeof run>;
    if (batch) done = run();
    else {
      try {
        done = transaction(db, run);
      } catch (err) {
        if (wrote) this.cache.clear();
        throw err;
      }
      if (done.writes) advance(done.doc, done.writes, done.next);
      if (cache) settle(cache, key, done.doc);
    }
    if (done.entry) {
      if (batch) batch.events.push(this.changeEvent(done.entry, true));
      else {
        // Reported now; refresh() skips it (cheaply by the cursor when nothing else came in between).
        if (done.rowid === this.historyCursor + 1) this.historyCursor = done.rowid;
        else this.own.add(ownKey(done.entry));
        this.emit([this.changeEvent(done.entry, true)]);
      }
    }
    // The change's result as decided (key order included), else the content as read; never the
    // cached copy itself (a caller may change what it gets).
    const { version } = done.doc;
    const content = done.entry ? done.next : done.doc.content && clone(done.doc.content);
    // The revision hashes the canonical text of the content as read back (the state's copy, after
    // advance() when it changed): the same text as the result's, cheaper to make — its objects were
    // just built, keys in order, where the patched result may hold a member moved last by a delete.
    const document: Document | undefined = content === undefined ? undefined : { collection, id, version, revision: revisionOf(version, done.doc.content), content };
    const result: { entry?: HistoryEntry; document?: Document } = {};
    if (done.entry) result.entry = done.entry;
    if (document) result.document = document;
    return result;
  }

  /** Delivers events now, or once the caller's own transaction (if any) has ended. */
  private emit(events: AnyEvent[]): void {
    if (events.length === 0 || !this.events.listened) return;
    if (inTransaction(this.engine.db)) setTimeout(() => this.emit(events), 1);
    else this.events.deliver(events);
  }
}

/** A document's state as loaded, as the cache keeps it. */
function cachedOf(loaded: LoadedDocument): CachedDocument {
  return { ...loaded, content: contentOf(loaded.stored), visible: undefined, added: false };
}

/** Applies a change's writes to a document's state (its rows, version, next seq, content as read back). */
function advance(doc: CachedDocument, writes: RowWrites, next: JsonObject | undefined): void {
  if (applyWrites(doc.stored, writes)) doc.added = true;
  doc.version++;
  doc.nextSeq++;
  doc.content = next === undefined ? undefined : asRead(next);
  doc.visible = next === undefined ? undefined : writes.visible;
}

/** Keeps a document's state in the cache once its transaction committed, its rows as a new read would give them. */
function settle(cache: DocumentCache, key: string, doc: CachedDocument): void {
  if (doc.added) {
    inStoredOrder(doc.stored);
    doc.added = false;
  }
  cache.set(key, doc);
}

/** What a batch holds until it is written: documents as changed so far, rows to write, events. */
interface Batch {
  docs: Map<string, CachedDocument>;
  /** Whether the batch began its transaction (and so uses, and fills, the cache). */
  owned: boolean;
  /** Field rows to write by document key and path (the last write of a row wins). */
  fields: Map<string, [string, string, string, string | null]>;
  /** Existence rows to write (collection, id, deleted) by document key. */
  docRows: Map<string, [string, string, bigint]>;
  entries: HistoryEntry[];
  events: DocumentEvent[];
}

/** A change's key in `own` (change ids are unique within a document). */
const ownKey = (e: HistoryEntry): string => docKey(e.collection, e.doc) + e.id;

/** A document's map key (length-prefixed: no collection and id give the key of another pair). */
const docKey = (collection: string, id: string): string => `${collection.length}:${collection}${id.length}:${id}`;

/** Whether a transaction is open; a connection closed since then has none (its events still go out). */
function inTransaction(db: Engine['db']): boolean {
  try {
    return db.isTransaction;
  } catch {
    return false;
  }
}

/** A stored field value as JSON (undefined: removed). */
function parseField(v: SqlValue): Json | undefined {
  if (typeof v !== 'string') return undefined;
  return v === OBJECT_MARKER ? {} : v === ARRAY_MARKER ? [] : (JSON.parse(v) as Json);
}

