/**
 * What undoing a change does, decided field by field (pure; documents.ts applies the result as a
 * new change, so the undo syncs like any edit). A field is reverted only if it still holds what the
 * undone change wrote; a field changed since (typically by a remote edit that arrived later) is
 * left as it is and reported as skipped — undo never silently overwrites a newer edit.
 *
 * - undo of an update: per field as above; an object kept alive by members added since stays.
 * - undo of a create: deletes the document, unless it was edited since (then nothing, all skipped).
 * - undo of a delete: re-creates the document as it was, unless it exists again (then skipped).
 */
import { flatten, OBJECT_MARKER, unflatten } from './fields.ts';
import { jsonEqual, type JsonObject } from './json.ts';
import type { HistoryEntry } from './history.ts';
import { applyLenient, replay } from './replay.ts';

export interface UndoPlan {
  /** The document to write (undefined: deleted), or `unchanged` when there is nothing to write. */
  target: JsonObject | undefined | 'unchanged';
  /** Pointers of fields left alone because they changed after the undone change (`""`: the whole document). */
  skipped: string[];
}

/**
 * The document right after the change at `index` of `history` (the history replayed up to it), and
 * right before it as its author saw it (that state with the change's reverse patch applied).
 */
export function statesAround(history: readonly HistoryEntry[], index: number): { before: JsonObject | undefined; after: JsonObject | undefined } {
  const entry = history[index]!;
  const after = applyLenient(replay(history, index), entry.forward);
  return { before: applyLenient(after, entry.reverse), after };
}

/**
 * Plans the undo of the change at `index` of the document's `history` given its `current` state
 * (undefined: deleted).
 */
export function planUndo(history: readonly HistoryEntry[], index: number, current: JsonObject | undefined): UndoPlan {
  const { before, after } = statesAround(history, index);
  if (after === undefined) {
    if (current !== undefined || before === undefined) return { target: 'unchanged', skipped: [''] };
    return { target: before, skipped: [] };
  }
  if (current === undefined) return { target: 'unchanged', skipped: [''] };
  const fa = flatten(after);
  const fc = flatten(current);
  if (before === undefined) {
    if (jsonEqual(after, current)) return { target: undefined, skipped: [] };
    return { target: 'unchanged', skipped: changedPaths(fa, fc) };
  }
  const fb = flatten(before);
  const target = new Map(fc);
  const skipped: string[] = [];
  for (const path of changedPaths(fa, fb)) {
    if (fc.get(path) !== fa.get(path)) {
      skipped.push(path);
      continue;
    }
    const old = fb.get(path);
    if (old === undefined) target.delete(path);
    else target.set(path, old);
  }
  // An object the undo would remove but that holds members written since stays (as an object).
  for (const path of [...fa.keys()].filter((p) => fa.get(p) === OBJECT_MARKER && !target.has(p))) {
    if ([...target.keys()].some((p) => p.startsWith(path + '/'))) {
      target.set(path, OBJECT_MARKER);
      skipped.push(path);
    }
  }
  const result = unflatten(target);
  return { target: jsonEqual(result, current) ? 'unchanged' : result, skipped: skipped.sort() };
}

/** Paths whose stored text differs between two flattened documents. */
function changedPaths(a: Map<string, string>, b: Map<string, string>): string[] {
  const paths = new Set([...a.keys(), ...b.keys()]);
  return [...paths].filter((p) => a.get(p) !== b.get(p)).sort();
}
