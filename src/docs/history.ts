/**
 * The history of documents: one insert-only CRR row per change in the changes table (so every
 * replica ends up with the union, and changes that arrive by sync are in the local history too),
 * keyed by (collection, document, author site, seq), its body one compact value (entry.ts): time,
 * author, kind, forward and reverse JSON Patch, and the undone change's seq for an undo.
 *
 * Order: by `seq` (one more than the greatest seq its author had seen for the document, so a
 * change always sorts after those it saw), ties between concurrent changes broken by site — the
 * same order on every replica. A site never gives two changes of one document the same seq.
 */
import type { SqliteConnection } from '../engine/index.ts';
import { fromHex, toHex } from '../base/hex.ts';
import { decodeEntry, encodeEntry, EntryFormatError, type ChangeKind, type EntryBody } from './entry.ts';
import type { Operation } from './patch.ts';
import { CHANGES_TABLE } from './schema.ts';
import { statement } from './statements.ts';

export type { ChangeKind } from './entry.ts';

/** One recorded change of a document. */
export interface HistoryEntry {
  /** The change's id, `<site>.<seq>`: unique within its document. */
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
  /** The id of the change this one undid, if it is an undo. */
  undoes?: string;
}

interface Row {
  rowid: number | bigint;
  collection: string;
  doc: string;
  site: Uint8Array;
  seq: number | bigint;
  entry: Uint8Array;
}

const COLUMNS = 'rowid, collection, doc, site, seq, entry';

/** A change's id from its site (hex) and seq. */
export const changeId = (site: string, seq: number): string => `${site}.${seq}`;

function fromRow(r: Row): HistoryEntry & { rowid: number } {
  const site = toHex(r.site);
  const seq = Number(r.seq);
  const b = decodeEntry(r.entry);
  const e: HistoryEntry & { rowid: number } = { rowid: Number(r.rowid), id: changeId(site, seq), collection: r.collection, doc: r.doc, seq, at: b.at, site, op: b.op, forward: b.forward, reverse: b.reverse };
  if (b.author !== undefined) e.author = b.author;
  if (b.undoes !== undefined) e.undoes = changeId(site, b.undoes);
  return e;
}

const withoutRowid = ({ rowid: _, ...e }: HistoryEntry & { rowid: number }): HistoryEntry => e;

/** The changes table's columns, in the order of {@link entryRow}. */
export const ENTRY_COLUMNS = ['collection', 'doc', 'site', 'seq', 'entry'] as const;

/**
 * An entry as a row of the changes table ({@link ENTRY_COLUMNS}). The seq is bound as an INTEGER
 * (a bigint): a JavaScript number binds as REAL, which a table without the declared types (one made
 * from a synced schema) would keep — and a REAL key is refused by every other replica.
 */
export function entryRow(e: HistoryEntry): [string, string, Uint8Array, bigint, Uint8Array] {
  const body: EntryBody = { at: e.at, op: e.op, forward: e.forward, reverse: e.reverse };
  if (e.author !== undefined) body.author = e.author;
  if (e.undoes !== undefined) body.undoes = Number(e.undoes.slice(e.undoes.lastIndexOf('.') + 1));
  return [e.collection, e.doc, siteBytes(e.site), BigInt(e.seq), encodeEntry(body)];
}

let lastSite: [string, Uint8Array] | undefined;
/** A site id's bytes (entries come from one site in runs: the last one is kept). */
function siteBytes(hex: string): Uint8Array {
  if (lastSite?.[0] !== hex) lastSite = [hex, fromHex(hex, 'site id')];
  return lastSite[1];
}

/** Records a change (in the caller's transaction); returns its rowid here. */
export function recordEntry(db: SqliteConnection, e: HistoryEntry): number {
  const r = statement(db, `INSERT INTO ${CHANGES_TABLE} (${ENTRY_COLUMNS.join(', ')}) VALUES (?, ?, ?, ?, ?)`).run(...entryRow(e));
  return Number(r.lastInsertRowid);
}

/** A document's version (how many changes it has had) and the seq its next change here gets. */
export function counts(db: SqliteConnection, collection: string, doc: string): { version: number; nextSeq: number } {
  const r = statement(db, `SELECT count(*) AS n, max(seq) AS s FROM ${CHANGES_TABLE} WHERE collection = ? AND doc = ?`).get(collection, doc) as { n: unknown; s: unknown };
  return { version: Number(r.n), nextSeq: Number(r.s ?? 0) + 1 };
}

/** A document's history, oldest first, in the order every replica agrees on. */
export function readHistory(db: SqliteConnection, collection: string, doc: string): HistoryEntry[] {
  const rows = statement(db, `SELECT ${COLUMNS} FROM ${CHANGES_TABLE} WHERE collection = ? AND doc = ? ORDER BY seq, site`).all(collection, doc) as unknown as Row[];
  return rows.map((r) => withoutRowid(fromRow(r)));
}

/** How many changes a document has had (its version). */
export function countEntries(db: SqliteConnection, collection: string, doc: string): number {
  return counts(db, collection, doc).version;
}

/**
 * Entries stored after `rowid` here (by this process, another one, or a merge), in storage order,
 * and the greatest rowid read. An entry whose value can't be read (a damaged one from a peer) is
 * passed over here, so it can't stop the events of every other change; reading its document's
 * history throws {@link EntryFormatError}.
 */
export function entriesAfter(db: SqliteConnection, rowid: number): { entries: (HistoryEntry & { rowid: number })[]; last: number } {
  const rows = statement(db, `SELECT ${COLUMNS} FROM ${CHANGES_TABLE} WHERE rowid > ? ORDER BY rowid`).all(rowid) as unknown as Row[];
  const entries: (HistoryEntry & { rowid: number })[] = [];
  for (const r of rows) {
    try {
      entries.push(fromRow(r));
    } catch (err) {
      if (!(err instanceof EntryFormatError)) throw err;
    }
  }
  return { entries, last: rows.length > 0 ? Number(rows.at(-1)!.rowid) : rowid };
}

/** The greatest rowid of the changes table (0 when empty). */
export function lastRowid(db: SqliteConnection): number {
  const r = statement(db, `SELECT max(rowid) AS r FROM ${CHANGES_TABLE}`).get() as { r: unknown };
  return Number(r.r ?? 0);
}

/**
 * The newest change of a document made at `site` that is not an undo and not undone yet (what
 * `undo` reverts), or undefined — from the document's `history` (as {@link readHistory} gives it).
 */
export function lastUndoable(history: readonly HistoryEntry[], site: string): HistoryEntry | undefined {
  const undone = new Set(history.flatMap((e) => (e.undoes === undefined ? [] : [e.undoes])));
  for (let i = history.length - 1; i >= 0; i--) {
    const e = history[i]!;
    if (e.site === site && e.undoes === undefined && !undone.has(e.id)) return e;
  }
  return undefined;
}
