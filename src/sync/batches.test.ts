/**
 * Batching a change stream: cuts between versions, and a filtered feed's re-sent older cells
 * (engine/changes.ts) neither lower a batch's version nor count as a version boundary.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Change } from '../engine/change.ts';
import { batchByVersion } from './batches.ts';

const change = (dbVersion: number, seq = 0): Change => ({ table: 't', pk: new Uint8Array([1]), cid: 'c', val: null, colVersion: 1, dbVersion, siteId: new Uint8Array(16), cl: 1, seq });
const shape = (cs: Iterable<Change>, size: number, from?: number) => [...batchByVersion(cs, size, from)].map((b) => [b.changes.map((c) => c.dbVersion), b.version, b.complete]);

describe('batchByVersion', () => {
  it('cuts between versions once half full, anywhere once full', () => {
    assert.deepEqual(shape([change(5), change(5), change(6), change(7), change(7), change(7), change(7)], 4), [
      [[5, 5], 5, true],
      [[6, 7, 7, 7], 7, false],
      [[7], 7, true],
    ]);
  });

  it('keeps the feed position for older cells sent later: no lower version, no boundary', () => {
    // Cells of versions 3 and 1 re-sent with a row whose change is at 9, after `since` = 8.
    assert.deepEqual(shape([change(3), change(1), change(9), change(10)], 2, 8), [
      // Complete up to `since` only: a receiver resuming from 8 is sent that row again.
      [[3, 1], 8, true],
      [[9], 9, true],
      [[10], 10, true],
    ]);
    assert.deepEqual(shape([change(9), change(3), change(1), change(10)], 2, 8), [
      [[9, 3], 9, false],
      [[1], 9, true],
      [[10], 10, true],
    ]);
  });
});
