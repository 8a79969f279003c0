import assert from 'node:assert/strict';
import { it } from 'node:test';
import fc from 'fast-check';
import { nextRetryWait, retryDelay } from './follow.ts';

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

it('reconnect backoff doubles from the first wait up to the cap and stays there; each actual wait is jittered within it', () => {
  const schedule: number[] = [];
  for (let wait = 500, i = 0; i < 8; i++, wait = nextRetryWait(wait, 10_000)) schedule.push(wait);
  assert.deepEqual(schedule, [500, 1000, 2000, 4000, 8000, 10_000, 10_000, 10_000]);
  fc.assert(fc.property(fc.integer({ min: 1, max: 10_000 }), fc.integer({ min: 1, max: 120_000 }), (wait, max) => {
    const next = nextRetryWait(wait, max);
    return next <= max && (next === max || next === wait * 2);
  }));
  // a hub restart: 1,000 clients on their 4th attempt wait between 2 and 4 s, never less
  const waits = Array.from({ length: 1000 }, () => retryDelay(schedule[3]!));
  assert.ok(waits.every((w) => w >= 2000 && w <= 4000));
});
