/**
 * JSON from untrusted input: linear in the text, nested at most `maxDepth` deep, a duplicated key
 * refused (JSON.parse silently keeps the last one, so two readers could see two different objects),
 * and an integer beyond 2^53 − 1 kept exact as a bigint (JSON.parse rounds it). Otherwise the same
 * values as JSON.parse; objects have no prototype.
 */
import { CodecError } from './errors.ts';
import { int64 } from './int64.ts';

/** The default nesting limit: far beyond any of ddcp's formats, far below the stack's. */
export const MAX_JSON_DEPTH = 64;

const NUMBER = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;
const LITERAL = /true|false|null/y;

/** Parses `text` as one JSON value; throws {@link CodecError} naming what is wrong and where. */
export function parseJson(text: string, maxDepth = MAX_JSON_DEPTH): unknown {
  let i = 0;
  const fail = (what: string): never => {
    throw new CodecError(`${what} at position ${i}`);
  };
  const space = (): void => {
    for (;;) {
      const c = text.charCodeAt(i);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) i++;
      else return;
    }
  };
  const string = (): string => {
    const start = i++; // the opening quote
    let escaped = false;
    for (;;) {
      if (i >= text.length) fail('unterminated string');
      const c = text.charCodeAt(i);
      if (c === 0x22) break;
      if (c < 0x20) fail('control character in a string');
      if (c === 0x5c) {
        escaped = true;
        i++;
      }
      i++;
    }
    i++;
    if (!escaped) return text.slice(start + 1, i - 1);
    try {
      return JSON.parse(text.slice(start, i)) as string;
    } catch {
      return fail('bad escape in a string');
    }
  };
  const value = (depth: number): unknown => {
    space();
    const c = text[i];
    if (c === '"') return string();
    if (c === '{' || c === '[') {
      if (depth >= maxDepth) fail(`nesting deeper than ${maxDepth}`);
      i++;
      space();
      if (c === '[') {
        const out: unknown[] = [];
        if (text[i] === ']') {
          i++;
          return out;
        }
        for (;;) {
          out.push(value(depth + 1));
          space();
          if (text[i] === ',') i++;
          else if (text[i] === ']') {
            i++;
            return out;
          } else fail('expected , or ]');
        }
      }
      const out = Object.create(null) as Record<string, unknown>;
      if (text[i] === '}') {
        i++;
        return out;
      }
      for (;;) {
        space();
        if (text[i] !== '"') fail('expected a key');
        const at = i;
        const key = string();
        if (Object.hasOwn(out, key)) {
          i = at;
          fail(`duplicate key ${JSON.stringify(key.slice(0, 64))}`);
        }
        space();
        if (text[i] !== ':') fail('expected :');
        i++;
        out[key] = value(depth + 1);
        space();
        if (text[i] === ',') i++;
        else if (text[i] === '}') {
          i++;
          return out;
        } else fail('expected , or }');
      }
    }
    NUMBER.lastIndex = i;
    const m = NUMBER.exec(text);
    if (m) {
      i = NUMBER.lastIndex;
      const n = Number(m[0]);
      // An integer literal a double can't hold: keep every digit.
      if (m[1] === undefined && m[2] === undefined && !Number.isSafeInteger(n)) return int64(BigInt(m[0]));
      return n;
    }
    LITERAL.lastIndex = i;
    const l = LITERAL.exec(text);
    if (l) {
      i = LITERAL.lastIndex;
      return l[0] === 'true' ? true : l[0] === 'false' ? false : null;
    }
    return fail(i >= text.length ? 'unexpected end' : 'unexpected character');
  };
  const v = value(0);
  space();
  if (i < text.length) fail('unexpected text after the value');
  return v;
}
