/**
 * The `batch-caught-up` frame and the handshake's feature lists (features.ts): a paired frame reads
 * as exactly the batch and caught-up it pairs; pairing copies the batch frame's bytes; every cut or
 * corruption of one is refused as 'malformed' naming the frame, never another error; hello and
 * welcome without features are byte for byte what they were, and a malformed list is refused.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Change } from '../engine/change.ts';
import { packColumns } from '../engine/pack.ts';
import { decodeMessage, encodeMessage, pairWithCaughtUp, ProtocolError, type Hello, type Message, type Welcome } from './messages.ts';
import { FEATURE_BATCH_CAUGHT_UP, MAX_FEATURE_LENGTH, MAX_FEATURES, negotiate } from './features.ts';
import { proofOf } from '../../test/support/identity.ts';

const T_BATCH_CAUGHT_UP = 8;

const change: fc.Arbitrary<Change> = fc.record({
  table: fc.constantFrom('items', 'notes'),
  pk: fc.array(fc.oneof(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), fc.string({ maxLength: 20 })), { minLength: 1, maxLength: 2 }).map((v) => packColumns(v)),
  cid: fc.constantFrom('body', 'qty'),
  val: fc.oneof(fc.constant(null), fc.string({ maxLength: 40 }), fc.integer().map(BigInt), fc.uint8Array({ maxLength: 20 })),
  colVersion: fc.nat(),
  dbVersion: fc.maxSafeNat(),
  siteId: fc.constantFrom(new Uint8Array(16).fill(1), new Uint8Array(16).fill(2)),
  cl: fc.nat(),
  seq: fc.nat(),
});
const batch = fc.record({ type: fc.constant('batch' as const), version: fc.maxSafeNat(), complete: fc.boolean(), changes: fc.array(change, { maxLength: 8 }) });

/** A message as comparable plain data (a received batch's changes read, its views dropped). */
function plain(m: Message): unknown {
  const b = (x: { version: number; complete: boolean; changes: Change[] }) => ({ version: x.version, complete: x.complete, changes: x.changes.map((c) => ({ ...c, pk: [...c.pk], siteId: [...c.siteId], val: c.val instanceof Uint8Array ? [...c.val] : c.val })) });
  if (m.type === 'batch') return { type: 'batch', ...b(m) };
  if (m.type === 'batch-caught-up') return { type: m.type, version: m.version, batch: plain(m.batch) };
  return m;
}

/** What decoding does: the message as plain data, or the refusal ('malformed: …'); any other error fails the test. */
function outcome(frame: Uint8Array): string {
  try {
    return JSON.stringify(plain(decodeMessage(frame)), (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v));
  } catch (err) {
    assert.ok(err instanceof ProtocolError, `not a ProtocolError: ${String(err)}`);
    assert.equal(err.code, 'malformed');
    return `malformed: ${err.message}`;
  }
}

describe('batch-caught-up frames', () => {
  it('read as exactly the batch and the caught-up they pair; pairing an encoded batch frame gives the bytes encodeMessage gives', () => {
    fc.assert(
      fc.property(batch, fc.maxSafeNat(), (b, v) => {
        const frame = encodeMessage({ type: 'batch-caught-up', version: v, batch: b });
        assert.equal(frame[0], T_BATCH_CAUGHT_UP);
        assert.deepEqual(frame, pairWithCaughtUp(encodeMessage(b), v));
        const m = decodeMessage(frame);
        assert.equal(m.type, 'batch-caught-up');
        assert.deepEqual(plain(m), { type: 'batch-caught-up', version: v, batch: plain(decodeMessage(encodeMessage(b))) });
      }),
    );
  });

  it('any cut of one is refused as malformed, naming the frame; a corrupted one is read or refused as malformed, never another error', () => {
    fc.assert(
      fc.property(batch, fc.maxSafeNat(), fc.nat(), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 3 }), (b, v, cut, flips) => {
        const frame = encodeMessage({ type: 'batch-caught-up', version: v, batch: b });
        const short = frame.subarray(0, 1 + (cut % (frame.length - 1)));
        assert.match(outcome(short), /^malformed: malformed batch-caught-up/);
        const bad = frame.slice();
        for (const [at, byte] of flips) bad[1 + (at % (bad.length - 1))] = byte;
        outcome(bad); // read, or refused as malformed
      }),
    );
  });

  it('refuses its edge cases with a clear reason', () => {
    const good = encodeMessage({ type: 'batch-caught-up', version: 5, batch: { type: 'batch', version: 5, complete: true, changes: [] } });
    const cases: [string, Uint8Array, RegExp][] = [
      ['nothing after the type', Uint8Array.of(T_BATCH_CAUGHT_UP), /malformed batch-caught-up: caught-up version \(truncated varint\)/],
      ['a caught-up version of 9 bytes', Uint8Array.of(T_BATCH_CAUGHT_UP, ...new Array(9).fill(0xff), 1, 0, 0, 0, 0, 0), /caught-up version \(varint too long\)/],
      ['a caught-up version past 2^53', Uint8Array.of(T_BATCH_CAUGHT_UP, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 1, 0, 0, 0, 0, 0), /caught-up version \(varint out of range\)/],
      ['no batch after the version', Uint8Array.of(T_BATCH_CAUGHT_UP, 5), /malformed batch-caught-up: truncated varint/],
      ['a flag neither 0 nor 1', Uint8Array.of(T_BATCH_CAUGHT_UP, 5, 5, 2, 0, 0, 0, 0), /malformed batch-caught-up flag/],
      ['trailing bytes', Uint8Array.of(...good, 0), /malformed batch-caught-up: 1 trailing bytes after the batch/],
    ];
    for (const [what, frame, reason] of cases) assert.match(outcome(frame), reason, what);
    assert.throws(() => pairWithCaughtUp(encodeMessage({ type: 'caught-up', version: 1 }), 1), /not a batch frame/);
    assert.throws(() => pairWithCaughtUp(good.subarray(0, 0), 1), /not a batch frame/);
    assert.throws(() => pairWithCaughtUp(encodeMessage({ type: 'batch', version: 1, complete: true, changes: [] }), -1), /not a non-negative integer/);
  });
});

describe('features in hello and welcome', () => {
  const site = new Uint8Array(16).fill(9);
  const hello: Hello = { type: 'hello', protocol: 3, siteId: site, proof: proofOf(site), schema: [], since: 0, held: [], follow: true, pull: true, push: false };
  const welcome: Welcome = { type: 'welcome', protocol: 3, siteId: site, proof: proofOf(site), schema: [], version: 0, yours: 0, push: true };

  it('none: the frames are byte for byte those of a peer from before features (no field), and read without any, as before', () => {
    for (const m of [hello, welcome]) {
      const before = encodeMessage(m);
      assert.ok(!new TextDecoder().decode(before).includes('features'));
      assert.deepEqual(encodeMessage({ ...m, features: [] }), before);
      assert.equal('features' in decodeMessage(before), false);
    }
  });

  it('a list reads back as sent, unknown names included (the receiver ignores them)', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ minLength: 1, maxLength: MAX_FEATURE_LENGTH }), { maxLength: MAX_FEATURES }), (features) => {
        for (const m of [hello, welcome]) assert.deepEqual((decodeMessage(encodeMessage({ ...m, features })) as Hello | Welcome).features ?? [], features);
      }),
    );
  });

  it('a malformed list is refused', () => {
    const bad: unknown[] = ['batch-caught-up', {}, [1], [''], ['x'.repeat(MAX_FEATURE_LENGTH + 1)], new Array(MAX_FEATURES + 1).fill('f'), null];
    for (const features of bad) {
      for (const m of [hello, welcome]) {
        const frame = encodeMessage(m);
        const json = JSON.parse(new TextDecoder().decode(frame.subarray(1))) as Record<string, unknown>;
        json.features = features;
        const text = new TextEncoder().encode(JSON.stringify(json));
        assert.equal(outcome(Uint8Array.of(frame[0]!, ...text)), 'malformed: malformed features', JSON.stringify(features));
      }
    }
  });

  it('negotiate: what both know, in the client\'s order, once each', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom<string>('a', 'b', 'c', FEATURE_BATCH_CAUGHT_UP)), fc.array(fc.constantFrom<string>('a', 'b', FEATURE_BATCH_CAUGHT_UP)), (announced, supported) => {
        const got = negotiate(announced, supported);
        assert.deepEqual(got, [...new Set(announced)].filter((f) => supported.includes(f)));
      }),
    );
    assert.deepEqual(negotiate(undefined, [FEATURE_BATCH_CAUGHT_UP]), []);
  });
});
