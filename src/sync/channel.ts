/**
 * The port a sync session talks through: a two-way channel of whole messages ("frames") with one
 * peer, with backpressure. Transports (libp2p streams, in-process pairs, later WebSocket) implement
 * it — transport/frames.ts documents the guarantees they give — and sessions never see sockets.
 *
 * - Iterate it (once, by one consumer) to receive whole frames in order; the iteration ends when the
 *   peer closes its sending side, and throws when the channel fails (a malformed or oversized frame,
 *   the peer resetting it, or the error given to `abort`).
 * - `send()` frames; await each call (concurrent calls are sent in call order).
 * - `close()` when done sending (frames from the peer can still be read); `abort(err)` tears the
 *   channel down at once in both directions.
 */
export interface FrameChannel extends AsyncIterable<Uint8Array> {
  /**
   * Sends one frame; resolves once the transport accepted it and the backlog toward the peer is
   * under its high-water mark (it waits while the peer is slow). The frame may be reused after.
   */
  send(frame: Uint8Array, options?: SendOptions): Promise<void>;
  /** Ends our side gracefully: waits for pending sends, then tells the peer no more frames come. */
  close(options?: SendOptions): Promise<void>;
  /** Tears the channel down with an error: pending and later sends and reads fail with it. */
  abort(err: Error): void;
  /**
   * The reader is done with a frame it received and keeps no view of its bytes: a transport that
   * allocated that frame may free its memory now (optional; a no-op for others). Without it, a
   * received frame's memory goes only when the garbage collector next looks at young objects, and
   * the frames of a fast transfer pile up meanwhile.
   */
  release?(frame: Uint8Array): void;
}

export interface SendOptions {
  /** Gives up waiting for backpressure to clear; the frame may or may not have been sent. */
  signal?: AbortSignal;
  /**
   * The frame is never modified (one frame sent to many peers, hub/fanout.ts): the transport may
   * keep it without copying it.
   */
  shared?: boolean;
}

/**
 * `channel` with a frame already read from it (`first`, taken through `it`, the channel's own
 * iterator) put back in front: for a server that reads the first frame to decide who serves the rest.
 */
export function withFirstFrame(first: Uint8Array, it: AsyncIterator<Uint8Array>, channel: FrameChannel): FrameChannel {
  return {
    send: (frame, options) => channel.send(frame, options),
    close: (options) => channel.close(options),
    abort: (err) => channel.abort(err),
    // A plain iterator handing on `it`'s results, not an async generator around it: a hub session
    // reads every frame through this (a generator's resume, await and yield per frame, for nothing).
    [Symbol.asyncIterator](): AsyncIterableIterator<Uint8Array> {
      let head: Uint8Array | undefined = first;
      let over = false;
      return {
        next: () => {
          if (over) return Promise.resolve({ done: true, value: undefined });
          if (head === undefined) return it.next();
          const value = head;
          head = undefined;
          return Promise.resolve({ done: false, value });
        },
        return: async (value?: unknown) => {
          over = true;
          head = undefined;
          await it.return?.();
          return { done: true, value };
        },
        [Symbol.asyncIterator]() {
          return this;
        },
      };
    },
  };
}
