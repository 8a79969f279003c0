/** Channel wrappers for fault-injection tests. */
import type { FrameChannel } from '../../src/sync/channel.ts';

/** Wraps a channel so that reading the frame after the first `frames` tears the connection down. */
export function cutAfter(channel: FrameChannel, frames: number): FrameChannel {
  let read = 0;
  const it = channel[Symbol.asyncIterator]();
  return {
    send: (f: Uint8Array) => channel.send(f),
    close: () => channel.close(),
    abort: (e: Error) => channel.abort(e),
    [Symbol.asyncIterator]: () => ({
      next: async () => {
        if (read++ === frames) {
          channel.abort(new Error('connection cut'));
          throw new Error('connection cut');
        }
        return it.next();
      },
    }),
  };
}
