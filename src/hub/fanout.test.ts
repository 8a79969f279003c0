/** The fan-out's follower waits, over a source in memory (the stores' fan-out: test/hub-fanout*.test.ts). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { FrameChannel } from '../sync/channel.ts';
import { decodeMessage } from '../sync/messages.ts';
import type { ChangeFeed } from '../sync/ports.ts';
import { Fanout, type FanoutSource } from './fanout.ts';
import { FEATURE_BATCH_CAUGHT_UP } from '../sync/features.ts';
import { MemFeed } from '../../test/support/mem-feed.ts';
import { sendLog, type Sent } from '../../test/support/send-log.ts';

/** A database in memory: one change per commit, told once after it (as the SQLite store tells of a group commit). */
class MemSource implements FanoutSource {
  readonly wakesOnce = true;
  readonly feed = new MemFeed(new Uint8Array(16).fill(7));
  readonly log = this.feed.log;
  commit(): void {
    this.feed.commit();
  }
  async directVersions(): Promise<Map<number, Uint8Array>> {
    return new Map();
  }
  onChanged(listener: () => void): () => void {
    return this.feed.onChanged(listener);
  }
}

describe('hub fan-out: a follower', () => {
  for (const listens of [true, false]) {
    it(`a keep-alive caught-up comes only after keepAliveMs with no change since its wait began: the timer armed by an earlier wait does not cut a later one short (${listens ? 'one listener' : 'a wait per change'})`, async () => {
      const ms = 60;
      const source = new MemSource();
      if (!listens) (source as { onChanged?: unknown }).onChanged = undefined;
      const stop = new AbortController();
      const sent: Sent[] = [];
      const channel = sendLog(sent);
      const sending = new Fanout(source).send(channel, 0, { exceptSite: new Uint8Array(16), follow: true, signal: stop.signal, keepAliveMs: ms });
      // commits at 25 and 50 ms: each ends a wait before its keep-alive, and a new wait begins
      await new Promise((r) => setTimeout(r, 25));
      source.commit();
      await new Promise((r) => setTimeout(r, 25));
      source.commit();
      const tick = (): Promise<unknown> => new Promise((r) => setTimeout(r, 1));
      while (!sent.some((m) => m.type === 'caught-up' && m.version === 2)) await tick();
      const after = sent.findIndex((m) => m.type === 'caught-up' && m.version === 2) + 1;
      while (sent.length === after) await tick();
      stop.abort();
      assert.equal(await sending, 2);
      const last = sent[after - 1]!;
      const keepAlive = sent[after]!;
      assert.deepEqual([keepAlive.type, keepAlive.version], ['caught-up', 2]);
      assert.ok(keepAlive.at - last.at >= ms - 2, `keep-alive ${(keepAlive.at - last.at).toFixed(1)} ms after the last caught-up`);
      assert.deepEqual(
        sent.filter((m) => m.type === 'batch').map((m) => m.version),
        [1, 2],
        'each change sent once',
      );
    });
  }

  it('with a source that takes a listener, the fan-out listens once for its whole watch, not once per change; every change reaches every follower once, in order', async () => {
    const source = new MemSource();
    let waits = 0;
    const changed = source.feed.changed.bind(source.feed);
    (source.feed as { changed: ChangeFeed['changed'] }).changed = (signal) => {
      waits++;
      return changed(signal);
    };
    const stop = new AbortController();
    const fanout = new Fanout(source);
    const got = [0, 1, 2].map(() => [] as number[]);
    const sending = got.map((versions) =>
      fanout.send(
        {
          send: async (frame: Uint8Array) => {
            const m = decodeMessage(frame);
            if (m.type === 'batch') versions.push(...m.changes.map((c) => Number(c.dbVersion)));
          },
          close: async () => {},
          abort: () => {},
          [Symbol.asyncIterator]: () => ({ next: () => new Promise<IteratorResult<Uint8Array>>(() => {}) }),
        } as FrameChannel,
        0,
        { exceptSite: new Uint8Array(16), follow: true, signal: stop.signal },
      ),
    );
    for (let k = 0; k < 20; k++) {
      source.commit();
      if (k % 3 === 0) source.commit(); // two changes told in one turn
      await new Promise((r) => setImmediate(r));
    }
    const all = Array.from({ length: source.log.length }, (_, i) => i + 1);
    while (got.some((g) => g.length < all.length)) await new Promise((r) => setTimeout(r, 1));
    stop.abort();
    await Promise.all(sending);
    for (const g of got) assert.deepEqual(g, all);
    assert.equal(waits, 0, 'no wait on the feed per change');
  });

  it('a follower that negotiated batch-caught-up is sent one frame per wake, its batch and caught-up paired; the pair is made once per wake for every such follower, and the others get the two frames', async () => {
    const source = new MemSource();
    const stop = new AbortController();
    const fanout = new Fanout(source);
    const frames = [0, 1, 2, 3].map(() => [] as Uint8Array[]);
    const sending = frames.map((got, i) =>
      fanout.send(
        {
          send: async (frame: Uint8Array) => void got.push(frame),
          close: async () => {},
          abort: () => {},
          [Symbol.asyncIterator]: () => ({ next: () => new Promise<IteratorResult<Uint8Array>>(() => {}) }),
        } as FrameChannel,
        0,
        { exceptSite: new Uint8Array(16), follow: true, signal: stop.signal, ...(i < 3 ? { features: [FEATURE_BATCH_CAUGHT_UP] } : {}) },
      ),
    );
    const caughtUpTo = (got: Uint8Array[], v: number): boolean => got.some((f) => {
      const m = decodeMessage(f);
      return (m.type === 'caught-up' || m.type === 'batch-caught-up') && m.version >= v;
    });
    while (!frames.every((got) => caughtUpTo(got, 0))) await new Promise((r) => setTimeout(r, 1));
    const n = 10;
    for (let k = 1; k <= n; k++) {
      source.commit();
      while (!frames.every((got) => caughtUpTo(got, k))) await new Promise((r) => setTimeout(r, 1));
    }
    stop.abort();
    await Promise.all(sending);
    for (const got of frames.slice(0, 3)) {
      const wakes = got.slice(1).map((f) => decodeMessage(f));
      assert.deepEqual(wakes.map((m) => m.type), new Array(n).fill('batch-caught-up'));
      assert.deepEqual(wakes.map((m) => (m.type === 'batch-caught-up' ? [m.version, m.batch.changes.map((c) => Number(c.dbVersion))] : [])), Array.from({ length: n }, (_, i) => [i + 1, [i + 1]]));
      got.slice(1).forEach((f, i) => assert.equal(f, frames[0]![i + 1], 'the same frame object for every follower'));
    }
    assert.deepEqual(frames[3]!.slice(1).map((f) => decodeMessage(f).type), Array.from({ length: 2 * n }, (_, i) => (i % 2 === 0 ? 'batch' : 'caught-up')));
    assert.equal(fanout.stats.paired, n, 'one pairing per wake');
  });
});
