import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MergeTurns, Slots } from './slots.ts';

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

describe('MergeTurns (databases taking merge slots)', () => {
  const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

  it('hands the asks of one turn of the event loop out together, though slots are free', async () => {
    const turns = new MergeTurns<string>(2, 3);
    const got = ['a', 'b', 'c', 'd'].map((x) => turns.take(x));
    await turn();
    const [a, b, c, d] = await Promise.all(got.map((p) => Promise.race([p, turn().then(() => 'waiting' as const)])));
    // a's turn takes b and c along (three together); d gets the second slot.
    assert.deepEqual((a as { along: string[] }).along, ['b', 'c']);
    assert.deepEqual((d as { along: string[] }).along, []);
    assert.equal(b, 'waiting', 'taken along: resolved only when the turn is done');
    assert.equal(c, 'waiting');
    (a as { done(): void }).done();
    assert.deepEqual(await Promise.all([got[1], got[2]]), [undefined, undefined]);
    (d as { done(): void }).done();
  });

  it('never hands out more turns than slots; the next goes out when one is done, with those waiting along', async () => {
    const turns = new MergeTurns<number>(1, 8);
    const first = turns.take(0);
    await turn();
    const t0 = await first;
    const later = [1, 2, 3].map((x) => turns.take(x));
    await turn();
    const pending = await Promise.race([later[0]!.then(() => 'resolved'), turn().then(() => 'waiting')]);
    assert.equal(pending, 'waiting', 'no free slot');
    t0!.done();
    const t1 = await later[0]!;
    assert.deepEqual(t1!.along, [2, 3]);
    t1!.done();
    assert.deepEqual(await Promise.all([later[1], later[2]]), [undefined, undefined]);
  });
});
