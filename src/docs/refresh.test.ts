/**
 * refresh() reports every conflict a merge recorded since the last call — however many (they are
 * read in growing pages, newest first, down to the cursor) — and none twice.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Engine, openDatabase } from '../engine/index.ts';
import { Documents } from './documents.ts';
import type { ConflictEvent } from './events.ts';

const replica = (): Documents => new Documents(Engine.open(openDatabase(':memory:')));

describe('Documents.refresh', () => {
  it('reports each of hundreds of conflicts of one merge once, and then those of the next merge only', () => {
    const a = replica();
    const b = replica();
    const n = 300;
    const fields = Object.fromEntries(Array.from({ length: n }, (_, i) => [`f${i}`, 0]));
    a.create('c', fields, { id: 'd' });
    b.applyChanges([...a.engine.changesSince(0)]);
    const seen: ConflictEvent[] = [];
    a.on('conflict', (e) => seen.push(e as ConflictEvent));
    // Both sides set every field once (same col_version): b's values are greater, so b's win on a.
    const merge = (round: number): void => {
      a.mergePatch('c', 'd', Object.fromEntries(Object.keys(fields).map((k) => [k, `a${round}`])));
      b.mergePatch('c', 'd', Object.fromEntries(Object.keys(fields).map((k) => [k, `b${round}`])));
      a.applyChanges([...b.engine.changesSince(0)]);
    };
    merge(1);
    assert.equal(seen.length, n);
    assert.deepEqual(new Set(seen.map((e) => e.path)), new Set(Object.keys(fields).map((k) => `/${k}`)));
    assert.ok(seen.every((e) => e.lost === 'a1' && e.kept === 'b1'));
    assert.deepEqual(a.refresh(), [], 'nothing new: nothing reported again');
    merge(2);
    assert.equal(seen.length, 2 * n);
    assert.ok(seen.slice(n).every((e) => e.lost === 'a2' && e.kept === 'b2'));
  });
});
