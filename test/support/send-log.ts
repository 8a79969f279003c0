/**
 * A channel that only records what a sender sends it: each batch and caught-up with its version and
 * when it was sent (the keep-alive tests of sync/sender.ts and hub/fanout.ts); it never reads.
 */
import type { FrameChannel } from '../../src/sync/channel.ts';
import { decodeMessage } from '../../src/sync/messages.ts';

/** One batch or caught-up as sent, at `performance.now()`. */
export interface Sent {
  type: string;
  version: number;
  at: number;
}

/** A write-only channel appending every batch and caught-up sent on it to `sent`. */
export function sendLog(sent: Sent[]): FrameChannel {
  return {
    send: async (frame: Uint8Array) => {
      const m = decodeMessage(frame);
      if (m.type === 'batch' || m.type === 'caught-up') sent.push({ type: m.type, version: m.version, at: performance.now() });
    },
    close: async () => {},
    abort: () => {},
    [Symbol.asyncIterator]: () => ({ next: () => new Promise<IteratorResult<Uint8Array>>(() => {}) }),
  } as FrameChannel;
}
