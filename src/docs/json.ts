/** JSON values: validation, deep equality, canonical text and cloning. */
import { InvalidDocumentError } from './errors.ts';

export type Json = null | boolean | number | string | Json[] | JsonObject;
export interface JsonObject {
  [key: string]: Json;
}

/** True for a plain JSON object (not an array, not null). */
export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Throws {@link InvalidDocumentError} unless `v` is JSON (finite numbers, plain objects, arrays…). */
export function checkJson(v: unknown, where = ''): asserts v is Json {
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new InvalidDocumentError(`${where || 'value'} is not a finite number`);
    return;
  }
  if (Array.isArray(v)) return v.forEach((x, i) => checkJson(x, `${where}/${i}`));
  if (typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
    for (const [k, x] of Object.entries(v)) checkJson(x, `${where}/${k}`);
    return;
  }
  throw new InvalidDocumentError(`${where || 'value'} is not JSON (${typeof v})`);
}

/** Throws {@link InvalidDocumentError} unless `v` is a JSON object (a document's content). */
export function checkContent(v: unknown): asserts v is JsonObject {
  if (!isObject(v)) throw new InvalidDocumentError('a document must be a JSON object');
  checkJson(v);
}

/** Deep equality of JSON values (object key order doesn't matter). */
export function jsonEqual(a: Json | undefined, b: Json | undefined): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((x, i) => jsonEqual(x, b[i]));
  }
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => Object.hasOwn(b, k) && jsonEqual(a[k], b[k]));
}

/** JSON text with object keys sorted: equal values have equal text (the stored form of a field). */
export function canonical(v: Json): string {
  if (typeof v !== 'object' || v === null) return JSON.stringify(v);
  // The native JSON.stringify writes members in insertion order and is several times faster than
  // building the text here: it gets the value itself when its keys are in order already, else a copy
  // whose keys were inserted sorted. Keys that objects don't keep in insertion order (integer-like
  // ones go first, `__proto__` is the prototype) take the walk below.
  switch (inOrder(v)) {
    case IN_ORDER:
      return JSON.stringify(v);
    case SORTABLE:
      return JSON.stringify(sortedCopy(v));
    default:
      return canonicalWalk(v);
  }
}

const IN_ORDER = 0;
const SORTABLE = 1;
const NOT_SORTABLE = 2;

/** Whether every object under `v` has its keys sorted (IN_ORDER), could have (SORTABLE), or not. */
function inOrder(v: Json[] | JsonObject): number {
  let result = IN_ORDER;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const x = v[i]!;
      if (typeof x === 'object' && x !== null) {
        const r = inOrder(x);
        if (r === NOT_SORTABLE) return r;
        if (r === SORTABLE) result = r;
      }
    }
    return result;
  }
  let prev: string | undefined;
  for (const k in v) {
    const c = k.charCodeAt(0);
    if ((c >= 48 && c <= 57) || k === '__proto__') return NOT_SORTABLE; // 0-9: maybe an integer-like key
    if (prev !== undefined && prev > k) result = SORTABLE;
    prev = k;
    const x = v[k]!;
    if (typeof x === 'object' && x !== null) {
      const r = inOrder(x);
      if (r === NOT_SORTABLE) return r;
      if (r === SORTABLE) result = r;
    }
  }
  return result;
}

/** `v` with every object's keys inserted in sorted order (checked by {@link inOrder} first). */
function sortedCopy(v: Json): Json {
  if (typeof v !== 'object' || v === null) return v;
  if (Array.isArray(v)) return v.map(sortedCopy);
  const keys = Object.keys(v).sort();
  const out: JsonObject = {};
  for (let i = 0; i < keys.length; i++) out[keys[i]!] = sortedCopy(v[keys[i]!]!);
  return out;
}

/** {@link canonical}, built piece by piece (any keys). */
function canonicalWalk(v: Json): string {
  if (typeof v !== 'object' || v === null) return JSON.stringify(v);
  // Concatenation, not map/join.
  let out: string;
  if (Array.isArray(v)) {
    out = '[';
    for (let i = 0; i < v.length; i++) out += (i > 0 ? ',' : '') + canonicalWalk(v[i]!);
    return out + ']';
  }
  const keys = Object.keys(v).sort();
  out = '{';
  for (let i = 0; i < keys.length; i++) out += (i > 0 ? ',' : '') + JSON.stringify(keys[i]) + ':' + canonicalWalk(v[keys[i]!]!);
  return out + '}';
}

/**
 * Sets a member of an object as an own property, also when the key is `__proto__` (a plain
 * assignment would change the object's prototype instead and lose the member).
 */
export function setMember(obj: JsonObject, key: string, value: Json): void {
  // Object.prototype's only setter is __proto__: any other key is set by plain assignment (cheaper).
  if (key !== '__proto__') obj[key] = value;
  else Object.defineProperty(obj, key, { value, writable: true, enumerable: true, configurable: true });
}

/** A deep copy (a plain walk: several times faster than structuredClone on small documents). */
export function clone<T extends Json>(v: T): T {
  if (typeof v !== 'object' || v === null) return v;
  if (Array.isArray(v)) return v.map(clone) as T;
  const out: JsonObject = {};
  for (const k of Object.keys(v)) {
    if (k === '__proto__') setMember(out, k, clone(v[k]!));
    else out[k] = clone(v[k]!);
  }
  return out as T;
}
