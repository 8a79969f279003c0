/**
 * Telling an ordinary disconnect (the peer closed or reset its stream or connection, or went away)
 * from a real failure, so a server logs the first as plain information and only the second as a
 * problem with its reason.
 */
import type { FrameChannel } from '../sync/channel.ts';

const DISCONNECTS = new Set(['FrameStreamResetError', 'StreamResetError', 'StreamAbortedError', 'ConnectionClosedError', 'MuxerClosedError']);

/** Whether `err` only says the peer (or its connection) went away. */
export function isDisconnect(err: unknown): boolean {
  return err instanceof Error && DISCONNECTS.has(err.name);
}

/** A channel that remembers the first error its reads or sends failed with. */
export interface WatchedChannel {
  channel: FrameChannel;
  /** The first error seen, if any. */
  failure(): Error | undefined;
}

/** Wraps `channel` to see how it failed (the session using it reports only a line of text). */
export function watchChannel(channel: FrameChannel): WatchedChannel {
  let first: Error | undefined;
  const note = (err: unknown): never => {
    first ??= err as Error;
    throw err;
  };
  const watched: FrameChannel = {
    send: (frame, options) => channel.send(frame, options).catch(note),
    close: (options) => channel.close(options).catch(note),
    abort: (err) => channel.abort(err),
    [Symbol.asyncIterator]() {
      const it = channel[Symbol.asyncIterator]();
      return {
        next: () => it.next().catch(note),
        return: (value?: unknown) => (it.return ? it.return(value) : Promise.resolve({ done: true as const, value: undefined })),
      };
    },
  };
  return { channel: watched, failure: () => first };
}
