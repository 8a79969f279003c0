/**
 * The history of documents: one insert-only CRR row per change (so every replica ends up with the
 * union, and changes that arrive by sync are in the local history too). Each entry has the forward
 * and reverse JSON Patch and the document's state right after the change as its author saw it.
 *
 * Order: by `seq` (one more than the greatest seq its author had seen for the document, so a
 * change always sorts after those it saw), ties between concurrent changes broken by site then id —
 * the same order on every replica.
 */
import type { SqliteConnection } from '../engine/index.ts';
import type { JsonObject } from './json.ts';
import type { Operation } from './patch.ts';
import { HISTORY_TABLE } from './schema.ts';

export type ChangeKind = 'create' | 'update' | 'delete';

/** One recorded change of a document. */
export interface HistoryEntry {
  /** Unique id of the change. */
  id: string;
  collection: string;
  doc: string;
  /** Its sequence number for the document (see the module comment). */
  seq: number;
  /** When it was made (ms since the epoch, the author's clock). */
  at: number;
  /** The author's site id (hex). */
  site: string;
  /** Who made it, if known (a user name; absent for changes without one). */
  author?: string;
  op: ChangeKind;
  /** The patch the change applied (`remove ""` deletes the document, `add ""` creates it). */
  forward: Operation[];
  /** The patch that reverses it. */
  reverse: Operation[];
  /** The document right after the change, as its author saw it (undefined: deleted). */
  state?: JsonObject;
  /** The id of the change this one undid, if it is an undo. */
  undoes?: string;
}

interface Row {
  rowid: number | bigint;
  id: string;
  collection: string;
  doc: string;
  seq: number | bigint;
  at: number | bigint;
  site: string;
  author: string | null;
  op: string;
  forward: string;
  reverse: string;
  state: string | null;
  undoes: string | null;
}

const COLUMNS = 'rowid, id, collection, doc, seq, at, site, author, op, forward, reverse, state, undoes';

function fromRow(r: Row): HistoryEntry & { rowid: number } {
  const e: HistoryEntry & { rowid: number } = {
    rowid: Number(r.rowid),
    id: r.id,
    collection: r.collection,
    doc: r.doc,
    seq: Number(r.seq),
    at: Number(r.at),
    site: r.site,
    op: r.op as ChangeKind,
    forward: JSON.parse(r.forward) as Operation[],
    reverse: JSON.parse(r.reverse) as Operation[],
  };
  if (r.author !== null) e.author = r.author;
  if (r.state !== null) e.state = JSON.parse(r.state) as JsonObject;
  if (r.undoes !== null) e.undoes = r.undoes;
  return e;
}

/** Records a change (in the caller's transaction); returns its rowid here. */
export function recordEntry(db: SqliteConnection, e: HistoryEntry): number {
  const r = db.prepare(`INSERT INTO ${HISTORY_TABLE} (id, collection, doc, seq, at, site, author, op, forward, reverse, state, undoes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(
    e.id,
    e.collection,
    e.doc,
    e.seq,
    e.at,
    e.site,
    e.author ?? null,
    e.op,
    JSON.stringify(e.forward),
    JSON.stringify(e.reverse),
    e.state === undefined ? null : JSON.stringify(e.state),
    e.undoes ?? null,
  );
  return Number(r.lastInsertRowid);
}

/** The seq the next change of a document gets here. */
export function nextSeq(db: SqliteConnection, collection: string, doc: string): number {
  const r = db.prepare(`SELECT max(seq) AS s FROM ${HISTORY_TABLE} WHERE collection = ? AND doc = ?`).get(collection, doc) as { s: unknown };
  return Number(r.s ?? 0) + 1;
}

/** A document's history, oldest first, in the order every replica agrees on. */
export function readHistory(db: SqliteConnection, collection: string, doc: string): HistoryEntry[] {
  const rows = db.prepare(`SELECT ${COLUMNS} FROM ${HISTORY_TABLE} WHERE collection = ? AND doc = ? ORDER BY seq, site, id`).all(collection, doc) as unknown as Row[];
  return rows.map(fromRow).map(({ rowid: _, ...e }) => e);
}

/** How many changes a document has had (its version). */
export function countEntries(db: SqliteConnection, collection: string, doc: string): number {
  const r = db.prepare(`SELECT count(*) AS n FROM ${HISTORY_TABLE} WHERE collection = ? AND doc = ?`).get(collection, doc) as { n: unknown };
  return Number(r.n);
}

/** Entries stored after `rowid` here (by this process, another one, or a merge), in storage order. */
export function entriesAfter(db: SqliteConnection, rowid: number): (HistoryEntry & { rowid: number })[] {
  return (db.prepare(`SELECT ${COLUMNS} FROM ${HISTORY_TABLE} WHERE rowid > ? ORDER BY rowid`).all(rowid) as unknown as Row[]).map(fromRow);
}

/** The greatest rowid of the history table (0 when empty). */
export function lastRowid(db: SqliteConnection): number {
  const r = db.prepare(`SELECT max(rowid) AS r FROM ${HISTORY_TABLE}`).get() as { r: unknown };
  return Number(r.r ?? 0);
}

/**
 * The newest change of a document made at `site` that is not an undo and not undone yet (what
 * `undo` reverts), or undefined.
 */
export function lastUndoable(db: SqliteConnection, collection: string, doc: string, site: string): HistoryEntry | undefined {
  const r = db
    .prepare(
      `SELECT ${COLUMNS} FROM ${HISTORY_TABLE} h WHERE collection = ? AND doc = ? AND site = ? AND undoes IS NULL
       AND NOT EXISTS (SELECT 1 FROM ${HISTORY_TABLE} u WHERE u.undoes = h.id) ORDER BY seq DESC, rowid DESC LIMIT 1`,
    )
    .get(collection, doc, site) as Row | undefined;
  if (!r) return undefined;
  const { rowid: _, ...e } = fromRow(r);
  return e;
}
