import assert from 'node:assert/strict';
import { it } from 'node:test';
import fc from 'fast-check';
import { retryDelay } from './follow.ts';

it('reconnect waits are jittered between half and all of the backoff, so clients cut off together spread out', () => {
  fc.assert(fc.property(fc.integer({ min: 1, max: 60_000 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (wait, r) => {
    const d = retryDelay(wait, () => r);
    return d >= wait / 2 && d <= wait;
  }));
  // 1,000 clients after one outage: their waits spread over the half-window, not one instant
  const waits = Array.from({ length: 1000 }, () => retryDelay(1000));
  const buckets = new Set(waits.map((w) => Math.floor(w / 50)));
  assert.equal(buckets.size, 10, 'spread over every 50 ms slot of 500–1000 ms');
});
