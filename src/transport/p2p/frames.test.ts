/**
 * The libp2p frame stream's writing, against a stand-in for a libp2p stream that records what it is
 * handed (the real transport is exercised end to end in node.test.ts).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Stream } from '@libp2p/interface';
import { libp2pFrameStream } from './frames.ts';

/** Just enough of a libp2p v3 stream for writing: always writable, nothing queued. */
class RecordingStream extends EventTarget {
  readonly sent: Uint8Array[] = [];
  maxReadBufferLength = 0;
  readonly status = 'open';
  readonly readStatus = 'readable';
  readonly writeStatus = 'writable';
  readonly readableEnded = false;
  readonly writeBufferLength = 0;
  readonly readBufferLength = 0;
  send(data: Uint8Array): boolean {
    this.sent.push(data);
    return true;
  }
  abort(): void {}
  async close(): Promise<void> {}
}

describe('libp2p frame stream: writing', () => {
  it('hands a shared frame to libp2p as it is, and a copy of any other', async () => {
    const raw = new RecordingStream();
    const frames = libp2pFrameStream(raw as unknown as Stream, 'peer');
    const shared = new Uint8Array([1, 2, 3]);
    await frames.send(shared, { shared: true });
    const own = new Uint8Array([4, 5, 6]);
    await frames.send(own);
    own.fill(0); // the caller reuses its buffer once the send resolved
    assert.equal(raw.sent.length, 4, 'a length prefix and a frame each');
    assert.deepEqual([...raw.sent[0]!], [3]);
    assert.equal(raw.sent[1], shared, 'the shared frame itself, not a copy');
    assert.notEqual(raw.sent[3], own);
    assert.deepEqual([...raw.sent[3]!], [4, 5, 6], 'what was sent is not what the caller changed afterwards');
  });
});
