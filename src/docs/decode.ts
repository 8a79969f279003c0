/**
 * From a document's stored rows to the document (pure): what this replica's reads and the hub's
 * materialized copy (hub/storage/postgres/documents.ts) both use, so they can't disagree.
 */
import { sha256Hex } from '../base/portable.ts';
import { unflatten } from './fields.ts';
import { canonical, type JsonObject } from './json.ts';

/** A document's rows as stored: its existence row and every field row (removed ones too). */
export interface StoredDocument {
  /** The `deleted` flag of its row (undefined: no row; NULL reads as 0, as SQLite's affinity would give). */
  deleted: number | undefined;
  /** Path → stored text (null: removed). */
  fields: ReadonlyMap<string, string | null>;
}

/** A document as read. */
export interface Document {
  collection: string;
  id: string;
  /** How many changes the document has had (its history's length; the same on synced replicas). */
  version: number;
  /** `<version>-<hash of the content>`: changes with every change, equal on replicas holding the same. */
  revision: string;
  content: JsonObject;
}

/** Path → text of the rows that hold a value. */
export function valuedRows(fields: ReadonlyMap<string, string | null>): [string, string][] {
  const out: [string, string][] = [];
  for (const [p, v] of fields) if (v !== null) out.push([p, v]);
  return out;
}

/** The content stored rows show, or undefined if the document doesn't exist or is deleted. */
export function contentOf(stored: StoredDocument): JsonObject | undefined {
  if (stored.deleted !== 0) return undefined;
  return unflatten(valuedRows(stored.fields));
}

/** `<version>-<first 16 hex digits of the SHA-256 of the canonical content>`. */
export function revisionOf(version: number, content: JsonObject | undefined, text = content === undefined ? '' : canonical(content)): string {
  return `${version}-${sha256Hex(text).slice(0, 16)}`;
}

/**
 * The document held by `stored` whose history has `version` changes, or undefined if it doesn't
 * exist or is deleted.
 */
export function documentOf(collection: string, id: string, stored: StoredDocument, version: number): Document | undefined {
  const content = contentOf(stored);
  if (!content) return undefined;
  return { collection, id, version, revision: revisionOf(version, content), content };
}
