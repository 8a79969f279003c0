import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Slots } from './slots.ts';

describe('Slots (merges reserving pool connections)', () => {
  it('never lets more than n hold a slot, and serves waiters in the order they asked', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: -1, max: 5 }), fc.array(fc.nat({ max: 3 }), { minLength: 1, maxLength: 30 }), async (n, holds) => {
        const slots = new Slots(n);
        const limit = Math.max(1, n);
        let held = 0;
        let most = 0;
        const started: number[] = [];
        await Promise.all(
          holds.map(async (ticks, i) => {
            await slots.acquire();
            started.push(i);
            held++;
            most = Math.max(most, held);
            for (let t = 0; t < ticks; t++) await Promise.resolve();
            held--;
            slots.release();
          }),
        );
        assert.ok(most <= limit, `${most} held at once, limit ${limit}`);
        assert.equal(held, 0);
        // the first `limit` start at once; after them, in the order asked
        assert.deepEqual(started.slice(limit), holds.map((_h, i) => i).slice(limit));
      }),
    );
  });
});
