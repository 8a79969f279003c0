/**
 * `fc.string({ unit: 'binary' })` without its start-up cost. fast-check's 'binary' unit is a
 * `mapToConstant` over every code point but the surrogates, and the first `fc.string` of it
 * tokenizes fast-check's "dangerous strings" through that unit's unmapper, which first builds a Map
 * of all 1,112,064 code points (~1 CPU-s per process). This unit is the same `nat` mapped the same
 * way, so it generates the very same values for a seed, with an unmapper that is arithmetic.
 */
import fc from 'fast-check';

/** fast-check's 'binary' unit: code points 0–0xD7FF, then 0xE000–0x10FFFF, in that index order. */
const SURROGATES = 0xe000 - 0xd800;
const LAST_INDEX = 0x10ffff - SURROGATES;

const binaryUnit: fc.Arbitrary<string> = fc.nat({ max: LAST_INDEX }).map(
  (i) => String.fromCodePoint(i < 0xd800 ? i : i + SURROGATES),
  (value) => {
    const cp = typeof value === 'string' ? value.codePointAt(0) : undefined;
    if (cp === undefined || String.fromCodePoint(cp) !== value || (cp >= 0xd800 && cp < 0xe000)) {
      throw new Error('not a single code point of the binary unit');
    }
    return cp < 0xd800 ? cp : cp - SURROGATES;
  },
);

/** Same values as `fc.string({ ...constraints, unit: 'binary' })`. */
export function binaryString(constraints: Omit<fc.StringConstraints, 'unit'> = {}): fc.Arbitrary<string> {
  return fc.string({ ...constraints, unit: binaryUnit });
}
