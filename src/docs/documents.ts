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
import { randomUUID } from 'node:crypto';
import type { ApplyOptions, ApplyResult, Engine, Change, SqlValue } from '../engine/index.ts';
import { toHex } from '../base/hex.ts';
import { unpackColumns, transaction } from '../engine/index.ts';
import { DocumentError, DocumentExistsError, DocumentNotFoundError, NothingToUndoError } from './errors.ts';
import { changeType, Events, type ChangeEvent, type ConflictEvent, type DocumentEvent, type EventFilter, type EventType, type Listener } from './events.ts';
import { ELEMENT_TOKEN } from './elements.ts';
import { ARRAY_MARKER, OBJECT_MARKER } from './fields.ts';
import { contentOf, documentOf, revisionOf, type Document } from './decode.ts';
import { changeId, counts, entriesAfter, lastRowid, lastUndoable, readHistory, recordEntry, type ChangeKind, type HistoryEntry } from './history.ts';
import { canonical, checkContent, clone, type Json, type JsonObject } from './json.ts';
import { applyMergePatch } from './merge-patch.ts';
import { applyPatch, diff } from './patch.ts';
import { parentPath } from './pointer.ts';
import { matches, type Where } from './query.ts';
import { ensureSchema, FIELDS_TABLE } from './schema.ts';
import { replay } from './replay.ts';
import { collectionNames, liveIds, loadDocument, writeContent } from './store.ts';
import { planUndo } from './undo.ts';

export type { Document } from './decode.ts';

export interface DocumentsOptions {
  /** Recorded as the author of local changes (e.g. a user name). */
  author?: string;
  /** Called with an error a listener threw (default: ignored). */
  onListenerError?: (err: unknown, event: DocumentEvent) => void;
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

  /** Opens documents on `engine`, creating the document tables (as CRRs) if they are missing. */
  constructor(engine: Engine, options: DocumentsOptions = {}) {
    this.engine = engine;
    this.author = options.author;
    this.events = new Events(options.onListenerError);
    ensureSchema(engine);
    this.site = toHex(engine.siteId);
    this.historyCursor = lastRowid(engine.db);
    this.conflictCursor = engine.conflicts({ limit: 1 })[0]?.id ?? 0;
  }

  /** Collections holding at least one document. */
  collections(): string[] {
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
    const stored = loadDocument(this.engine.db, collection, id);
    if (stored.deleted !== 0) return undefined;
    return documentOf(collection, id, stored, counts(this.engine.db, collection, id).version);
  }

  private at(collection: string, id: string, version: number): Document | undefined {
    if (!Number.isSafeInteger(version) || version < 1) throw new DocumentError(`version must be a positive integer, got ${version}`);
    const history = readHistory(this.engine.db, collection, id);
    if (version > history.length) return undefined;
    const content = replay(history, version);
    if (!content) return undefined;
    return { collection, id, version, revision: revisionOf(version, content), content };
  }

  /** The documents of a collection (in id order), optionally only those holding the values of `where`. */
  list(collection: string, options: { where?: Where } = {}): Document[] {
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
      checkContent(next);
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
    return readHistory(this.engine.db, collection, id);
  }

  /**
   * Reverts the last local change of a document not undone yet, as a new change (so the undo
   * syncs). Fields changed since that change (e.g. by a remote edit) are left alone and listed in
   * `skipped`. Throws {@link NothingToUndoError} if there is no such change.
   */
  undo(collection: string, id: string): UndoResult {
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

  /** Subscribes to events (see events.ts), optionally of one collection or document; returns the unsubscribe function. */
  on(types: EventType | EventType[] | '*', listener: Listener, filter: EventFilter = {}): () => void {
    return this.events.on(types, listener, filter);
  }

  /**
   * Reports what arrived since the last call (by a merge, or written by another process): an event
   * per new change and a `conflict` per field where a merge kept another replica's value over ours.
   * Call it after merging (ddcp's pull, a peer session…); {@link applyChanges} does. Returns the events.
   */
  refresh(): DocumentEvent[] {
    const events: DocumentEvent[] = [];
    for (const e of entriesAfter(this.engine.db, this.historyCursor)) {
      this.historyCursor = Math.max(this.historyCursor, e.rowid);
      if (this.own.size > 0 && this.own.delete(ownKey(e))) continue;
      events.push(this.changeEvent(e, false));
    }
    const conflicts = this.engine.conflicts({ table: FIELDS_TABLE, limit: 100_000 }).filter((c) => c.id > this.conflictCursor);
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
   * Merges changes from a peer into the engine (see `Engine.applyChanges`), then {@link refresh}es;
   * `sync` events mark its start and end (with counts).
   */
  applyChanges(changes: Iterable<Change>, options: ApplyOptions = {}): ApplyResult {
    const source = options.source === undefined ? {} : { source: options.source };
    this.emit([{ type: 'sync', phase: 'started', ...source }]);
    const result = this.engine.applyChanges(changes, options);
    this.refresh();
    this.emit([{ type: 'sync', phase: 'completed', ...source, received: result.received, applied: result.applied, conflicts: result.conflicts }]);
    return result;
  }

  private changeEvent(e: HistoryEntry, local: boolean): ChangeEvent {
    return { type: changeType(e.op), collection: e.collection, id: e.doc, patch: e.forward, change: e.id, local, site: e.site };
  }

  /**
   * One change in one transaction: `decide` sees the current content and says what to write (or
   * undefined: nothing). The history entry is written with it; events go out after the commit.
   */
  private change(
    collection: string,
    id: string,
    decide: (current: JsonObject | undefined) => { op: ChangeKind; next: JsonObject | undefined; undoes?: string } | undefined,
  ): { entry?: HistoryEntry; document?: Document } {
    checkName('collection', collection);
    checkName('id', id);
    const db = this.engine.db;
    const done = transaction(db, () => {
      const stored = loadDocument(db, collection, id);
      const current = contentOf(stored);
      const decision = decide(current);
      const { version, nextSeq } = counts(db, collection, id);
      const currentText = current === undefined ? undefined : canonical(current);
      const nextText = decision?.next === undefined ? undefined : canonical(decision.next);
      if (!decision || (nextText !== undefined && nextText === currentText)) return { current, text: currentText, version };
      const entry: HistoryEntry = {
        id: changeId(this.site, nextSeq),
        collection,
        doc: id,
        seq: nextSeq,
        at: Date.now(),
        site: this.site,
        op: decision.op,
        forward: diff(current, decision.next),
        reverse: diff(decision.next, current),
      };
      if (this.author !== undefined) entry.author = this.author;
      if (decision.undoes !== undefined) entry.undoes = decision.undoes;
      writeContent(db, collection, id, stored, current, decision.next);
      const rowid = recordEntry(db, entry);
      return { current: decision.next, text: nextText, version: version + 1, entry, rowid };
    });
    if (done.entry) {
      // Reported now; refresh() skips it (cheaply by the cursor when nothing else came in between).
      if (done.rowid === this.historyCursor + 1) this.historyCursor = done.rowid;
      else this.own.add(ownKey(done.entry));
      this.emit([this.changeEvent(done.entry, true)]);
    }
    const document: Document | undefined =
      done.current === undefined ? undefined : { collection, id, version: done.version, revision: revisionOf(done.version, done.current, done.text), content: done.current };
    return { ...(done.entry ? { entry: done.entry } : {}), ...(document ? { document } : {}) };
  }

  /** Delivers events now, or once the caller's own transaction (if any) has ended. */
  private emit(events: DocumentEvent[]): void {
    if (events.length === 0 || !this.events.listened) return;
    if (inTransaction(this.engine.db)) setTimeout(() => this.emit(events), 1);
    else this.events.deliver(events);
  }
}

/** A change's key in `own` (change ids are unique within a document). */
const ownKey = (e: HistoryEntry): string => `${e.collection}\0${e.doc}\0${e.id}`;

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

