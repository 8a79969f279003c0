/**
 * A following session's declared schema: its feed refuses to read (SchemaChangedError) exactly when
 * the feed's schema's key differs from the declared one's — the same-tables shortcut decides as the
 * keys do, and a declaration changed in place by its caller later changes nothing.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { TableInfo } from '../engine/index.ts';
import type { Batch } from './batches.ts';
import { declaredFeed, SchemaChangedError, schemaKey } from './declared.ts';
import type { ChangeFeed } from './ports.ts';

const feedOf = (schema: () => TableInfo[]): ChangeFeed => ({
  siteId: new Uint8Array(16),
  schema,
  version: () => 0,
  changed: () => Promise.resolve(),
  async *batches(): AsyncGenerator<Batch> {
    yield { changes: [], version: 0, complete: true };
  },
});

/** Whether the declared feed reads (true) or refuses with SchemaChangedError (false). */
async function reads(feed: ChangeFeed): Promise<boolean> {
  try {
    for await (const _ of feed.batches(0, { exceptSite: new Uint8Array(16) })) void _;
    return true;
  } catch (err) {
    if (err instanceof SchemaChangedError) return false;
    throw err;
  }
}

const name = fc.constantFrom('a', 'b', 'c', 'id', 'x');
const table = fc.record({ name, pks: fc.array(name, { maxLength: 2 }), columns: fc.array(name, { maxLength: 3 }) });
const schema = fc.array(table, { maxLength: 3 });

describe('declaredFeed', () => {
  it('refuses exactly when the schema key moved (any order, any change)', async () => {
    await fc.assert(
      fc.asyncProperty(schema, schema, fc.boolean(), async (declared, other, shuffled) => {
        // now: the declared tables in another order, or another schema
        const now = shuffled ? [...declared].reverse().map((t) => ({ ...t, pks: [...t.pks], columns: [...t.columns] })) : other;
        const feed = declaredFeed(feedOf(() => now), declared);
        assert.equal(await reads(feed), schemaKey(now) === schemaKey(declared));
      }),
      { numRuns: 500 },
    );
  });

  it('judges by the schema as declared, not by the caller changing its array later', async () => {
    const declared: TableInfo[] = [{ name: 'notes', pks: ['id'], columns: ['body'] }];
    const now = (): TableInfo[] => [{ name: 'notes', pks: ['id'], columns: ['body', 'title'] }];
    const feed = declaredFeed(feedOf(now), declared);
    (declared[0]!.columns as string[]).push('title'); // equal to now's in place: still a change since the hello
    assert.equal(await reads(feed), false);
    const same = declaredFeed(feedOf(() => [{ name: 'notes', pks: ['id'], columns: ['body'] }]), declared.map((t) => ({ ...t, columns: ['body'] })));
    assert.equal(await reads(same), true);
  });
});
