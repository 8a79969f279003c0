/** JSON Merge Patch (RFC 7396): objects merge member by member, `null` removes, anything else replaces. */
import { checkJson, clone, isObject, setMember, type Json, type JsonObject } from './json.ts';

/** Applies a merge patch to `target` and returns the result (a new value; `target` is untouched). */
export function applyMergePatch(target: Json, patch: unknown): Json {
  checkJson(patch, 'merge patch');
  return merge(target, patch);
}

function merge(target: Json, patch: Json): Json {
  if (!isObject(patch)) return clone(patch);
  const out: JsonObject = isObject(target) ? clone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else setMember(out, k, merge(Object.hasOwn(out, k) ? out[k]! : null, v));
  }
  return out;
}
