/**
 * Error lines say each thing once (issue 8, finding 8: "one error message doubles its own prefix"):
 * a batch frame with a damaged packed value said `malformed batch: malformed batch: …`, the codec's
 * prefix and the protocol's.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeMessage, encodeMessage } from '../src/sync/messages.ts';

/** A prefix said twice in a row: `X: X: …`. */
const DOUBLED = /(?:^|: )([^:]{3,60}): \1(?::|$)/;

describe('error messages', () => {
  it('every single-byte corruption of a batch frame is refused with a message that names each part once', () => {
    const site = new Uint8Array(16).fill(7);
    const frame = encodeMessage({
      type: 'batch',
      version: 3,
      complete: true,
      changes: [{ table: 't', pk: new Uint8Array([1, 9, 1, 97]), cid: 'b', val: 'hello', colVersion: 1, dbVersion: 3, siteId: site, cl: 1, seq: 0 }],
    });
    let refused = 0;
    for (let i = 1; i < frame.length; i++) {
      for (let b = 0; b < 256; b++) {
        const f = frame.slice();
        f[i] = b;
        try {
          decodeMessage(f);
        } catch (err) {
          refused++;
          const m = (err as Error).message;
          assert.doesNotMatch(m, DOUBLED, `byte ${i} = ${b}: ${m}`);
          assert.doesNotMatch(m, /\n/);
        }
      }
    }
    assert.ok(refused > 100);
  });
});
