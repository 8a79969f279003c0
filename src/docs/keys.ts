/**
 * Order keys for array elements (fractional indexing): strings over `0-9a-z` compared as fractions,
 * so a key can always be made between two others without renumbering. Keys never end in `0`
 * (`"a"` and `"a0"` would be the same fraction).
 */
const DIGITS = '0123456789abcdefghijklmnopqrstuvwxyz';
const BASE = DIGITS.length;

const digit = (s: string, i: number): number => (i < s.length ? DIGITS.indexOf(s[i]!) : 0);

/** True for a well-formed key. */
export function isKey(s: string): boolean {
  return /^[0-9a-z]*[1-9a-z]$/.test(s);
}

/** A key strictly between `lo` (`''`: the start) and `hi` (undefined: the end). Requires lo < hi. */
export function keyBetween(lo: string, hi: string | undefined): string {
  let prefix = '';
  for (let i = 0; ; i++) {
    const a = digit(lo, i);
    const b = hi === undefined ? BASE : i < hi.length ? digit(hi, i) : 0;
    if (a === b) {
      prefix += DIGITS[a];
      continue;
    }
    if (b - a > 1) return prefix + DIGITS[Math.floor((a + b) / 2)];
    // Adjacent digits: keep lo's digit and go on after it, with no upper bound any more.
    return prefix + DIGITS[a] + keyBetween(lo.slice(i + 1), undefined);
  }
}

/** `n` increasing keys strictly between `lo` and `hi`. */
export function keysBetween(lo: string, hi: string | undefined, n: number): string[] {
  const out: string[] = [];
  let cur = lo;
  for (let k = 0; k < n; k++) {
    cur = keyBetween(cur, hi);
    out.push(cur);
  }
  return out;
}
