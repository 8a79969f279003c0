/**
 * How a document is stored for field-level merge: one row per node, keyed by its JSON Pointer.
 * A nested object is a node whose value is the marker `{}` with one row per member under it; any
 * other value (string, number, boolean, null, array) is a leaf holding its canonical JSON text. A
 * removed node keeps its row with no value (NULL), so removal is a field write like any other and
 * merges by last-writer-wins per row instead of by row deletion.
 *
 * Reading keeps a row only if its parent is a live object marker: when one replica turns `/a` into
 * a scalar while another edits `/a/b`, whichever value of `/a` wins decides, deterministically,
 * whether `/a/b` shows. Arrays are leaves: concurrent edits of one array are last-writer-wins on
 * the whole array.
 */
import { canonical, isObject, type Json, type JsonObject } from './json.ts';
import { escapeToken } from './pointer.ts';

/** The stored value of an object node. */
export const OBJECT_MARKER = '{}';

/** Path → stored text of every node of `content` (the root itself has no row). */
export function flatten(content: JsonObject, prefix = '', out = new Map<string, string>()): Map<string, string> {
  for (const [k, v] of Object.entries(content)) {
    const path = `${prefix}/${escapeToken(k)}`;
    if (isObject(v)) {
      out.set(path, OBJECT_MARKER);
      flatten(v, path, out);
    } else out.set(path, canonical(v));
  }
  return out;
}

const depth = (path: string): number => path.split('/').length;
const parentPath = (path: string): string => path.slice(0, path.lastIndexOf('/'));
const lastToken = (path: string): string => path.slice(path.lastIndexOf('/') + 1).replaceAll('~1', '/').replaceAll('~0', '~');

/**
 * The document held by live rows (path → text; removed rows are left out by the caller). Rows
 * whose parent isn't a live object are hidden. Members come out in path order, so equal row sets
 * give identical documents.
 */
export function unflatten(rows: Iterable<readonly [string, string]>): JsonObject {
  const sorted = [...rows].sort(([a], [b]) => depth(a) - depth(b) || (a < b ? -1 : a > b ? 1 : 0));
  const root: JsonObject = {};
  const objects = new Map<string, JsonObject>([['', root]]);
  for (const [path, text] of sorted) {
    const parent = objects.get(parentPath(path));
    if (!parent) continue;
    if (text === OBJECT_MARKER) {
      const obj: JsonObject = {};
      parent[lastToken(path)] = obj;
      objects.set(path, obj);
    } else parent[lastToken(path)] = JSON.parse(text) as Json;
  }
  return root;
}
