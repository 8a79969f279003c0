/**
 * One direction of a session: streaming a feed's changes to the peer — batches since a version, then
 * caught-up, and, when following, new batches as the feed changes. The server sends this way, and so
 * does a pushing client: the two directions of a session are the same code.
 */
import type { ReadFilter } from '../engine/index.ts';
import type { FrameChannel } from './channel.ts';
import { encodeMessage } from './messages.ts';
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
}

async function waitForChange(feed: ChangeFeed, signal: AbortSignal, ms: number): Promise<void> {
  const timeout = new AbortController();
  const timer = setTimeout(() => timeout.abort(), ms);
  try {
    await feed.changed(AbortSignal.any([signal, timeout.signal]));
  } finally {
    clearTimeout(timer);
  }
}

/** Sends `feed`'s changes after `since`; returns the last version sent (caught up to). */
export async function sendFeed(channel: FrameChannel, feed: ChangeFeed, since: number, options: SendOptions): Promise<number> {
  const { signal } = options;
  for (;;) {
    let last = since;
    for await (const batch of feed.batches(since, { exceptSite: options.exceptSite, ...(options.read ? { read: options.read } : {}) })) {
      if (signal.aborted) return since;
      if (batch.changes.length > 0) {
        await channel.send(encodeMessage({ type: 'batch', version: batch.version, complete: batch.complete, changes: batch.changes }));
        options.onBatch?.(batch.changes.length, batch.version);
      }
      if (batch.complete) last = Math.max(last, batch.version);
    }
    since = last;
    await channel.send(encodeMessage({ type: 'caught-up', version: since }));
    options.onCaughtUp?.(since);
    if (!options.follow) return since;
    // A change made while we were sending may have signalled before we listened (a feed's signal
    // is not kept for later listeners): look at the version before waiting.
    if ((await feed.version()) > since) continue;
    // Idle sessions still say caught-up now and then: transports drop streams that stay silent.
    await waitForChange(feed, signal, options.keepAliveMs ?? KEEPALIVE_MS);
    if (signal.aborted) return since;
  }
}
