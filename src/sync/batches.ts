/**
 * Cutting a stream of changes into bounded batches, only between db_versions: a batch never holds
 * part of a version, so a receiver that stores a batch and records its version can resume there.
 */
import type { Change } from '../engine/change.ts';

export interface Batch {
  changes: Change[];
  /** The source is complete up to this db_version once this batch is stored. */
  version: number;
}

/** Default number of changes per batch (a batch may exceed it to finish a db_version). */
export const BATCH_CHANGES = 5_000;

/** Groups changes (in db_version order) into batches of about `size`, cut between versions. */
export function* batchByVersion(changes: Iterable<Change>, size = BATCH_CHANGES): Generator<Batch> {
  let batch: Change[] = [];
  for (const c of changes) {
    const last = batch[batch.length - 1];
    if (last && batch.length >= size && c.dbVersion !== last.dbVersion) {
      yield { changes: batch, version: last.dbVersion };
      batch = [];
    }
    batch.push(c);
  }
  if (batch.length > 0) yield { changes: batch, version: batch[batch.length - 1]!.dbVersion };
}
