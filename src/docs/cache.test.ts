/**
 * The cache of documents' states (cache.ts): a change must start from what is stored whoever wrote
 * it — another connection, a merge made straight through the engine, a second Documents object, a
 * rolled-back transaction — and a Documents object with the cache must do exactly what one without
 * it does (results, key order, history, the changes it sends), checked on random workloads.
 */
import { after, describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { Engine, openDatabase, SITE_ID_BYTES, transaction } from '../engine/index.ts';
import { freshImage } from '../../test/support/fresh-copy.ts';
import { rng } from '../../test/support/random.ts';
import { Documents } from './documents.ts';
import { DocumentError } from './errors.ts';
import type { Json } from './json.ts';
import type { Operation } from './patch.ts';

const dir = mkdtempSync(join(tmpdir(), 'ddcp-docs-cache-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const file = (): string => join(dir, `${++files}.db`);

const task = { title: 't', status: 'open', n: { x: 1 } };
const replace = (path: string, value: Json): Operation[] => [{ op: 'replace', path, value }];

describe('the documents cache', () => {
  it('sees what another connection to the same database wrote', () => {
    const path = file();
    const a = new Documents(Engine.open(openDatabase(path)));
    a.create('tasks', task, { id: 't1' });
    a.update('tasks', 't1', replace('/status', 'doing')); // now cached
    const b = new Documents(Engine.open(openDatabase(path)));
    b.update('tasks', 't1', replace('/title', 'from b'));
    const d = a.update('tasks', 't1', replace('/n/x', 2));
    assert.deepEqual(d.content, { title: 'from b', status: 'doing', n: { x: 2 } });
    assert.equal(d.version, 4);
    assert.deepEqual(a.history('tasks', 't1').map((e) => e.seq), [1, 2, 3, 4]);
    // In a batch too.
    b.update('tasks', 't1', replace('/status', 'done'));
    const e = a.batch(() => a.update('tasks', 't1', replace('/title', 'again')));
    assert.deepEqual(e.content, { title: 'again', status: 'done', n: { x: 2 } });
    assert.equal(e.version, 6);
  });

  it('sees a merge made straight through the engine (not Documents.applyChanges)', () => {
    const a = new Documents(Engine.open(openDatabase(':memory:')));
    const b = new Documents(Engine.open(openDatabase(':memory:')));
    a.create('tasks', task, { id: 't1' });
    b.applyChanges([...a.engine.changesSince(0)]);
    a.update('tasks', 't1', replace('/status', 'doing')); // cached on a
    b.update('tasks', 't1', replace('/title', 'from b'));
    a.engine.applyChanges([...b.engine.changesSince(0)]);
    const d = a.update('tasks', 't1', replace('/n/x', 2));
    assert.deepEqual(d.content, { title: 'from b', status: 'doing', n: { x: 2 } });
    assert.equal(d.version, 4);
    assert.equal(a.history('tasks', 't1').at(-1)!.seq, 3, 'the seq after the greatest seen, the merged change included');
  });

  it('sees what a second Documents object on the same connection wrote', () => {
    const engine = Engine.open(openDatabase(':memory:'));
    const a = new Documents(engine);
    const b = new Documents(engine);
    a.create('tasks', task, { id: 't1' });
    a.update('tasks', 't1', replace('/status', 'doing'));
    b.update('tasks', 't1', replace('/title', 'from b'));
    assert.deepEqual(a.update('tasks', 't1', replace('/n/x', 2)).content, { title: 'from b', status: 'doing', n: { x: 2 } });
  });

  it('keeps nothing of a change whose transaction was rolled back', () => {
    const a = new Documents(Engine.open(openDatabase(':memory:')));
    a.create('tasks', task, { id: 't1' });
    a.update('tasks', 't1', replace('/status', 'doing'));
    // Inside an app's transaction that then fails.
    assert.throws(() =>
      transaction(a.engine.db, () => {
        a.update('tasks', 't1', replace('/status', 'lost'));
        throw new Error('app failure');
      }),
    );
    // A batch that fails.
    assert.throws(() =>
      a.batch(() => {
        a.update('tasks', 't1', replace('/title', 'lost too'));
        throw new Error('app failure');
      }),
    );
    const d = a.update('tasks', 't1', replace('/n/x', 2));
    assert.deepEqual(d.content, { title: 't', status: 'doing', n: { x: 2 } });
    assert.equal(d.version, 3);
    assert.deepEqual(a.get('tasks', 't1'), d);
  });

  it('hands out copies: changing a returned document changes nothing stored', () => {
    const a = new Documents(Engine.open(openDatabase(':memory:')));
    const c = a.create('tasks', task, { id: 't1' });
    c.content.title = 'mutated';
    (c.content.n as { x: number }).x = 99;
    const d = a.update('tasks', 't1', replace('/status', 'doing'));
    assert.deepEqual(d.content, { title: 't', status: 'doing', n: { x: 1 } });
    d.content.status = 'mutated';
    assert.deepEqual(a.batch(() => a.update('tasks', 't1', [{ op: 'test', path: '/status', value: 'doing' }])).content, { title: 't', status: 'doing', n: { x: 1 } });
  });

  it('does exactly what Documents without it do: results, key order, history, events, changes sent (property)', () => {
    type Step =
      | { kind: 'patch'; id: string; ops: Operation[] }
      | { kind: 'merge'; id: string; patch: Json }
      | { kind: 'create' | 'delete' | 'undo'; id: string }
      | { kind: 'batch'; steps: Step[] }
      | { kind: 'remote' | 'other'; id: string; path: string; value: Json };
    const IDS = ['d0', 'd1'];
    const PATHS = ['/a', '/b', '/n', '/n/x', '/n/y', '/tags', '/tags/0', '/tags/1', '/tags/-', '/~1k', '/z~0'];
    const value: fc.Arbitrary<Json> = fc.oneof(fc.integer({ min: -1, max: 3 }), fc.constant(-0), fc.constantFrom('p', 'q', '\u{1F600}', '\uE000'), fc.constant(null), fc.constant({ k: 1, b: [2, { z: 1, a: 2 }] }), fc.constantFrom(['t'], ['t', 'u'], [{ y: 1, x: 2 }])) as fc.Arbitrary<Json>;
    const op: fc.Arbitrary<Operation> = fc.oneof(
      fc.record({ op: fc.constantFrom('add' as const, 'replace' as const, 'test' as const), path: fc.constantFrom(...PATHS), value }),
      fc.record({ op: fc.constant('remove' as const), path: fc.constantFrom(...PATHS) }),
      fc.record({ op: fc.constantFrom('move' as const, 'copy' as const), from: fc.constantFrom(...PATHS), path: fc.constantFrom(...PATHS) }),
    );
    const id = fc.constantFrom(...IDS);
    const leaf: fc.Arbitrary<Step> = fc.oneof(
      { weight: 6, arbitrary: fc.record({ kind: fc.constant('patch' as const), id, ops: fc.array(op, { minLength: 1, maxLength: 3 }) }) },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant('merge' as const), id, patch: fc.dictionary(fc.constantFrom('a', 'b', 'n', 'tags', 'c'), fc.oneof(value, fc.constant(null)), { maxKeys: 3 }) as fc.Arbitrary<Json> }) },
      { weight: 2, arbitrary: fc.record({ kind: fc.constantFrom('create' as const, 'delete' as const, 'undo' as const), id }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('remote' as const), id, path: fc.constantFrom('/a', '/b', '/n/x'), value }) },
    );
    // Another connection can't write while a batch holds the write lock: it comes between batches only.
    const other: fc.Arbitrary<Step> = fc.record({ kind: fc.constant('other' as const), id, path: fc.constantFrom('/a', '/b', '/n/x'), value });
    const step: fc.Arbitrary<Step> = fc.oneof({ weight: 6, arbitrary: leaf }, { weight: 1, arbitrary: other }, { weight: 2, arbitrary: fc.record({ kind: fc.constant('batch' as const), steps: fc.array(leaf, { minLength: 1, maxLength: 5 }) }) });

    // Each play's replicas are copies of one fresh database with the documents' tables (built once:
    // Engine.open and the tables' triggers cost twice what copying and opening the bytes does), each
    // given its own site id from the play's random source, as a fresh Engine.open under the mocked
    // getRandomValues would (fresh-copy.ts checks the site id is stored nowhere else).
    const image = freshImage('docs-cache', (_db, engine) => void new Documents(engine));
    const newSite = (db: ReturnType<typeof openDatabase>, rand: () => number): void => {
      const site = Uint8Array.from({ length: SITE_ID_BYTES }, () => Math.floor(rand() * 256));
      db.prepare('UPDATE ddcp_site_id SET site_id = ? WHERE ordinal = 0').run(site);
    };

    /** Runs the steps on a fresh pair of replicas (this one and a peer) with everything random made repeatable; all it saw. */
    function play(steps: Step[], seed: number, cacheSize: number): string {
      const rand = rng(seed);
      let clock = 1_700_000_000_000;
      mock.method(Date, 'now', () => clock++);
      mock.method(globalThis.crypto, 'getRandomValues', <T extends ArrayBufferView | null>(a: T): T => {
        const bytes = new Uint8Array(a!.buffer, a!.byteOffset, a!.byteLength);
        for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(rand() * 256);
        return a;
      });
      try {
        const path = file();
        writeFileSync(path, image);
        const mine = openDatabase(path);
        newSite(mine, rand);
        const docs = new Documents(Engine.open(mine), { cacheSize });
        const other = new Documents(Engine.open(openDatabase(path)), { cacheSize: 0 }); // another connection
        const theirs = openDatabase(':memory:');
        theirs.deserialize(image);
        newSite(theirs, rand);
        const peer = new Documents(Engine.open(theirs), { cacheSize: 0 });
        const seen: unknown[] = [];
        docs.on('*', (e) => seen.push(e));
        const act = (s: Step): unknown => {
          switch (s.kind) {
            case 'patch':
              return docs.update('c', s.id, s.ops);
            case 'merge':
              return docs.mergePatch('c', s.id, s.patch);
            case 'create':
              return docs.create('c', { a: 0, n: { x: 0, w: 1 }, tags: ['t'], '/k': 1, 'z~': 2, b: 'b' }, { id: s.id });
            case 'delete':
              return docs.delete('c', s.id);
            case 'undo':
              return docs.undo('c', s.id);
            case 'batch':
              return docs.batch(() => s.steps.map((x) => attempt(x)));
            case 'other':
              return other.mergePatch('c', s.id, { [s.path.split('/')[1]!]: s.value });
            case 'remote':
              // The peer edits what it has of ours; its changes are merged straight through the engine.
              peer.applyChanges([...docs.engine.changesSince(0)]);
              peer.mergePatch('c', s.id, { [s.path.split('/')[1]!]: s.value });
              return docs.engine.applyChanges([...peer.engine.changesSince(0)]);
          }
        };
        const attempt = (s: Step): unknown => {
          try {
            return act(s);
          } catch (err) {
            if (err instanceof DocumentError) return `${err.name}: ${err.message}`;
            throw err;
          }
        };
        for (const s of steps) seen.push(attempt(s));
        for (const i of IDS) seen.push(docs.get('c', i), docs.history('c', i));
        seen.push([...docs.engine.changesSince(0)]);
        return JSON.stringify(seen, (_, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v));
      } finally {
        mock.restoreAll();
      }
    }

    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 25 }), fc.integer(), (steps, seed) => {
        const steps0: Step[] = [{ kind: 'create', id: 'd0' }, ...steps];
        assert.equal(play(steps0, seed, 100), play(steps0, seed, 0));
      }),
      { numRuns: 60 },
    );
  });
});
