/**
 * The revision a change returns is the hash of the content it returns, and the one a later read
 * gives: in and out of batches, whatever the keys (escaped, integer-like, out of order) and values.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Engine } from '../engine/index.ts';
import { freshCopy } from '../../test/support/fresh-copy.ts';
import { revisionOf } from './decode.ts';
import { Documents } from './documents.ts';
import type { Json } from './json.ts';
import type { Operation } from './patch.ts';

const key = fc.constantFrom('b', 'a', 'z', '9', '10', 'a~b', 'a/b', '\u{1F600}', '\uE000');
const value = fc.oneof(fc.constantFrom<Json>(0, -0, 1.5, null, true, 'x', [], {}, [1, { b: 2, a: -0 }], { y: 1, x: [2] }), fc.string({ maxLength: 3 }));
const step = fc.tuple(fc.constantFrom('add', 'replace', 'remove'), key, value, fc.boolean());

/** A fresh documents database (Engine.open and the documents' CRRs), copied for each of the 300 runs. */
function fresh(): Documents {
  return new Documents(Engine.open(freshCopy('documents', (_db, engine) => new Documents(engine))));
}

describe('revisions', () => {
  it("a change's revision is its content's and a read's", () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 12 }), (steps) => {
        const docs = fresh();
        const first = docs.create('c', { z: 1, b: { d: 1, c: 2 }, '10': 'ten', 'a~b': [] }, { id: 'd' });
        assert.equal(first.revision, revisionOf(first.version, first.content));
        const check = (d: { version: number; revision: string; content: Json }): void => {
          assert.equal(d.revision, revisionOf(d.version, d.content as never));
          assert.equal(d.revision, docs.get('c', 'd')!.revision);
        };
        for (const [op, k, v, batched] of steps) {
          const path = '/' + k.replaceAll('~', '~0').replaceAll('/', '~1');
          const patch: Operation[] = [op === 'remove' ? { op, path } : { op, path, value: v }];
          let d;
          try {
            d = batched ? docs.batch(() => docs.update('c', 'd', patch)) : docs.update('c', 'd', patch);
          } catch {
            continue; // e.g. removing or replacing a member that isn't there
          }
          check(d);
        }
      }),
      { numRuns: 300 },
    );
  });
});
