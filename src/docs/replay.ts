/**
 * A document as of an earlier point of its history, rebuilt from the forward patches (no state is
 * stored per change). History patches come from `diff`: add, remove and replace of object members
 * and whole values. Replaying them in history order gives, for a history made on one replica, each
 * state exactly as it was; where concurrent changes interleave, an operation whose place no longer
 * exists (a member of an object removed meanwhile) is skipped, so the replay is the history's
 * changes merged in its order — the same on every replica that holds the same history.
 */
import { clone, isObject, setMember, type JsonObject } from './json.ts';
import type { HistoryEntry } from './history.ts';
import type { Operation } from './patch.ts';
import { parsePointer } from './pointer.ts';

/** `doc` (not modified) with `ops` applied, skipping those whose parent is missing. */
export function applyLenient(doc: JsonObject | undefined, ops: readonly Operation[]): JsonObject | undefined {
  let root = doc === undefined ? undefined : clone(doc);
  for (const o of ops) {
    if (o.op !== 'add' && o.op !== 'replace' && o.op !== 'remove') continue;
    if (o.path === '') {
      root = o.op === 'remove' ? undefined : isObject(o.value) ? clone(o.value) : root;
      continue;
    }
    if (root === undefined) continue;
    const tokens = parsePointer(o.path);
    let parent: unknown = root;
    for (const t of tokens.slice(0, -1)) parent = isObject(parent) && Object.hasOwn(parent, t) ? parent[t] : undefined;
    if (!isObject(parent)) continue;
    const key = tokens.at(-1)!;
    if (o.op === 'remove') delete parent[key];
    else setMember(parent, key, clone(o.value));
  }
  return root;
}

/** The document after the first `n` changes of `history` (undefined: none yet, or deleted). */
export function replay(history: readonly HistoryEntry[], n: number): JsonObject | undefined {
  let doc: JsonObject | undefined;
  for (let i = 0; i < n && i < history.length; i++) doc = applyLenient(doc, history[i]!.forward);
  return doc;
}
