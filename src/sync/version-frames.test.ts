/**
 * The caught-up and ack frames (`{"version":N}`), written and read without the JSON encoder and
 * reader: the bytes are what JSON.stringify gives, and any frame of those types reads exactly as
 * the strict JSON reader (base/json.ts) reads it — the same message or the same refusal.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseJson } from '../base/json.ts';
import { decodeMessage, encodeMessage } from './messages.ts';

const T_CAUGHT_UP = 4;
const T_ACK = 6;

/** What decodeMessage answered before the fast path: the strict JSON reader, then the version checked. */
function reference(type: number, text: string): string {
  let o: unknown;
  try {
    o = parseJson(text);
  } catch {
    return 'malformed';
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) return 'malformed';
  const v = (o as Record<string, unknown>).version;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) return 'malformed';
  return JSON.stringify({ type: type === T_ACK ? 'ack' : 'caught-up', version: v });
}

function actual(frame: Uint8Array): string {
  try {
    return JSON.stringify(decodeMessage(frame));
  } catch (err) {
    assert.equal((err as { code?: string }).code, 'malformed');
    return 'malformed';
  }
}

const digits = fc.oneof(
  fc.maxSafeNat().map(String),
  fc.constantFrom('0', '00', '01', '-1', '1e3', '1.5', '9007199254740991', '9007199254740992', '999999999999999', '1000000000000000', '', ' 1', '1 '),
  fc.stringMatching(/^[0-9]{1,18}$/),
);

describe('caught-up and ack frames', () => {
  it('are written as JSON.stringify writes them', () => {
    fc.assert(
      fc.property(fc.constantFrom('caught-up', 'ack') as fc.Arbitrary<'caught-up' | 'ack'>, fc.maxSafeNat(), (type, version) => {
        const frame = encodeMessage({ type, version });
        assert.equal(frame[0], type === 'ack' ? T_ACK : T_CAUGHT_UP);
        assert.equal(new TextDecoder().decode(frame.subarray(1)), JSON.stringify({ version }));
        assert.deepEqual(decodeMessage(frame), { type, version });
      }),
      { numRuns: 500 },
    );
  });

  it('are read exactly as the strict JSON reader reads them, whatever the bytes', () => {
    fc.assert(
      fc.property(fc.constantFrom(T_CAUGHT_UP, T_ACK), digits, fc.constantFrom('{"version":', '{"version" :', '{"versio":', '{"version":1,"version":', '{ "version":'), fc.constantFrom('}', ' }', '}}', ''), (type, n, open, close) => {
        const text = `${open}${n}${close}`;
        const frame = new Uint8Array([type, ...new TextEncoder().encode(text)]);
        assert.equal(actual(frame), reference(type, text));
      }),
      { numRuns: 2000 },
    );
  });
});
