import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { FrameChannel } from './channel.ts';
import { decodeMessage } from './messages.ts';
import { sendFeed } from './sender.ts';
import { MemFeed } from '../../test/support/mem-feed.ts';
import { sendLog, type Sent } from '../../test/support/send-log.ts';


describe('sendFeed', () => {
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
