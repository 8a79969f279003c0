/**
 * JSON Patch (RFC 6902): applying a patch (add, remove, replace, move, copy, test) and computing
 * one between two documents. No well-kept RFC 6902 package is installed (fast-json-patch / rfc6902
 * would be the choice), so this is a small, strict applier: any invalid operation throws
 * {@link PatchError} and the input is never modified (the patch runs on a copy).
 *
 * One extension, used only by history entries: `remove` of the root (`""`) removes the whole
 * document (the result is `undefined`), and `add` of the root on `undefined` creates it.
 */
import { PatchError } from './errors.ts';
import { checkJson, clone, isObject, jsonEqual, setMember, type Json, type JsonObject } from './json.ts';
import { escapeToken, parsePointer } from './pointer.ts';

export type Operation =
  | { op: 'add' | 'replace' | 'test'; path: string; value: Json }
  | { op: 'remove'; path: string }
  | { op: 'move' | 'copy'; path: string; from: string };

const ARRAY_INDEX = /^(0|[1-9][0-9]*)$/;

/** Validates the shape of a patch (an array of operations with the members their op needs). */
export function checkPatch(patch: unknown): asserts patch is Operation[] {
  tokensOf(patch);
}

/** {@link checkPatch}, returning each operation's path as tokens. */
function tokensOf(patch: unknown): string[][] {
  if (!Array.isArray(patch)) throw new PatchError('a JSON Patch must be an array of operations');
  const out: string[][] = [];
  for (let i = 0; i < patch.length; i++) {
    const o: unknown = patch[i];
    if (!isObject(o)) throw new PatchError('an operation must be an object', i);
    if (typeof o.path !== 'string') throw new PatchError(`'path' must be a string`, i);
    const tokens = parsePointer(o.path, i);
    switch (o.op) {
      case 'add':
      case 'replace':
      case 'test':
        if (!('value' in o)) throw new PatchError(`'${o.op}' needs a 'value'`, i);
        checkJson(o.value, 'value');
        break;
      case 'move':
      case 'copy':
        if (typeof o.from !== 'string') throw new PatchError(`'${o.op}' needs a 'from' path`, i);
        parsePointer(o.from, i);
        break;
      case 'remove':
        break;
      default:
        throw new PatchError(`unknown op ${JSON.stringify(o.op)}`, i);
    }
    out.push(tokens);
  }
  return out;
}

type Container = JsonObject | Json[];

/** Finds the container holding the last token of `tokens` (which must exist and be an object or array). */
function parentOf(root: Json, tokens: string[], i: number, path: string): Container {
  let cur: Json = root;
  for (let j = 0; j < tokens.length - 1; j++) {
    const t = tokens[j]!;
    const next: Json | undefined = Array.isArray(cur) ? (ARRAY_INDEX.test(t) ? cur[Number(t)] : undefined) : isObject(cur) ? (Object.hasOwn(cur, t) ? cur[t] : undefined) : undefined;
    if (next === undefined) throw new PatchError(`path '${path}' does not exist`, i);
    cur = next;
  }
  if (typeof cur !== 'object' || cur === null) throw new PatchError(`path '${path}': parent is not an object or array`, i);
  return cur;
}

function getAt(root: Json | undefined, tokens: string[], i: number, path: string): Json {
  if (root === undefined) throw new PatchError(`path '${path}' does not exist`, i);
  if (tokens.length === 0) return root;
  const parent = parentOf(root, tokens, i, path);
  const key = tokens.at(-1)!;
  if (Array.isArray(parent)) {
    if (!ARRAY_INDEX.test(key) || Number(key) >= parent.length) throw new PatchError(`path '${path}' does not exist`, i);
    return parent[Number(key)]!;
  }
  if (!Object.hasOwn(parent, key)) throw new PatchError(`path '${path}' does not exist`, i);
  return parent[key]!;
}

function addAt(root: Json | undefined, tokens: string[], value: Json, i: number, path: string): Json {
  if (tokens.length === 0) return value;
  if (root === undefined) throw new PatchError(`path '${path}' does not exist`, i);
  const parent = parentOf(root, tokens, i, path);
  const key = tokens.at(-1)!;
  if (Array.isArray(parent)) {
    if (key === '-') parent.push(value);
    else if (ARRAY_INDEX.test(key) && Number(key) <= parent.length) parent.splice(Number(key), 0, value);
    else throw new PatchError(`path '${path}': bad array index '${key}'`, i);
  } else setMember(parent, key, value);
  return root;
}

function removeAt(root: Json | undefined, tokens: string[], i: number, path: string): Json | undefined {
  getAt(root, tokens, i, path); // must exist
  if (tokens.length === 0) return undefined;
  const parent = parentOf(root!, tokens, i, path);
  const key = tokens.at(-1)!;
  if (Array.isArray(parent)) parent.splice(Number(key), 1);
  else delete parent[key];
  return root;
}

/** A remove and an add at one path (so an object member moves last), finding the place once. */
function replaceAt(root: Json | undefined, tokens: string[], value: Json, i: number, path: string): Json {
  if (root === undefined || tokens.length === 0) {
    getAt(root, tokens, i, path); // must exist
    return value;
  }
  const parent = parentOf(root, tokens, i, path);
  const key = tokens.at(-1)!;
  if (Array.isArray(parent)) {
    if (!ARRAY_INDEX.test(key) || Number(key) >= parent.length) throw new PatchError(`path '${path}' does not exist`, i);
    parent.splice(Number(key), 1, value);
  } else {
    if (!Object.hasOwn(parent, key)) throw new PatchError(`path '${path}' does not exist`, i);
    // The member moves last, as a remove then an add would leave it — in a new object rather than
    // by `delete`, which would turn the parent into a slow dictionary-mode object for everything after.
    const moved: JsonObject = {};
    for (const k of Object.keys(parent)) if (k !== key) setMember(moved, k, parent[k]!);
    setMember(moved, key, value);
    if (tokens.length === 1) return moved;
    const above = parentOf(root, tokens.slice(0, -1), i, path);
    const at = tokens.at(-2)!;
    if (Array.isArray(above)) above[Number(at)] = moved;
    else setMember(above, at, moved);
  }
  return root;
}

/**
 * Applies a JSON Patch to `doc` and returns the result (a new value; `doc` is untouched). Throws
 * {@link PatchError} naming the failing operation for a malformed patch, a path that doesn't exist,
 * a bad array index, a failed `test`, or a `move` into its own child.
 */
export function applyPatch(doc: Json | undefined, patch: unknown): Json | undefined {
  const paths = tokensOf(patch);
  let root: Json | undefined = doc === undefined ? undefined : clone(doc);
  const ops = patch as Operation[];
  for (let i = 0; i < ops.length; i++) {
    const o = ops[i]!;
    const tokens = paths[i]!;
    switch (o.op) {
      case 'add':
        root = addAt(root, tokens, clone(o.value), i, o.path);
        break;
      case 'remove':
        root = removeAt(root, tokens, i, o.path);
        break;
      case 'replace':
        root = replaceAt(root, tokens, clone(o.value), i, o.path);
        break;
      case 'test':
        if (!jsonEqual(getAt(root, tokens, i, o.path), o.value)) throw new PatchError(`test failed at '${o.path}'`, i);
        break;
      case 'move': {
        if (o.path.startsWith(o.from + '/')) throw new PatchError(`cannot move '${o.from}' into its own child '${o.path}'`, i);
        const from = parsePointer(o.from, i);
        const value = getAt(root, from, i, o.from);
        if (o.from === o.path) break;
        root = removeAt(root, from, i, o.from);
        root = addAt(root, tokens, value, i, o.path);
        break;
      }
      case 'copy':
        root = addAt(root, tokens, clone(getAt(root, parsePointer(o.from, i), i, o.from)), i, o.path);
        break;
    }
  }
  return root;
}

/**
 * A JSON Patch turning `a` into `b`: objects are compared member by member (recursively), arrays
 * and scalars are replaced whole. `undefined` stands for "no document" (see the module comment).
 */
export function diff(a: Json | undefined, b: Json | undefined, path = ''): Operation[] {
  if (a === undefined && b === undefined) return [];
  if (a === undefined) return [{ op: 'add', path, value: clone(b!) }];
  if (b === undefined) return [{ op: 'remove', path }];
  const ops: Operation[] = [];
  diffInto(a, b, path, ops);
  return ops;
}

/** {@link diff} of two values, its operations appended to `ops` (one array for the whole walk). */
function diffInto(a: Json, b: Json, path: string, ops: Operation[]): void {
  if (a === b) return; // the same scalar (or object): nothing to do, no deep compare
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a);
    for (let i = 0; i < ka.length; i++) if (!Object.hasOwn(b, ka[i]!)) ops.push({ op: 'remove', path: `${path}/${escapeToken(ka[i]!)}` });
    const kb = Object.keys(b);
    for (let i = 0; i < kb.length; i++) {
      const k = kb[i]!;
      if (!Object.hasOwn(a, k)) ops.push({ op: 'add', path: `${path}/${escapeToken(k)}`, value: clone(b[k]!) });
      else if (a[k] !== b[k]) diffInto(a[k]!, b[k]!, `${path}/${escapeToken(k)}`, ops);
    }
    return;
  }
  if (!jsonEqual(a, b)) ops.push({ op: 'replace', path, value: clone(b) });
}

/**
 * The patch that undoes `forward` (= `diff(before, after)`): the same as `diff(after, before)`, but a
 * patch of one `replace` — a single field changed, the common case — is undone by a `replace` of
 * that field with its value in `before`, with no second walk of both documents.
 */
export function inverse(forward: readonly Operation[], before: Json | undefined, after: Json | undefined): Operation[] {
  const only = forward.length === 1 ? forward[0]! : undefined;
  if (only?.op !== 'replace' || only.path === '') return diff(after, before);
  // diff() replaces only below objects (it recurses into nothing else), so the path runs through members.
  let value: Json | undefined = before;
  for (const token of parsePointer(only.path)) value = isObject(value) && Object.hasOwn(value, token) ? value[token] : undefined;
  if (value === undefined) return diff(after, before);
  return [{ op: 'replace', path: only.path, value: clone(value) }];
}
