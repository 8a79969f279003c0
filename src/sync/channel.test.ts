/** withFirstFrame: a frame read to decide who serves the session, put back in front of the rest. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { framePair } from '../transport/memory.ts';
import { withFirstFrame } from './channel.ts';

describe('withFirstFrame', () => {
  it('reads the first frame, then the rest in order, then ends with the channel', async () => {
    const [a, b] = framePair();
    for (const n of [1, 2, 3]) await a.send(new Uint8Array(n));
    await a.close();
    const it = b[Symbol.asyncIterator]();
    const first = await it.next();
    assert.equal(first.done, false);
    const got: number[] = [];
    for await (const f of withFirstFrame(first.value as Uint8Array, it, b)) got.push(f.length);
    assert.deepEqual(got, [1, 2, 3]);
  });

  it('leaving early ends the channel reading too, and later reads are done', async () => {
    const [a, b] = framePair();
    for (const n of [1, 2, 3]) await a.send(new Uint8Array(n));
    const it = b[Symbol.asyncIterator]();
    const first = (await it.next()).value as Uint8Array;
    const wrapped = withFirstFrame(first, it, b)[Symbol.asyncIterator]();
    assert.equal((await wrapped.next()).value?.length, 1);
    assert.deepEqual(await wrapped.return!(), { done: true, value: undefined });
    assert.equal((await wrapped.next()).done, true);
    assert.equal((await it.next()).done, true, "the channel's own iterator was ended");
  });

  it('a failure of the channel reaches the reader', async () => {
    const [a, b] = framePair();
    await a.send(new Uint8Array(1));
    const it = b[Symbol.asyncIterator]();
    const first = (await it.next()).value as Uint8Array;
    const wrapped = withFirstFrame(first, it, b)[Symbol.asyncIterator]();
    await wrapped.next();
    a.abort(new Error('gone'));
    await assert.rejects(() => wrapped.next(), /reset|gone/);
  });
});
