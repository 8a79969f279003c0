/**
 * How a document is stored for field-level merge: one row per node, keyed by its JSON Pointer.
 * A nested object is a row holding the marker `{}` with one row per member under it; an array is a
 * row holding `[]` with one row per element under it; any other value is a leaf holding its
 * canonical JSON text. A removed node keeps its row with no value (NULL), so removal is a field
 * write like any other and merges by last-writer-wins per row instead of by row deletion.
 *
 * Array elements are keyed by a token `<order key>.<random id>` (see elements.ts) instead of an index,
 * so two replicas appending or inserting concurrently add different rows and both elements
 * survive, in order of their tokens; an element's value is a leaf (last writer wins on it).
 *
 * Reading keeps a row only if its parent is a live container: when one replica turns `/a` into a
 * scalar while another edits `/a/b`, whichever value of `/a` wins decides, deterministically,
 * whether `/a/b` shows.
 */
import { canonical, isObject, setMember, type Json, type JsonObject } from './json.ts';
import { elementsOf, placeElements } from './elements.ts';
import { escapeToken, parentPath } from './pointer.ts';

/** The stored value of an object node. */
export const OBJECT_MARKER = '{}';
/** The stored value of an array node. */
export const ARRAY_MARKER = '[]';

/**
 * Path → stored text of every node of `content` with arrays as leaves: the plain-JSON view of the
 * fields, used to compare documents field by field (undo). Storage uses {@link layout}.
 */
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
const lastToken = (path: string): string => path.slice(path.lastIndexOf('/') + 1).replaceAll('~1', '/').replaceAll('~0', '~');
const byDepthThenPath = ([a]: readonly [string, string], [b]: readonly [string, string]): number => depth(a) - depth(b) || (a < b ? -1 : a > b ? 1 : 0);

/** Walks the rows reachable from the root through live containers, parents first, siblings in path order. */
function walk(rows: Iterable<readonly [string, string]>, root: JsonObject, visit: (path: string, text: string, parent: Json[] | JsonObject) => Json[] | JsonObject | undefined): void {
  const containers = new Map<string, Json[] | JsonObject>([['', root]]);
  for (const [path, text] of [...rows].sort(byDepthThenPath)) {
    const parent = containers.get(parentPath(path));
    if (!parent) continue;
    const made = visit(path, text, parent);
    if (made) containers.set(path, made);
  }
}

/** The rows that show (their parent is a live container), from rows holding values. */
export function visibleRows(rows: Iterable<readonly [string, string]>): Map<string, string> {
  const out = new Map<string, string>();
  walk(rows, {}, (path, text, parent) => {
    out.set(path, text);
    if (Array.isArray(parent)) return undefined;
    return text === OBJECT_MARKER ? {} : text === ARRAY_MARKER ? [] : undefined;
  });
  return out;
}

/**
 * The document held by rows holding values (path → text): rows whose parent isn't a live container
 * are hidden, array elements come in token order. Equal row sets give identical documents. Also
 * reads {@link flatten}'s output back.
 */
export function unflatten(rows: Iterable<readonly [string, string]>): JsonObject {
  const root: JsonObject = {};
  walk(rows, root, (path, text, parent) => {
    if (Array.isArray(parent)) {
      parent.push(JSON.parse(text) as Json);
      return undefined;
    }
    const made = text === OBJECT_MARKER ? {} : text === ARRAY_MARKER ? [] : undefined;
    setMember(parent, lastToken(path), made ?? (JSON.parse(text) as Json));
    return made;
  });
  return root;
}

/**
 * The rows that store `next`, reusing what `visible` (the rows showing now) has where it can:
 * array elements that stay keep their tokens (matched by value, in order; a changed element in the
 * place of an old one keeps the old one's token), new elements get tokens between their neighbours'.
 */
export function layout(next: JsonObject, visible: ReadonlyMap<string, string>, prefix = '', out = new Map<string, string>()): Map<string, string> {
  for (const [k, v] of Object.entries(next)) {
    const path = `${prefix}/${escapeToken(k)}`;
    if (isObject(v)) {
      out.set(path, OBJECT_MARKER);
      layout(v, visible, path, out);
    } else if (Array.isArray(v)) {
      out.set(path, ARRAY_MARKER);
      const old = visible.get(path) === ARRAY_MARKER ? elementsOf(visible, path) : [];
      const texts = v.map(canonical);
      placeElements(old, texts).forEach((token, j) => out.set(`${path}/${token}`, texts[j]!));
    } else out.set(path, canonical(v));
  }
  return out;
}

const byToken = (a: readonly [string, string], b: readonly [string, string]): number => (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0);

/**
 * `content` as reading back the rows that store it gives it — `unflatten(layout(content))`, without
 * making the rows: members in the order of their escaped keys, leaves through their stored text
 * (`-0` reads as `0`, an array's elements as their canonical JSON). A change starts from the content
 * as read, so a cached copy must be this. Returns a new value.
 */
export function asRead(content: JsonObject): JsonObject {
  // Keys needing no escape (the common case) sort as they are: no escaped copies to make.
  const raw = Object.keys(content);
  let plain = true;
  let sorted = true;
  for (let i = 0; i < raw.length; i++) {
    const k = raw[i]!;
    if (k.includes('~') || k.includes('/')) {
      plain = false;
      break;
    }
    if (i > 0 && raw[i - 1]! > k) sorted = false;
  }
  if (plain) {
    if (!sorted) raw.sort();
    const out: JsonObject = {};
    for (let i = 0; i < raw.length; i++) setMember(out, raw[i]!, readBack(content[raw[i]!]!));
    return out;
  }
  const keys = Object.keys(content).map((k): [string, string] => [k, escapeToken(k)]);
  for (let i = 1; i < keys.length; i++) {
    if (keys[i - 1]![1] > keys[i]![1]) {
      keys.sort(byToken);
      break;
    }
  }
  const out: JsonObject = {};
  for (const [k] of keys) {
    setMember(out, k, readBack(content[k]!));
  }
  return out;
}

/** A member's value as reading its rows back gives it (see {@link asRead}). */
function readBack(v: Json): Json {
  return isObject(v) ? asRead(v) : Array.isArray(v) ? v.map((e) => JSON.parse(canonical(e)) as Json) : v === 0 ? 0 : v;
}
