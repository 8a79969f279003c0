/**
 * The revision a change returns is the hash of the content it returns, and the one a later read
 * gives: in and out of batches, whatever the keys (escaped, integer-like, out of order) and values.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { DatabaseSync } from 'node:sqlite';
import fc from 'fast-check';
import { Engine, openDatabase } from '../engine/index.ts';
import { revisionOf } from './decode.ts';
import { Documents } from './documents.ts';
import type { Json } from './json.ts';
import type { Operation } from './patch.ts';

const key = fc.constantFrom('b', 'a', 'z', '9', '10', 'a~b', 'a/b', '\u{1F600}', '\uE000');
const value = fc.oneof(fc.constantFrom<Json>(0, -0, 1.5, null, true, 'x', [], {}, [1, { b: 2, a: -0 }], { y: 1, x: [2] }), fc.string({ maxLength: 3 }));
const step = fc.tuple(fc.constantFrom('add', 'replace', 'remove'), key, value, fc.boolean());

/**
 * A fresh documents database (Engine.open and the documents' CRRs) as bytes, made once and copied
 * into each run's replica with a new random site id: the same database but for the site id, without
 * the DDL and three asCrr for each of the 300 runs.
 */
let image: Uint8Array | undefined;
function freshImage(): Uint8Array {
  if (image) return image;
  const db = openDatabase(':memory:');
  const engine = Engine.open(db);
  new Documents(engine);
  image = db.serialize();
  db.close();
  // The site id is stored nowhere but where newSiteId rewrites it: no byte of it is left after.
  const check = openDatabase(':memory:');
  check.deserialize(image);
  check.exec('PRAGMA secure_delete = ON');
  newSiteId(check);
  assert.equal(Buffer.from(check.serialize()).indexOf(engine.siteId), -1, 'the site id is only in ddcp_site_id');
  check.close();
  return image;
}

function newSiteId(db: DatabaseSync): void {
  db.exec('UPDATE ddcp_site_id SET site_id = randomblob(length(site_id)) WHERE ordinal = 0');
}

function fresh(): Documents {
  const db = openDatabase(':memory:');
  db.deserialize(freshImage());
  newSiteId(db);
  return new Documents(Engine.open(db));
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
