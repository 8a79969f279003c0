/**
 * The PostgreSQL hub keeps each hosted database's JSON documents materialized as JSONB rows, and
 * those rows always equal what a client syncing the database reads. Three client replicas make
 * random document changes (creates, JSON Patches, merge patches, deletes, re-creates, undos —
 * concurrent edits of the same and of different fields), push their changes to a PostgreSQL hosted
 * database in random order (duplicates, stale sets) and pull from it; after every push, a fresh
 * client that pulls the whole database must list exactly the documents of the `documents` table
 * (content, version, revision), deleted ones absent. Server-side SQL finds documents by content.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Engine, type Change } from '../src/engine/index.ts';
import { Documents } from '../src/docs/documents.ts';
import { DocumentError } from '../src/docs/errors.ts';
import type { Json } from '../src/docs/json.ts';
import type { HubDatabase } from '../src/hub/storage/port.ts';
import { Gate } from '../src/sync/gate.ts';
import { freshCopy } from './support/fresh-copy.ts';
import { storeInOwnSchema } from './support/postgres.ts';

const OWNER = { app: 'test', user: 'alice' };
const OPEN = new Gate(() => ({ read: 'all', write: 'all' }));
const COLLECTIONS = ['tasks', 'notes'];
const IDS = ['d0', 'd1', 'd2'];
const PATHS = ['/status', '/title', '/meta', '/meta/prio', '/tags'];
const N = 3;

const valueArb: fc.Arbitrary<Json> = fc.oneof(
  fc.constantFrom('open', 'done', 'é ✓', ''),
  fc.integer({ min: -2, max: 3 }),
  fc.constant(null),
  fc.constant({ prio: 1 }),
  fc.constantFrom(['a'], ['a', 'b'], []),
) as fc.Arbitrary<Json>;

type Action =
  | { k: 'create' | 'delete' | 'undo'; r: number; c: string; id: string }
  | { k: 'patch'; r: number; c: string; id: string; op: 'add' | 'replace' | 'remove' | 'append'; path: string; value: Json }
  | { k: 'merge'; r: number; c: string; id: string; path: string; value: Json }
  | { k: 'push'; r: number; stale: boolean }
  | { k: 'pull'; r: number };

const r = fc.nat(N - 1);
const c = fc.constantFrom(...COLLECTIONS);
const id = fc.constantFrom(...IDS);
const actionArb: fc.Arbitrary<Action> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ k: fc.constantFrom('create' as const, 'delete' as const, 'undo' as const), r, c, id }) },
  { weight: 5, arbitrary: fc.record({ k: fc.constant('patch' as const), r, c, id, op: fc.constantFrom('add' as const, 'replace' as const, 'remove' as const, 'append' as const), path: fc.constantFrom(...PATHS), value: valueArb }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('merge' as const), r, c, id, path: fc.constantFrom(...PATHS), value: valueArb }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('push' as const), r, stale: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('pull' as const), r }) },
);

/**
 * A fresh replica: a copy of one fresh database with the documents' tables (made once; building
 * each anew was most of the property's CPU) with a random site id of its own (fresh-copy.ts).
 */
const replica = (): Documents => new Documents(Engine.open(freshCopy('documents', (_db, engine) => void new Documents(engine))), { author: 'ann' });

async function pullAll(db: HubDatabase): Promise<Change[]> {
  const out: Change[] = [];
  for await (const b of db.feed.batches(0, { exceptSite: new Uint8Array(16) })) out.push(...b.changes);
  return out;
}

/** Runs a document action; a refused one (missing document, bad path…) must be a DocumentError. */
function act(d: Documents, a: Exclude<Action, { k: 'push' | 'pull' }>): void {
  try {
    if (a.k === 'create') d.create(a.c, { title: `${a.id} in ${a.c}`, status: 'open', meta: { prio: 2 }, tags: [] }, { id: a.id });
    else if (a.k === 'delete') d.delete(a.c, a.id);
    else if (a.k === 'undo') d.undo(a.c, a.id);
    else if (a.k === 'merge') d.mergePatch(a.c, a.id, a.path.split('/').slice(1).reduceRight<Json>((inner, key) => ({ [key]: inner }), a.value));
    else if (a.k !== 'patch') return;
    else if (a.op === 'append') d.update(a.c, a.id, [{ op: 'add', path: '/tags/-', value: a.value }]);
    else if (a.op === 'remove') d.update(a.c, a.id, [{ op: 'remove', path: a.path }]);
    else d.update(a.c, a.id, [{ op: a.op, path: a.path, value: a.value }]);
  } catch (err) {
    if (!(err instanceof DocumentError)) throw err;
  }
}

describe('hub PostgreSQL store: documents materialized as JSONB', () => {
  const pg = storeInOwnSchema();
  const { sql, schema } = pg;
  let n = 0;

  async function hosted(): Promise<{ db: HubDatabase; dbId: string }> {
    const name = `docs${n++}`;
    const db = (await pg.store.open(name, OWNER))!;
    await db.declare(replica().engine.crrs());
    const [row] = await sql.unsafe<{ id: string }[]>(`SELECT id::text AS id FROM ${schema}.databases WHERE name = $1`, [name]);
    return { db, dbId: row!.id };
  }

  /** The materialized rows, and what a fresh client that pulled the whole database lists. */
  async function compare(db: HubDatabase, dbId: string): Promise<void> {
    const rows = await sql.unsafe<{ collection: string; id: string; version: string; revision: string; content: unknown }[]>(
      `SELECT collection, id, version::text AS version, revision, content FROM ${schema}.documents WHERE db = $1 ORDER BY collection, id`,
      [dbId],
    );
    const observer = replica();
    try {
      observer.applyChanges(await pullAll(db));
      const seen = COLLECTIONS.slice()
        .sort()
        .flatMap((col) => observer.list(col))
        .map((d) => ({ collection: d.collection, id: d.id, version: String(d.version), revision: d.revision, content: d.content }));
      assert.deepEqual(rows.map((x) => ({ ...x })), seen);
    } finally {
      observer.engine.db.close();
    }
  }

  it('random document changes on three replicas, pushed in random order: the rows equal what a syncing client reads', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(actionArb, { minLength: 10, maxLength: 50 }), async (actions) => {
        const { db, dbId } = await hosted();
        const rs = Array.from({ length: N }, replica);
        /** The last version each replica pushed from (a stale push sends everything again). */
        const pushed = rs.map(() => 0);
        try {
          // Every replica starts with the same documents (so most edits apply), then they diverge.
          for (const col of COLLECTIONS) for (const id of IDS.slice(0, 2)) rs[0]!.create(col, { title: id, status: 'open', meta: { prio: 1 }, tags: ['x'] }, { id });
          const start = [...rs[0]!.engine.changesSince(0)];
          for (const d of rs.slice(1)) d.applyChanges(start);
          for (const a of [...actions, ...rs.map((_, i): Action => ({ k: 'push', r: i, stale: false }))]) {
            const d = rs[a.r]!;
            if (a.k === 'pull') d.applyChanges(await pullAll(db));
            else if (a.k === 'push') {
              const since = a.stale ? 0 : pushed[a.r]!;
              const changes = [...d.engine.changesSince(since)];
              pushed[a.r] = d.engine.dbVersion();
              if (changes.length === 0) continue;
              await db.sink.receive({ changes, version: pushed[a.r]!, complete: true }, { siteId: d.engine.siteId, peer: 'p', source: 'p', gate: OPEN });
              await compare(db, dbId);
            } else act(d, a);
          }
        } finally {
          for (const d of rs) d.engine.db.close();
        }
      }),
      { numRuns: 25 },
    );
  });

  it('server-side SQL finds documents by content through the GIN index; a deleted document leaves the table', async () => {
    const { db, dbId } = await hosted();
    const a = replica();
    const b = replica();
    try {
      a.create('tasks', { title: 'one', status: 'open' }, { id: 't1' });
      a.create('tasks', { title: 'two', status: 'open' }, { id: 't2' });
      const push = async (d: Documents): Promise<void> => {
        const changes = [...d.engine.changesSince(0)];
        await db.sink.receive({ changes, version: d.engine.dbVersion(), complete: true }, { siteId: d.engine.siteId, peer: 'p', source: 'p', gate: OPEN });
      };
      await push(a);
      b.applyChanges(await pullAll(db));
      // Concurrent edits of different fields of t1 on a and b: both survive on the server too.
      a.update('tasks', 't1', [{ op: 'replace', path: '/status', value: 'done' }]);
      b.update('tasks', 't1', [{ op: 'add', path: '/owner', value: 'bob' }]);
      b.delete('tasks', 't2');
      await push(a);
      await push(b);
      const done = await sql.unsafe(`SELECT id, content->>'owner' AS owner, version::int AS version FROM ${schema}.documents WHERE db = $1 AND content->>'status' = 'done'`, [dbId]);
      assert.deepEqual([...done].map((x) => ({ ...x })), [{ id: 't1', owner: 'bob', version: 3 }]);
      const contained = await sql.unsafe(`SELECT id FROM ${schema}.documents WHERE db = $1 AND content @> '{"title":"one"}'`, [dbId]);
      assert.deepEqual([...contained].map((x) => x.id), ['t1']);
      const t2 = await sql.unsafe(`SELECT id FROM ${schema}.documents WHERE db = $1 AND id = 't2'`, [dbId]);
      assert.equal(t2.length, 0);
      const [index] = await sql.unsafe(`SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND tablename = 'documents' AND indexdef LIKE '%gin%'`, [schema]);
      assert.match(String(index?.indexdef), /USING gin \(content\)/);
      await compare(db, dbId);
    } finally {
      a.engine.db.close();
      b.engine.db.close();
    }
  });
});
