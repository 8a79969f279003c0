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

/** Groups changes (in db_version order) into batches of at most `size`. */
export function* batchByVersion(changes: Iterable<Change>, size = BATCH_CHANGES): Generator<Batch> {
  let batch: Change[] = [];
  for (const c of changes) {
    const last = batch[batch.length - 1];
    if (last) {
      const boundary = c.dbVersion !== last.dbVersion;
      // Cut between versions once the batch is half full; anywhere once it is full.
      if (batch.length >= size || (boundary && batch.length >= size / 2)) {
        yield { changes: batch, version: last.dbVersion, complete: boundary };
        batch = [];
      }
    }
    batch.push(c);
  }
  if (batch.length > 0) yield { changes: batch, version: batch[batch.length - 1]!.dbVersion, complete: true };
}
