/**
 * The behaviour every {@link FrameStream} implementation shares, as a node:test suite run against
 * a factory of connected pairs (the in-memory pair, libp2p over TCP, over WebSocket).
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { it } from 'node:test';
import type { FrameStream } from '../../src/transport/frames.ts';

export interface StreamPair {
  a: FrameStream;
  b: FrameStream;
}

export interface SuiteOptions {
  /** A new connected pair whose streams use `highWaterBytes` and `maxFrameBytes` as given. */
  pair(options: { maxFrameBytes?: number; highWaterBytes?: number }): Promise<StreamPair>;
  /** The most bytes that may be accepted by `send()` but not yet read, for a given high-water mark. */
  maxInFlight(highWaterBytes: number, frameBytes: number): number;
  /** Bytes the backpressure test pushes through (default 8 MiB): well over `maxInFlight`. */
  backpressureBytes?: number;
  /** Per-test timeout, ms. */
  timeout?: number;
}

/** Reads every frame until the stream ends. */
export async function readAll(stream: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const frames: Uint8Array[] = [];
  for await (const frame of stream) frames.push(frame);
  return frames;
}

/** Runs `fn`, expecting it to throw an error named `name`; returns the error. */
export async function rejectsNamed(fn: () => Promise<unknown>, name: string): Promise<Error> {
  try {
    await fn();
  } catch (err) {
    assert.equal((err as Error).name, name, `expected ${name}, got ${(err as Error).name}: ${(err as Error).message}`);
    return err as Error;
  }
  assert.fail(`expected ${name}, but nothing was thrown`);
}

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const str = (b: Uint8Array): string => new TextDecoder().decode(b);

/** A deterministic frame: `n` as 4 bytes, then filler of `size - 4` bytes derived from `n`. */
function numbered(n: number, size: number): Uint8Array {
  const frame = new Uint8Array(Math.max(4, size));
  new DataView(frame.buffer).setUint32(0, n);
  for (let i = 4; i < frame.length; i++) frame[i] = (n + i) & 0xff;
  return frame;
}

function checkNumbered(frame: Uint8Array, n: number): void {
  assert.equal(new DataView(frame.buffer, frame.byteOffset).getUint32(0), n, `frame ${n} out of order`);
  for (let i = 4; i < frame.length; i++) {
    if (frame[i] !== ((n + i) & 0xff)) assert.fail(`frame ${n} corrupted at byte ${i}`);
  }
}

export function frameStreamSuite(options: SuiteOptions): void {
  const timeout = options.timeout ?? 20_000;
  const pair = options.pair;

  it('exchanges frames both ways, an empty frame included, and half-closes', { timeout }, async () => {
    const { a, b } = await pair({});
    const bSide = (async () => {
      const got = (await readAll(b)).map(str);
      await b.send(text(`got ${got.length}`));
      for (const s of got) await b.send(text(s.toUpperCase()));
      await b.close();
      return got;
    })();
    bSide.catch(() => {}); // awaited below; a failure must not surface early as unhandled
    await a.send(text('hello'));
    await a.send(new Uint8Array(0));
    await a.send(text('world'));
    await a.close();
    const replies = (await readAll(a)).map(str);
    assert.deepEqual(await bSide, ['hello', '', 'world']);
    assert.deepEqual(replies, ['got 3', 'HELLO', '', 'WORLD']);
    assert.ok(a.remotePeer.length > 0 && b.remotePeer.length > 0);
  });

  it('delivers 2,000 frames each way, in order, while both sides send at once', { timeout }, async () => {
    const { a, b } = await pair({});
    const N = 2000;
    const sender = async (s: FrameStream): Promise<void> => {
      for (let i = 0; i < N; i++) await s.send(numbered(i, 4 + ((i * 37) % 3000)));
      await s.close();
    };
    const reader = async (s: FrameStream): Promise<number> => {
      let n = 0;
      for await (const frame of s) checkNumbered(frame, n++);
      return n;
    };
    const [, , fromA, fromB] = await Promise.all([sender(a), sender(b), reader(b), reader(a)]);
    assert.equal(fromA, N);
    assert.equal(fromB, N);
  });

  it('carries a 50 MB frame when the limit allows it', { timeout: Math.max(timeout, 30_000) }, async () => {
    const { a, b } = await pair({ maxFrameBytes: 64 * 1024 * 1024 });
    const big = new Uint8Array(50_000_000);
    for (let i = 0; i < big.length; i += 4096) big[i] = (i >>> 12) & 0xff;
    big[big.length - 1] = 0x5a;
    const sending = (async () => {
      await a.send(big);
      await a.send(text('after'));
      await a.close();
    })();
    sending.catch(() => {}); // awaited below
    const frames = await readAll(b);
    await sending;
    assert.equal(frames.length, 2);
    const got = frames[0]!;
    assert.equal(got.length, 50_000_000);
    for (let i = 0; i < got.length; i += 4096) if (got[i] !== ((i >>> 12) & 0xff)) assert.fail(`byte ${i} differs`);
    assert.equal(got[got.length - 1], 0x5a);
    assert.equal(str(frames[1]!), 'after');
    await b.close();
  });

  it('refuses to send a frame over the limit and stays usable', { timeout }, async () => {
    const { a, b } = await pair({ maxFrameBytes: 1000 });
    await rejectsNamed(() => a.send(new Uint8Array(1001)), 'FrameTooLargeError');
    await a.send(new Uint8Array(1000));
    await a.close();
    const frames = await readAll(b);
    assert.deepEqual(frames.map((f) => f.length), [1000]);
    await b.close();
  });

  it('frames sent before close() are delivered even if close() is not awaited after them', { timeout }, async () => {
    const { a, b } = await pair({ highWaterBytes: 1024 });
    const sends = [a.send(new Uint8Array(4000)), a.send(text('last'))];
    const closing = a.close();
    const again = a.close();
    const [frames] = await Promise.all([readAll(b), ...sends, closing, again]);
    assert.deepEqual(frames.map((f) => f.length), [4000, 4]);
    await b.close();
  });

  it('send after close fails with FrameStreamClosedError', { timeout }, async () => {
    const { a, b } = await pair({});
    await a.close();
    await rejectsNamed(() => a.send(text('late')), 'FrameStreamClosedError');
    assert.deepEqual(await readAll(b), []);
    await b.close();
  });

  it('abort reaches the peer as FrameStreamResetError; the aborting side gets its own error', { timeout }, async () => {
    const { a, b } = await pair({});
    await a.send(text('one'));
    const bReading = (async () => {
      const got: string[] = [];
      try {
        for await (const f of b) got.push(str(f));
      } catch (err) {
        return { got, err: err as Error };
      }
      return { got, err: null };
    })();
    await sleep(50);
    const reason = new Error('changed my mind');
    reason.name = 'ChangedMindError';
    a.abort(reason);
    const { got, err } = await bReading;
    assert.deepEqual(got, ['one']);
    assert.equal(err?.name, 'FrameStreamResetError');
    await rejectsNamed(() => a.send(text('x')), 'ChangedMindError');
    await rejectsNamed(() => readAll(a), 'ChangedMindError');
    // the peer's sends fail once it has learned of the reset
    await rejectsNamed(async () => {
      for (let i = 0; i < 100; i++) {
        await b.send(text('y'));
        await sleep(5);
      }
    }, 'FrameStreamResetError');
  });

  it('a stream is read by one consumer, once', { timeout }, async () => {
    const { a, b } = await pair({});
    await a.close();
    assert.deepEqual(await readAll(b), []);
    await rejectsNamed(() => readAll(b), 'FrameError');
    await b.close();
  });

  it('a reader that stops early does not block the sender', { timeout }, async () => {
    const { a, b } = await pair({ highWaterBytes: 64 * 1024 });
    const sending = (async () => {
      for (let i = 0; i < 200; i++) await a.send(numbered(i, 16 * 1024));
      await a.close();
    })();
    sending.catch(() => {}); // awaited below
    for await (const frame of b) {
      checkNumbered(frame, 0);
      break;
    }
    await sending; // 3 MB more than the high-water mark: only completes if b discards
    await b.close();
  });

  it('backpressure: a fast sender waits for a slow reader', { timeout }, async () => {
    const highWater = 64 * 1024;
    const frameBytes = 16 * 1024;
    const { a, b } = await pair({ highWaterBytes: highWater });
    let accepted = 0;
    let read = 0;
    let maxGap = 0;
    const total = options.backpressureBytes ?? 8 * 1024 * 1024;
    const sending = (async () => {
      const frame = new Uint8Array(frameBytes);
      while (accepted < total) {
        await a.send(frame);
        accepted += frameBytes;
        maxGap = Math.max(maxGap, accepted - read);
      }
      await a.close();
    })();
    sending.catch(() => {}); // awaited below
    await sleep(200); // let the sender run ahead as far as it can
    const aheadWhileIdle = accepted;
    for await (const frame of b) {
      read += frame.length;
      if (read % (256 * 1024) === 0) await sleep(1);
    }
    await sending;
    assert.equal(read, total);
    if (process.env.DDCP_TEST_VERBOSE) console.log(`backpressure: ahead of an idle reader ${aheadWhileIdle}, max in flight ${maxGap}`);
    const bound = options.maxInFlight(highWater, frameBytes);
    assert.ok(aheadWhileIdle <= bound, `sender got ${aheadWhileIdle} bytes ahead of an idle reader (bound ${bound})`);
    assert.ok(maxGap <= bound, `up to ${maxGap} bytes were in flight (bound ${bound})`);
    await b.close();
  });
}
