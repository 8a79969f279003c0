import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { frameStreamSuite, readAll, rejectsNamed } from '../../test/support/frame-stream-suite.ts';
import {
  FrameDecoder,
  FrameTooLargeError,
  FrameTruncatedError,
  encodeFrameLength,
  frameLengthBytes,
} from './frames.ts';
import { framePair } from './memory.ts';

describe('framePair (in-memory FrameStream)', () => {
  frameStreamSuite({
    pair: async (options) => {
      const [a, b] = framePair(options);
      return { a, b };
    },
    // queued at the reader ≤ high-water + the frame that crossed it, + the one being counted
    maxInFlight: (highWater, frame) => highWater + 2 * frame,
  });

  it('names its ends', () => {
    const [a, b] = framePair({ names: ['bob', 'alice'] });
    assert.equal(a.remotePeer, 'bob');
    assert.equal(b.remotePeer, 'alice');
  });

  it('a send waiting on backpressure gives up on its signal', { timeout: 5000 }, async () => {
    const [a, b] = framePair({ highWaterBytes: 10 });
    const controller = new AbortController();
    const sending = a.send(new Uint8Array(100), { signal: controller.signal });
    setTimeout(() => controller.abort(new Error('enough')), 20);
    await assert.rejects(sending, /enough/);
    a.abort(new Error('done'));
    await rejectsNamed(() => readAll(b), 'FrameStreamResetError');
  });
});

describe('FrameDecoder', () => {
  const frame = (bytes: number[]): Uint8Array => Uint8Array.from([...encodeFrameLength(bytes.length), ...bytes]);

  it('encodes lengths as LEB128 varints', () => {
    assert.deepEqual([...encodeFrameLength(0)], [0]);
    assert.deepEqual([...encodeFrameLength(127)], [127]);
    assert.deepEqual([...encodeFrameLength(128)], [0x80, 1]);
    assert.deepEqual([...encodeFrameLength(64 * 1024 * 1024)], [0x80, 0x80, 0x80, 0x20]);
    for (const n of [0, 1, 127, 128, 16383, 16384, 2 ** 21, 2 ** 28, 2 ** 35]) assert.equal(frameLengthBytes(n), encodeFrameLength(n).length);
  });

  it('reassembles frames split at every byte boundary', () => {
    const bytes = Uint8Array.from([...frame([1, 2, 3]), ...frame([]), ...frame(Array.from({ length: 300 }, (_, i) => i & 0xff))]);
    for (let cut = 0; cut <= bytes.length; cut++) {
      const d = new FrameDecoder(1000);
      const frames = [...d.push(bytes.subarray(0, cut)), ...d.push(bytes.subarray(cut))];
      assert.deepEqual(frames.map((f) => f.length), [3, 0, 300]);
      assert.ok(d.atBoundary);
      d.finish();
    }
    const d = new FrameDecoder(1000);
    const frames = [...bytes].flatMap((b) => d.push(Uint8Array.of(b)));
    assert.deepEqual(frames.map((f) => f.length), [3, 0, 300]);
    assert.equal(frames[2]![299], 299 & 0xff);
  });

  it('accepts a frame of exactly the limit and refuses one byte more', () => {
    assert.equal(new FrameDecoder(200).push(frame(Array(200).fill(1)))[0]!.length, 200);
    assert.throws(() => new FrameDecoder(200).push(encodeFrameLength(201)), FrameTooLargeError);
    assert.throws(() => new FrameDecoder(0).push(Uint8Array.of(1)), FrameTooLargeError);
  });

  it('refuses an over-long length prefix before reading it all', () => {
    const d = new FrameDecoder(64 * 1024 * 1024);
    assert.throws(() => d.push(new Uint8Array(10).fill(0xff)), (err: Error) => err.name === 'FrameTooLargeError');
    // 4 bytes can say 64 MiB; a fifth continuation byte is refused at once
    assert.throws(() => new FrameDecoder(64 * 1024 * 1024).push(Uint8Array.of(0x80, 0x80, 0x80, 0x80)), FrameTooLargeError);
  });

  it('reports a stream that ends inside a frame or its prefix', () => {
    const inPrefix = new FrameDecoder(1 << 20);
    inPrefix.push(Uint8Array.of(0x80));
    assert.throws(() => inPrefix.finish(), FrameTruncatedError);
    const inBody = new FrameDecoder(1 << 20);
    inBody.push(Uint8Array.of(10, 1, 2, 3));
    assert.throws(() => inBody.finish(), FrameTruncatedError);
    assert.equal(inBody.bufferedBytes, 3);
  });

  it('never throws anything but its named errors on random bytes', () => {
    let seed = 12345;
    const rand = (): number => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    for (let run = 0; run < 2000; run++) {
      const d = new FrameDecoder(1 + Math.floor(rand() * 5000));
      const bytes = Uint8Array.from({ length: Math.floor(rand() * 200) }, () => Math.floor(rand() * 256));
      try {
        let pos = 0;
        while (pos < bytes.length) {
          const step = 1 + Math.floor(rand() * 20);
          for (const f of d.push(bytes.subarray(pos, pos + step))) assert.ok(f.length <= d.maxFrameBytes);
          pos += step;
        }
        d.finish();
      } catch (err) {
        assert.ok(err instanceof FrameTooLargeError || err instanceof FrameTruncatedError, String(err));
      }
    }
  });
});
