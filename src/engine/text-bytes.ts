/**
 * TEXT whose bytes are not valid UTF-8, carried exactly. SQLite (and cr-sqlite) keep a TEXT value's
 * bytes as written; a JS string can't hold invalid UTF-8, and decoding it with U+FFFD would change
 * the value on its way to peers. So each byte of an invalid sequence becomes the lone surrogate
 * U+DC00 + byte (Python's "surrogateescape"): valid UTF-8 never decodes to a lone surrogate, so such
 * a string names its bytes exactly, and {@link textBytes} gives them back. Strings of valid text
 * (well-formed: no lone surrogates) are untouched and encode as usual.
 */

const encoder = new TextEncoder();
const strict = new TextDecoder('utf-8', { fatal: true });

/** The first of the lone surrogates standing for one byte (0x80–0xff; ASCII is always valid). */
const ESCAPE = 0xdc00;

/** The length of the valid UTF-8 sequence at `b[i]` (lead byte ≥ 0x80), or 0 if it isn't one (Unicode table 3-7). */
function sequenceAt(b: Uint8Array, i: number): number {
  const c = b[i]!;
  const cont = (k: number, lo = 0x80, hi = 0xbf): boolean => i + k < b.length && b[i + k]! >= lo && b[i + k]! <= hi;
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    const lo = c === 0xe0 ? 0xa0 : 0x80;
    const hi = c === 0xed ? 0x9f : 0xbf;
    return cont(1, lo, hi) && cont(2) ? 3 : 0;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    const lo = c === 0xf0 ? 0x90 : 0x80;
    const hi = c === 0xf4 ? 0x8f : 0xbf;
    return cont(1, lo, hi) && cont(2) && cont(3) ? 4 : 0;
  }
  return 0;
}

/** TEXT bytes as a string: as UTF-8 if valid, else each byte of an invalid sequence as U+DC00 + byte. */
export function textOf(bytes: Uint8Array): string {
  try {
    return strict.decode(bytes);
  } catch {
    // Invalid: rare (only a plain SQLite client or a peer can store such text), so decoded here.
  }
  let out = '';
  for (let i = 0; i < bytes.length; ) {
    const c = bytes[i]!;
    if (c < 0x80) {
      out += String.fromCharCode(c);
      i++;
      continue;
    }
    const n = sequenceAt(bytes, i);
    if (n === 0) {
      out += String.fromCharCode(ESCAPE + c);
      i++;
    } else {
      out += strict.decode(bytes.subarray(i, i + n));
      i += n;
    }
  }
  return out;
}

const isHigh = (c: number): boolean => c >= 0xd800 && c <= 0xdbff;

/**
 * The TEXT bytes of a string: its UTF-8, but for lone surrogates U+DC80–U+DCFF, which stand for one
 * byte each ({@link textOf}). Any other lone surrogate encodes as U+FFFD, as TextEncoder and
 * SQLite's binding do.
 */
export function textBytes(s: string): Uint8Array {
  if (s.isWellFormed()) return encoder.encode(s);
  const out: number[] = [];
  let from = 0;
  const flush = (to: number): void => {
    if (to > from) for (const b of encoder.encode(s.slice(from, to))) out.push(b);
  };
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0xdc80 || c > 0xdcff) continue;
    // A low surrogate after a high one is half of a pair, not an escape.
    if (i > 0 && isHigh(s.charCodeAt(i - 1))) continue;
    flush(i);
    out.push(c - ESCAPE);
    from = i + 1;
  }
  flush(s.length);
  return Uint8Array.from(out);
}
