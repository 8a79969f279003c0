/**
 * How a document is stored for field-level merge: one row per node, keyed by its JSON Pointer.
 * A nested object is a row holding the marker `{}` with one row per member under it; an array is a
 * row holding `[]` with one row per element under it; any other value is a leaf holding its
 * canonical JSON text. A removed node keeps its row with no value (NULL), so removal is a field
 * write like any other and merges by last-writer-wins per row instead of by row deletion.
 *
 * Array elements are keyed by a token `<order key>.<random id>` (see keys.ts) instead of an index,
 * so two replicas appending or inserting concurrently add different rows and both elements
 * survive, in order of their tokens; an element's value is a leaf (last writer wins on it).
 *
 * Reading keeps a row only if its parent is a live container: when one replica turns `/a` into a
 * scalar while another edits `/a/b`, whichever value of `/a` wins decides, deterministically,
 * whether `/a/b` shows.
 */
import { randomBytes } from 'node:crypto';
import { canonical, isObject, type Json, type JsonObject } from './json.ts';
import { keysBetween } from './keys.ts';
import { escapeToken } from './pointer.ts';

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
export const parentPath = (path: string): string => path.slice(0, path.lastIndexOf('/'));
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
    parent[lastToken(path)] = made ?? (JSON.parse(text) as Json);
    return made;
  });
  return root;
}

/** What an array element's token looks like (order key, `.`, random id). */
export const ELEMENT_TOKEN = /^[0-9a-z]*[1-9a-z]\.[0-9a-f]{12}$/;

/** A new element token's random part. */
const newId = (): string => randomBytes(6).toString('hex');
const keyOf = (token: string): string => token.slice(0, token.indexOf('.'));

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

interface Element {
  token: string;
  text: string;
}

function elementsOf(visible: ReadonlyMap<string, string>, path: string): Element[] {
  const out: Element[] = [];
  for (const [p, text] of visible) if (parentPath(p) === path) out.push({ token: p.slice(path.length + 1), text });
  return out.sort((a, b) => (a.token < b.token ? -1 : a.token > b.token ? 1 : 0));
}

/** Tokens for the elements `texts`, reusing those of `old` (sorted) that stay. */
export function placeElements(old: readonly Element[], texts: readonly string[]): string[] {
  const reuse: (string | undefined)[] = new Array<string | undefined>(texts.length).fill(undefined);
  const n = old.length;
  const m = texts.length;
  let gapOld: number[] = [];
  let gapNew: number[] = [];
  const closeGap = (): void => {
    // In a gap, an element changed in place keeps its token (an edit, not a delete plus insert).
    for (let g = 0; g < Math.min(gapOld.length, gapNew.length); g++) reuse[gapNew[g]!] = old[gapOld[g]!]!.token;
    gapOld = [];
    gapNew = [];
  };
  let i = 0;
  let j = 0;
  for (const [mi, mj] of commonSubsequence(old.map((e) => e.text), texts)) {
    while (i < mi) gapOld.push(i++);
    while (j < mj) gapNew.push(j++);
    closeGap();
    reuse[j++] = old[i++]!.token;
  }
  while (i < n) gapOld.push(i++);
  while (j < m) gapNew.push(j++);
  closeGap();
  // New elements get keys between their neighbours'; when two neighbours share a key (concurrent
  // inserts at one place), the next one is placed anew too, so the order is exactly `texts`.
  for (let j0 = 0; j0 < m; j0++) {
    if (reuse[j0] !== undefined) continue;
    const lo = j0 > 0 ? keyOf(reuse[j0 - 1]!) : '';
    let j1 = j0;
    for (;;) {
      while (j1 < m && reuse[j1] === undefined) j1++;
      if (j1 >= m || lo < keyOf(reuse[j1]!)) break;
      reuse[j1++] = undefined;
    }
    const hi = j1 < m ? keyOf(reuse[j1]!) : undefined;
    keysBetween(lo, hi, j1 - j0).forEach((key, k) => (reuse[j0 + k] = `${key}.${newId()}`));
    j0 = j1 - 1;
  }
  return reuse as string[];
}

/** Above this many cells the middle of two arrays is not searched for common elements (they are edited in place). */
const LCS_CELLS = 250_000;

/**
 * Index pairs of equal elements of `a` and `b`, in order: the common prefix and suffix, and a
 * longest common subsequence of what lies between (when small enough).
 */
export function commonSubsequence(a: readonly string[], b: readonly string[]): [number, number][] {
  let p = 0;
  while (p < a.length && p < b.length && a[p] === b[p]) p++;
  let q = 0;
  while (q < a.length - p && q < b.length - p && a[a.length - 1 - q] === b[b.length - 1 - q]) q++;
  const out: [number, number][] = [];
  for (let k = 0; k < p; k++) out.push([k, k]);
  const n = a.length - p - q;
  const m = b.length - p - q;
  if (n > 0 && m > 0 && n * m <= LCS_CELLS) {
    const L: Uint32Array[] = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
    for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) L[i]![j] = a[p + i] === b[p + j] ? L[i + 1]![j + 1]! + 1 : Math.max(L[i + 1]![j]!, L[i]![j + 1]!);
    let i = 0;
    let j = 0;
    while (i < n && j < m) {
      if (a[p + i] === b[p + j]) out.push([p + i++, p + j++]);
      else if (L[i]![j + 1]! >= L[i + 1]![j]!) j++;
      else i++;
    }
  }
  for (let k = q; k > 0; k--) out.push([a.length - k, b.length - k]);
  return out;
}
