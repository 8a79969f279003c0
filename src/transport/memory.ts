/**
 * An in-memory pair of connected {@link FrameStream}s, for testing protocols without a network.
 * It behaves like a libp2p frame stream: frames arrive whole and in order, each end queues at most
 * `highWaterBytes` (plus one frame) of unread frames before the other end's `send()` waits, frames
 * are copied (the sender may reuse its buffer), `close()` half-closes, `abort()` resets both ways
 * (the other end sees a {@link FrameStreamResetError}), and the same frame size limit applies.
 */
import { BaseFrameStream } from './frame-stream.ts';
import { FrameStreamResetError, frameOptions, type FrameStream, type FrameStreamOptions, type SendOptions } from './frames.ts';

export interface FramePairOptions extends FrameStreamOptions {
  /** The `remotePeer` of the first and of the second stream (default 'memory-b' and 'memory-a'). */
  names?: [string, string];
}

/** Two connected in-memory frame streams: what one sends, the other reads. */
export function framePair(options: FramePairOptions = {}): [FrameStream, FrameStream] {
  const resolved = frameOptions(options);
  const [nameOfB, nameOfA] = options.names ?? ['memory-b', 'memory-a'];
  const a = new MemoryFrameStream(nameOfB, resolved);
  const b = new MemoryFrameStream(nameOfA, resolved);
  a.peer = b;
  b.peer = a;
  return [a, b];
}

/** One end: a frame written here is pushed straight into the other end's inbox. */
class MemoryFrameStream extends BaseFrameStream {
  peer!: MemoryFrameStream;

  protected override async write(frame: Uint8Array, options: SendOptions): Promise<void> {
    this.peer.inbox.push(frame.slice());
    await this.waitFor(this.peer.inbox.belowHighWater(), options.signal);
  }

  protected override endWriting(): void {
    this.peer.inbox.end();
  }

  override abort(err: Error): void {
    if (this.error !== null) return;
    this.fail(err, true);
    if (this.peer.error === null) this.peer.fail(new FrameStreamResetError(`${this.peer.remotePeer} reset the stream`, { cause: err }), false);
  }
}
