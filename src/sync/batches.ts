/**
 * Cutting a stream of changes into bounded batches. A batch is *complete* when it ends where a
 * db_version ends: a receiver that stores it may record that version and resume after it. A
 * version larger than one batch (one huge transaction) spans several incomplete batches, so memory
 * stays bounded whatever the size; the receiver applies them together.
 */
import type { Change } from '../engine/index.ts';
import type { BatchScan } from './codec.ts';
import { keepHiddenClasses } from '../base/hidden-classes.ts';

export interface Batch {
  changes: Change[];
  /** The db_version of the last change (or, for the final empty batch, the source's version). */
  version: number;
  /** The batch ends at a version boundary: the source is complete up to `version` once it is stored. */
  complete: boolean;
  /**
   * The changes as the codec encoded them, when they arrived that way (a received frame): a store
   * can keep these bytes instead of encoding the changes again.
   */
  encoded?: Uint8Array;
  /**
   * A received frame's change count and distinct (table, column) pairs, known before `changes` is
   * decoded (a received batch decodes its changes when they are first asked for, so one that is
   * only stored never makes them).
   */
  scan?: BatchScan;
  /**
   * Made for this one read and referenced by nothing else the reader does not own: once its changes
   * are encoded the reader may empty `changes` (a sender does, so that the 5,000 change objects are
   * not kept alive while it awaits the peer — kept, they outlive young-generation collections and
   * pile up in V8's old generation). Absent: the batch may be shared (a cache, a fan-out), leave it.
   */
  disposable?: boolean;
}

/** How many changes a batch holds (without decoding a received one's). */
export function batchSize(batch: Batch): number {
  return batch.scan ? batch.scan.count : batch.changes.length;
}

/** Default number of changes per batch. */
export const BATCH_CHANGES = 5_000;

/**
 * Groups changes into batches of at most `size`. The changes come in position order: db_version
 * order, except that a filtered feed may re-send a row's older cells next to a newer change of the
 * row (engine/changes.ts). A batch's version is therefore the highest db_version seen so far (never
 * below `from`, the version the feed starts after), and only a rise of it is a version boundary.
 */
export function* batchByVersion(changes: Iterable<Change>, size = BATCH_CHANGES, from = 0): Generator<Batch> {
  const cut = new BatchCutter(size, from);
  for (const c of changes) {
    const full = cut.add(c);
    if (full) yield full;
  }
  const last = cut.end();
  if (last) yield last;
}

/** {@link batchByVersion} over changes that arrive asynchronously (a store read over the network). */
export async function* batchByVersionAsync(changes: AsyncIterable<Change>, size = BATCH_CHANGES, from = 0): AsyncGenerator<Batch> {
  const cut = new BatchCutter(size, from);
  for await (const c of changes) {
    const full = cut.add(c);
    if (full) yield full;
  }
  const last = cut.end();
  if (last) yield last;
}

/** The cutting rule, one change at a time: `add` returns the batch a change closes, if any. */
class BatchCutter {
  private batch: Change[] = [];
  private position: number;
  private readonly size: number;
  constructor(size: number, from: number) {
    this.size = size;
    this.position = from;
  }
  add(c: Change): Batch | undefined {
    let out: Batch | undefined;
    if (this.batch.length > 0) {
      const boundary = c.dbVersion > this.position;
      // Cut between versions once the batch is half full; anywhere once it is full.
      if (this.batch.length >= this.size || (boundary && this.batch.length >= this.size / 2)) {
        out = { changes: this.batch, version: this.position, complete: boundary };
        this.batch = [];
      }
    }
    if (c.dbVersion > this.position) this.position = Number(c.dbVersion); // a feed's own db_versions: always exact numbers
    this.batch.push(c);
    return out;
  }
  end(): Batch | undefined {
    return this.batch.length > 0 ? { changes: this.batch, version: this.position, complete: true } : undefined;
  }
}

// One kept, so that a full collection between feeds doesn't throw away `add`'s optimized code (base/hidden-classes.ts).
keepHiddenClasses(new BatchCutter(0, 0));
