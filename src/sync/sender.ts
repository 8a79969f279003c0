/**
 * One direction of a session: streaming a feed's changes to the peer — batches since a version, then
 * caught-up, and, when following, new batches as the feed changes. The server sends this way, and so
 * does a pushing client: the two directions of a session are the same code.
 */
import type { ReadFilter } from '../engine/index.ts';
import type { FrameChannel } from './channel.ts';
import { encodeMessage, pairWithCaughtUp } from './messages.ts';
import type { ChangeFeed } from './ports.ts';
import { KEEPALIVE_MS } from './protocol.ts';

export interface SendOptions {
  /** Leave out the peer's own changes. */
  exceptSite: Uint8Array;
  /** What the peer may read (the gate's read filter); undefined: everything. */
  read?: ReadFilter;
  /** Go on sending new changes until `signal` aborts. */
  follow: boolean;
  signal: AbortSignal;
  /** How long a following sender may stay silent before repeating caught-up (ms). */
  keepAliveMs?: number;
  /** Called with each batch's change count and version, after it was handed to the channel. */
  onBatch?: (changes: number, version: number) => void;
  /** Called with each caught-up version sent. */
  onCaughtUp?: (version: number) => void;
  /**
   * The optional features (features.ts) negotiated with the peer, which a sender may use (the hub's
   * fan-out pairs a batch with its caught-up in one frame); absent: none.
   */
  features?: readonly string[];
  /**
   * Send the last batch before each caught-up together with it, as one `batch-caught-up` frame (a
   * pushing client whose server took up `push-batch-caught-up`, features.ts): one message per commit
   * instead of two. The batch waits for the next one or the caught-up; `onBatch` is told when it is sent.
   */
  pairCaughtUp?: boolean;
}

/**
 * Why a wait's signal aborts: one reason made once. `abort()` without one makes a new DOMException
 * (and its stack) every time — per commit of a pushing client, a visible share of its CPU.
 */
const WAIT_OVER = new Error('the wait for a change ended');

/**
 * The waits of one following sender for its feed to change: one keep-alive timer, re-armed, and one
 * listener on the session's signal for all of them (a pushing client waits once per commit: a new
 * timer and a composite signal each time were a visible share of its CPU).
 */
class ChangeWaits {
  readonly #feed: ChangeFeed;
  readonly #signal: AbortSignal;
  readonly #ms: number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** When the current (or last) wait began (performance.now()). */
  #startedAt = 0;
  /** The current wait's signal for the feed (a feed listens until it aborts); undefined between waits. */
  #current: AbortController | undefined;
  readonly #end = (): void => {
    const current = this.#current;
    this.#current = undefined;
    current?.abort(WAIT_OVER);
  };

  /**
   * The keep-alive timer fired: it was armed by an earlier wait, so the current one (if any) may have
   * begun since; it ends only once `ms` passed since it began, else the timer waits for the rest.
   */
  readonly #expire = (): void => {
    this.#timer = undefined;
    if (this.#current === undefined) return; // no wait now: the next one arms the timer
    const left = this.#startedAt + this.#ms - performance.now();
    if (left > 0) this.#timer = setTimeout(this.#expire, left);
    else this.#end();
  };

  constructor(feed: ChangeFeed, signal: AbortSignal, ms: number) {
    this.#feed = feed;
    this.#signal = signal;
    this.#ms = ms;
    signal.addEventListener('abort', this.#end);
  }

  /** Resolves when the feed changes, `ms` pass, or the session's signal aborts. */
  async wait(): Promise<void> {
    if (this.#signal.aborted) return;
    const current = (this.#current = new AbortController());
    // The timer is left armed between waits, not re-armed per wait (a pushing client waits once per
    // commit, a hub's follower once per wake; moving a timer costs more than reading the clock).
    this.#startedAt = performance.now();
    this.#timer ??= setTimeout(this.#expire, this.#ms);
    try {
      await this.#feed.changed(current.signal);
    } finally {
      if (this.#current === current) this.#end(); // the feed stops listening
    }
  }

  dispose(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#signal.removeEventListener('abort', this.#end);
    this.#end();
  }
}

/** A frame encoded for this one send and never touched again: the transport need not copy it. */
const FRESH = { shared: true } as const;

/** Sends `feed`'s changes after `since`; returns the last version sent (caught up to). */
export async function sendFeed(channel: FrameChannel, feed: ChangeFeed, since: number, options: SendOptions): Promise<number> {
  const { signal } = options;
  let waits: ChangeWaits | undefined;
  try {
    return await sendFrom(channel, feed, since, options, () => (waits ??= new ChangeWaits(feed, signal, options.keepAliveMs ?? KEEPALIVE_MS)));
  } finally {
    waits?.dispose();
  }
}

async function sendFrom(channel: FrameChannel, feed: ChangeFeed, since: number, options: SendOptions, waits: () => ChangeWaits): Promise<number> {
  const { signal } = options;
  for (;;) {
    let last = since;
    // Pairing: the batch last encoded, not yet sent (it goes with the caught-up if nothing follows it).
    let held: { frame: Uint8Array; changes: number; version: number } | undefined;
    for await (const batch of feed.batches(since, { exceptSite: options.exceptSite, ...(options.read ? { read: options.read } : {}) })) {
      if (signal.aborted) return since;
      if (batch.changes.length > 0) {
        const frame = encodeMessage({ type: 'batch', version: batch.version, complete: batch.complete, changes: batch.changes });
        const count = batch.changes.length;
        // The feed's generators still hold the batch while we await the peer: its changes, encoded,
        // need not live that long (see Batch.disposable).
        if (batch.disposable) batch.changes.length = 0;
        if (options.pairCaughtUp) {
          if (held) await sendHeld(channel, held, held.frame, options);
          held = { frame, changes: count, version: batch.version };
        } else {
          await channel.send(frame, FRESH);
          options.onBatch?.(count, batch.version);
        }
      }
      if (batch.complete) last = Math.max(last, batch.version);
    }
    if (signal.aborted && held) return since; // as if aborted before it: the peer never acknowledged it
    since = last;
    if (held) await sendHeld(channel, held, pairWithCaughtUp(held.frame, since), options);
    else await channel.send(encodeMessage({ type: 'caught-up', version: since }), FRESH);
    options.onCaughtUp?.(since);
    if (!options.follow) return since;
    // A change made while we were sending may have signalled before we listened (a feed's signal
    // is not kept for later listeners): look at the version before waiting.
    if ((await feed.version()) > since) continue;
    // Idle sessions still say caught-up now and then: transports drop streams that stay silent.
    await waits().wait();
    if (signal.aborted) return since;
  }
}

/** Sends a held batch's frame (alone, or paired with its caught-up) and reports the batch. */
async function sendHeld(channel: FrameChannel, held: { changes: number; version: number }, frame: Uint8Array, options: SendOptions): Promise<void> {
  await channel.send(frame, FRESH);
  options.onBatch?.(held.changes, held.version);
}
