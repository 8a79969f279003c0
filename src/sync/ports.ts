/**
 * The ports a sync session talks to on each side, whatever stores the changes (SQLite today; other
 * stores later). The serving side reads from a {@link ChangeFeed} and hands pushed changes to a
 * {@link ChangeSink}; a client pushes from its own feed.
 */
import type { ReadFilter, TableInfo } from '../engine/index.ts';
import type { Gate } from './gate.ts';
import type { Batch } from './batches.ts';

/** What a feed is asked for. */
export interface FeedRequest {
  /** Leave out changes that originated at this site (the peer asking: it has them). */
  exceptSite: Uint8Array;
  /** Only what the asking peer may read (the gate's read filter for it); undefined: everything. */
  read?: ReadFilter;
}

/** A value, or a promise of it: a port backed by a remote store (PostgreSQL) answers asynchronously. */
export type MaybePromise<T> = T | Promise<T>;

/** A store's changes, read as bounded batches (see batches.ts). */
export interface ChangeFeed {
  readonly siteId: Uint8Array;
  /** Its CRR tables. */
  schema(): MaybePromise<TableInfo[]>;
  /** Its current db_version (after sealing pending writes). */
  version(): MaybePromise<number>;
  /**
   * Its changes after `since` as batches, ending with an empty complete batch at the version it was
   * at when the read began. Reads from a snapshot of its own: the session awaits the network between
   * batches while others write.
   */
  batches(since: number, request: FeedRequest): AsyncIterable<Batch>;
  /** Resolves when the store may have changed, or when `signal` aborts. */
  changed(signal: AbortSignal): Promise<void>;
}

/** A source transaction of a pushed batch that was not applied, and why. */
export interface Refusal {
  /** The pusher's db_version of the refused transaction. */
  version: number;
  message: string;
}

/** What became of a pushed batch once it was handled. */
export interface Received {
  /** The pusher's version now durably handled (merged or refused) here. */
  version: number;
  /** Changes that changed something here. */
  applied: number;
  refused: Refusal[];
}

/** Who pushes, for the sink's bookkeeping and its history. */
export interface PushOrigin {
  /** The pushing database's site id. */
  siteId: Uint8Array;
  /** Its address. */
  peer: string;
  /**
   * The gate its changes pass (schema fit, and `peer`'s write policy): the sink merges through it
   * (`admit`), or, for a store without an Engine, applies `peer`'s `writeGuard` itself.
   */
  gate: Pick<Gate, 'admit' | 'writeGuard'>;
  /** A label for the history and logs (a remote's name, an address). */
  source: string;
}

/** A store that takes pushed changes. */
export interface ChangeSink {
  /** The version of `siteId` this store holds (pushes resume after it). */
  trackedVersion(siteId: Uint8Array): MaybePromise<number>;
  /**
   * Binds a client's site id to its authenticated address (first binding wins); throws to refuse a
   * second identity claiming a bound site id. Called for every session before anything is recorded.
   */
  bindSite(siteId: Uint8Array, address: string): MaybePromise<void>;
  /**
   * Takes one pushed batch. An incomplete batch (part of a huge transaction) is kept until the
   * rest arrives and returns undefined; a complete one is merged — one transaction per source
   * transaction, or refused whole — and the pusher's tracked version advances only after commit.
   */
  receive(batch: Batch, from: PushOrigin): MaybePromise<Received | undefined>;
  /** The pusher is caught up to `version` with nothing more to send: remember we hold it. */
  caughtUp(version: number, from: PushOrigin): MaybePromise<void>;
  /** Forgets a pusher's incomplete batches (a session was cut mid-transaction). */
  dropIncomplete(from: PushOrigin): MaybePromise<void>;
}
