import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { FrameChannel } from './channel.ts';
import { decodeMessage } from './messages.ts';
import type { Batch } from './batches.ts';
import { sendFeed } from './sender.ts';
import { MemFeed } from '../../test/support/mem-feed.ts';
import { sendLog, type Sent } from '../../test/support/send-log.ts';


describe('sendFeed', () => {
  it("empties a disposable batch's changes once encoded, before awaiting the send, and leaves any other batch as it was", async () => {
    const feed = new MemFeed(new Uint8Array(16).fill(7));
    for (let i = 0; i < 3; i++) feed.commit();
    // Two batches of the feed's changes: the first made for this read (disposable), the second maybe shared.
    const own: Batch = { changes: feed.log.slice(0, 2), version: 2, complete: true, disposable: true };
    const shared: Batch = { changes: feed.log.slice(2, 3), version: 3, complete: true };
    const source = { ...feed, schema: () => feed.schema(), version: () => feed.version(), changed: (s: AbortSignal) => feed.changed(s), async *batches() {
      yield own;
      yield shared;
      yield { changes: [], version: 3, complete: true };
    } };
    const seen: { versions: number; sent: number; ownLeft: number; sharedLeft: number }[] = [];
    const channel = {
      send: async (frame: Uint8Array) => {
        const m = decodeMessage(frame);
        if (m.type === 'batch') seen.push({ versions: m.version, sent: m.changes.length, ownLeft: own.changes.length, sharedLeft: shared.changes.length });
      },
      close: async () => {},
      abort: () => {},
      [Symbol.asyncIterator]: () => ({ next: () => new Promise<IteratorResult<Uint8Array>>(() => {}) }),
    } as FrameChannel;
    const batches: [number, number][] = [];
    await sendFeed(channel, source, 0, { exceptSite: new Uint8Array(16), follow: false, signal: new AbortController().signal, onBatch: (n, v) => batches.push([n, v]) });
    assert.deepEqual(seen, [
      { versions: 2, sent: 2, ownLeft: 0, sharedLeft: 1 }, // sent whole, already emptied while the send is awaited
      { versions: 3, sent: 1, ownLeft: 0, sharedLeft: 1 }, // a batch not marked disposable is left alone
    ]);
    assert.deepEqual(batches, [[2, 2], [1, 3]], 'onBatch still counts the changes sent');
  });

  it('a following sender sends a change whose signal came while it was sending, without waiting for the next change', async () => {
    const feed = new MemFeed(new Uint8Array(16).fill(7));
    const stop = new AbortController();
    const versions: number[] = [];
    let gotSecond!: () => void;
    const second = new Promise<void>((resolve) => (gotSecond = resolve));
    const channel = {
      send: async (frame: Uint8Array) => {
        const m = decodeMessage(frame);
        if (m.type !== 'batch') return;
        versions.push(m.version);
        if (m.version === 1) feed.commit(); // committed while the first batch is being sent: nobody listens yet
        if (m.version === 2) gotSecond();
      },
      close: async () => {},
      abort: () => {},
      [Symbol.asyncIterator]: () => ({ next: () => new Promise<IteratorResult<Uint8Array>>(() => {}) }),
    } as FrameChannel;
    feed.commit();
    const sending = sendFeed(channel, feed, 0, { exceptSite: new Uint8Array(16), follow: true, signal: stop.signal, keepAliveMs: 60_000 });
    const timer = setTimeout(() => stop.abort(), 5_000);
    await Promise.race([second, sending]);
    clearTimeout(timer);
    stop.abort();
    await sending;
    assert.deepEqual(versions, [1, 2], 'the second change is sent at once, not at the keep-alive 60 s later');
  });

  it('a keep-alive caught-up comes only after keepAliveMs with no change since the last wait began (the timer armed by an earlier wait does not cut a later one short)', async () => {
    const ms = 60;
    const feed = new MemFeed(new Uint8Array(16).fill(7));
    const stop = new AbortController();
    const sent: Sent[] = [];
    const channel = sendLog(sent);
    const sending = sendFeed(channel, feed, 0, { exceptSite: new Uint8Array(16), follow: true, signal: stop.signal, keepAliveMs: ms });
    // commits at 25 and 50 ms: each ends a wait before its keep-alive, and a new wait begins
    await new Promise((r) => setTimeout(r, 25));
    feed.commit();
    await new Promise((r) => setTimeout(r, 25));
    feed.commit();
    const tick = (): Promise<unknown> => new Promise((r) => setTimeout(r, 1));
    while (!sent.some((m) => m.type === 'caught-up' && m.version === 2)) await tick();
    const after = sent.findIndex((m) => m.type === 'caught-up' && m.version === 2) + 1;
    while (sent.length === after) await tick();
    stop.abort();
    await sending;
    const last = sent[after - 1]!;
    const keepAlive = sent[after]!;
    assert.deepEqual([keepAlive.type, keepAlive.version], ['caught-up', 2]);
    // the keep-alive repeats caught-up: not before `ms` passed since the wait after the second commit began
    assert.ok(keepAlive.at - last.at >= ms - 2, `keep-alive ${(keepAlive.at - last.at).toFixed(1)} ms after the last caught-up`);
  });
});
