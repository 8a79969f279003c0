/** Querying documents by field: equality of the values at JSON Pointers. */
import { isObject, jsonEqual, type Json, type JsonObject } from './json.ts';
import { parsePointer } from './pointer.ts';

/** Pointer → value every matching document must hold there (e.g. `{ '/status': 'done' }`). */
export type Where = Readonly<Record<string, Json>>;

/** The value at `pointer` in `doc`, or undefined if there is none. */
export function valueAt(doc: Json, pointer: string): Json | undefined {
  let cur: Json | undefined = doc;
  for (const t of parsePointer(pointer)) {
    if (Array.isArray(cur)) cur = /^(0|[1-9][0-9]*)$/.test(t) ? cur[Number(t)] : undefined;
    else if (isObject(cur)) cur = Object.hasOwn(cur, t) ? cur[t] : undefined;
    else return undefined;
    if (cur === undefined) return undefined;
  }
  return cur;
}

/** True if `doc` holds every value of `where`. */
export function matches(doc: JsonObject, where: Where): boolean {
  return Object.entries(where).every(([p, v]) => jsonEqual(valueAt(doc, p), v));
}
