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
  // Concatenation, not map/join: this runs for every field of every change and revision.
  let out: string;
  if (Array.isArray(v)) {
    out = '[';
    for (let i = 0; i < v.length; i++) out += (i > 0 ? ',' : '') + canonical(v[i]!);
    return out + ']';
  }
  const keys = Object.keys(v).sort();
  out = '{';
  for (let i = 0; i < keys.length; i++) out += (i > 0 ? ',' : '') + JSON.stringify(keys[i]) + ':' + canonical(v[keys[i]!]!);
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
