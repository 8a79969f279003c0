/**
 * Cutting a stream of changes into bounded batches. A batch is *complete* when it ends where a
 * db_version ends: a receiver that stores it may record that version and resume after it. A
 * version larger than one batch (one huge transaction) spans several incomplete batches, so memory
 * stays bounded whatever the size; the receiver applies them together.
 */
import type { Change } from '../engine/index.ts';

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
  let batch: Change[] = [];
  let position = from;
  for (const c of changes) {
    if (batch.length > 0) {
      const boundary = c.dbVersion > position;
      // Cut between versions once the batch is half full; anywhere once it is full.
      if (batch.length >= size || (boundary && batch.length >= size / 2)) {
        yield { changes: batch, version: position, complete: boundary };
        batch = [];
      }
    }
    if (c.dbVersion > position) position = Number(c.dbVersion); // a feed's own db_versions: always exact numbers
    batch.push(c);
  }
  if (batch.length > 0) yield { changes: batch, version: position, complete: true };
}
