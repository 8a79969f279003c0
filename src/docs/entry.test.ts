/**
 * A history entry's stored value: any entry round-trips exactly (paths left out of reverse ops
 * when they repeat the forward ones), damaged bytes are refused with a typed error, and a damaged
 * entry that arrived from a peer stops neither the events of other changes nor anything else.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Engine, openDatabase } from '../engine/index.ts';
import { Documents } from './documents.ts';
import { decodeEntry, encodeEntry, EntryFormatError, type EntryBody } from './entry.ts';
import type { Json } from './json.ts';
import type { Operation } from './patch.ts';
import { CHANGES_TABLE } from './schema.ts';

const pathArb = fc.oneof(fc.constant(''), fc.array(fc.string(), { minLength: 1, maxLength: 3 }).map((ts) => ts.map((t) => '/' + t.replaceAll('~', '~0').replaceAll('/', '~1')).join('')));
const opArb: fc.Arbitrary<Operation> = fc.oneof(
  fc.record({ op: fc.constantFrom('add' as const, 'replace' as const), path: pathArb, value: fc.jsonValue() as fc.Arbitrary<Json> }),
  fc.record({ op: fc.constant('remove' as const), path: pathArb }),
);
const bodyArb: fc.Arbitrary<EntryBody> = fc
  .record({ at: fc.nat(), op: fc.constantFrom('create' as const, 'update' as const, 'delete' as const), forward: fc.array(opArb, { maxLength: 4 }), reverse: fc.array(opArb, { maxLength: 4 }), author: fc.option(fc.string(), { nil: undefined }), undoes: fc.option(fc.nat(), { nil: undefined }), samePaths: fc.boolean() })
  .map(({ samePaths, author, undoes, ...e }) => {
    const body: EntryBody = samePaths ? { ...e, reverse: e.reverse.map((o, i) => ({ ...o, path: e.forward[i]?.path ?? o.path })) } : e;
    if (author !== undefined) body.author = author;
    if (undoes !== undefined) body.undoes = undoes;
    return body;
  });

describe('documents: history entry values', () => {
  it('round-trip exactly', () => {
    fc.assert(
      fc.property(bodyArb, (e) => {
        // JSON values as JSON.parse gives them back (-0 becomes 0).
        assert.deepEqual(decodeEntry(encodeEntry(e)), JSON.parse(JSON.stringify(e)));
      }),
      { numRuns: 300 },
    );
  });

  it('damaged values are refused with EntryFormatError', () => {
    const good = encodeEntry({ at: 1, op: 'update', forward: [{ op: 'replace', path: '/a', value: 'x' }], reverse: [{ op: 'replace', path: '/a', value: 'y' }] });
    for (const bad of [good.slice(0, -1), Uint8Array.of(...good, 0), Uint8Array.of(9, ...good.slice(1)), Uint8Array.of(1, 0xf0, ...good.slice(2)), 'text', null]) {
      assert.throws(() => decodeEntry(bad), EntryFormatError);
    }
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), (bytes) => {
        try {
          decodeEntry(bytes);
        } catch (err) {
          assert.ok(err instanceof EntryFormatError, String(err));
        }
      }),
    );
  });

  it('a damaged entry from a peer stops neither other events nor reads of other documents', () => {
    const a = new Documents(Engine.open(openDatabase(':memory:')));
    const b = new Documents(Engine.open(openDatabase(':memory:')));
    a.create('c', { x: 1 }, { id: 'bad' });
    a.create('c', { x: 1 }, { id: 'good' });
    a.engine.db.prepare(`UPDATE ${CHANGES_TABLE} SET entry = ? WHERE doc = 'bad'`).run(Uint8Array.of(1, 1, 0x80));
    const seen: string[] = [];
    b.on('created', (e) => seen.push(e.type === 'sync' ? '' : e.id));
    b.applyChanges([...a.engine.changesSince(0)]);
    assert.deepEqual(seen, ['good']);
    assert.deepEqual(b.get('c', 'good')!.content, { x: 1 });
    assert.throws(() => b.history('c', 'bad'), { name: 'EntryFormatError' });
  });
});
