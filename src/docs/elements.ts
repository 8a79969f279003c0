/**
 * Array elements in storage: each is a row keyed by a token `<order key>.<random id>` under its
 * array's row (see fields.ts), and a patch that rewrites an array keeps the tokens of the elements
 * that stay, so only what it really changed competes with concurrent edits.
 */
import { bytesToHex, randomBytes } from '../base/portable.ts';
import { keysBetween } from './keys.ts';
import { parentPath } from './pointer.ts';

/** What an array element's token looks like (order key, `.`, random id). */
export const ELEMENT_TOKEN = /^[0-9a-z]*[1-9a-z]\.[0-9a-f]{12}$/;

/** A new element token's random part. */
const newId = (): string => bytesToHex(randomBytes(6));
const keyOf = (token: string): string => token.slice(0, token.indexOf('.'));

export interface Element {
  token: string;
  text: string;
}

/** The elements of the array at `path` among `visible` rows, in order. */
export function elementsOf(visible: ReadonlyMap<string, string>, path: string): Element[] {
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
