/**
 * Documents on three replicas under random concurrent patch sequences, merge patches, deletes,
 * re-creates and undos, synced in random order (shuffled, partial, duplicated): after a final full
 * sync every replica holds identical documents, versions, revisions and histories; edits of
 * different fields (nested ones too) by different replicas are never lost, nor are elements that
 * replicas add to one array concurrently; undo then sync converges.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Engine } from '../src/engine/engine.ts';
import { Documents } from '../src/docs/documents.ts';
import { DocumentError } from '../src/docs/errors.ts';
import type { Json, JsonObject } from '../src/docs/json.ts';
import { applyPatch, type Operation } from '../src/docs/patch.ts';
import { valueAt } from '../src/docs/query.ts';
import { freshCopy } from './support/fresh-copy.ts';
import { rng, shuffle } from './support/random.ts';

const N = 3;
const IDS = ['d0', 'd1'];
const PATHS = ['/a', '/b', '/n', '/n/x', '/n/y', '/n/deep/z', '/tags'];

/** A fresh documents database (Engine.open and the documents' CRRs), copied for each of the runs' 360 replicas. */
function replica(): Documents {
  return new Documents(Engine.open(freshCopy('documents', (_db, engine) => new Documents(engine))));
}

const replicas = (): Documents[] => Array.from({ length: N }, replica);

/** Everything of `from` since `since`, shuffled, optionally thinned and duplicated, into `to`. */
function sync(from: Documents, to: Documents, rand: () => number, mode: 'full' | 'messy'): void {
  let changes = [...from.engine.changesSince(0)];
  if (mode === 'messy') {
    changes = shuffle(changes, rand).filter(() => rand() < 0.7);
    changes = [...changes, ...changes.filter(() => rand() < 0.3)];
  }
  to.applyChanges(changes, { source: 'peer' });
}

function fullSync(rs: Documents[], rand: () => number): void {
  for (let round = 0; round < 2; round++) for (const a of rs) for (const b of rs) if (a !== b) sync(a, b, rand, 'full');
}

/** Everything a replica shows: documents with version and revision, and histories. */
function snapshot(d: Documents): unknown {
  return IDS.map((id) => ({ doc: d.get('c', id) ?? null, history: d.history('c', id) }));
}

const valueArb: fc.Arbitrary<Json> = fc.oneof(fc.integer({ min: 0, max: 3 }), fc.constantFrom('p', 'q'), fc.constant(null), fc.constant({ k: 1 }), fc.constantFrom(['t'], ['t', 'u'])) as fc.Arbitrary<Json>;

type Action =
  | { kind: 'patch'; r: number; id: string; ops: { op: 'add' | 'remove' | 'replace' | 'append' | 'insert' | 'unshift'; path: string; value: Json }[] }
  | { kind: 'merge'; r: number; id: string; path: string; value: Json }
  | { kind: 'create' | 'delete' | 'undo'; r: number; id: string }
  | { kind: 'sync'; from: number; to: number };

const actionArb: fc.Arbitrary<Action> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('patch' as const), r: fc.nat(N - 1), id: fc.constantFrom(...IDS), ops: fc.array(fc.record({ op: fc.constantFrom('add' as const, 'remove' as const, 'replace' as const, 'append' as const, 'insert' as const, 'unshift' as const), path: fc.constantFrom(...PATHS), value: valueArb }), { minLength: 1, maxLength: 3 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('merge' as const), r: fc.nat(N - 1), id: fc.constantFrom(...IDS), path: fc.constantFrom(...PATHS), value: valueArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constantFrom('create' as const, 'delete' as const, 'undo' as const), r: fc.nat(N - 1), id: fc.constantFrom(...IDS) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('sync' as const), from: fc.nat(N - 1), to: fc.nat(N - 1) }) },
);

/** A merge patch setting `path` to `value` (null removes). */
function mergePatchOf(path: string, value: Json): Json {
  return path
    .split('/')
    .slice(1)
    .reduceRight<Json>((inner, key) => ({ [key]: inner }), value);
}

function toPatch(ops: Extract<Action, { kind: 'patch' }>['ops']): Operation[] {
  return ops.map((o): Operation => {
    if (o.op === 'append') return { op: 'add', path: '/tags/-', value: o.value };
    if (o.op === 'insert') return { op: 'add', path: '/tags/1', value: o.value }; // refused if too short
    if (o.op === 'unshift') return { op: 'add', path: '/tags/0', value: o.value };
    if (o.op === 'remove') return { op: 'remove', path: o.path === '/n' ? '/tags/0' : o.path };
    return { op: o.op, path: o.path, value: o.value };
  });
}

/** Runs an action; refused patches (missing paths, …) must throw a DocumentError and change nothing. */
function run(rs: Documents[], a: Action, rand: () => number): void {
  if (a.kind === 'sync') {
    if (a.from !== a.to) sync(rs[a.from]!, rs[a.to]!, rand, 'messy');
    return;
  }
  const d = rs[a.r]!;
  const before = JSON.stringify(snapshot(d));
  try {
    if (a.kind === 'patch') {
      // What is stored and read back is exactly what the patch gives (array positions included).
      const prior = d.get('c', a.id)?.content;
      const stored = d.update('c', a.id, toPatch(a.ops)).content;
      assert.deepEqual(stored, applyPatch(prior, toPatch(a.ops)));
    }
    else if (a.kind === 'merge') d.mergePatch('c', a.id, mergePatchOf(a.path, a.value));
    else if (a.kind === 'create') d.create('c', { a: 0, n: { x: 0 } }, { id: a.id });
    else if (a.kind === 'delete') d.delete('c', a.id);
    else d.undo('c', a.id);
  } catch (err) {
    if (!(err instanceof DocumentError)) throw err;
    assert.equal(JSON.stringify(snapshot(d)), before, `a refused ${a.kind} changed nothing`);
  }
}

describe('documents on three replicas (property)', () => {
  it('random concurrent patches, deletes and undos, synced in random order with duplicates, converge', () => {
    fc.assert(
      fc.property(fc.array(actionArb, { minLength: 5, maxLength: 40 }), fc.integer(), (actions, seed) => {
        const rand = rng(seed);
        const rs = replicas();
        rs[0]!.create('c', { a: 1, n: { x: 1 }, tags: [] }, { id: 'd0' });
        for (const a of actions) run(rs, a, rand);
        fullSync(rs, rand);
        const want = JSON.stringify(snapshot(rs[0]!));
        for (const r of rs) assert.equal(JSON.stringify(snapshot(r)), want);
        // Undo on every replica, then sync: still one state everywhere.
        for (const r of rs) for (const id of IDS) run(rs, { kind: 'undo', r: rs.indexOf(r), id }, rand);
        fullSync(rs, rand);
        const after = JSON.stringify(snapshot(rs[0]!));
        for (const r of rs) assert.equal(JSON.stringify(snapshot(r)), after);
      }),
      { numRuns: 60 },
    );
  });

  it('edits of different fields by different replicas are never lost, whatever the sync order', () => {
    const fieldsOf = (r: number): string[] => [`/f${r}`, `/n/f${r}`, `/n/deep/f${r}`];
    const editArb = fc.record({ r: fc.nat(N - 1), field: fc.nat(2), value: fc.oneof(fc.integer({ min: 0, max: 9 }), fc.constant(['t']), fc.constant({ k: 'v' })) as fc.Arbitrary<Json>, remove: fc.boolean(), merge: fc.boolean() });
    const appendArb = fc.record({ r: fc.nat(N - 1), front: fc.boolean() });
    const stepArb = fc.oneof(
      editArb.map((e) => ({ edit: e })),
      appendArb.map((a) => ({ append: a })),
      fc.record({ from: fc.nat(N - 1), to: fc.nat(N - 1) }).map((s) => ({ sync: s })),
    );
    fc.assert(
      fc.property(fc.array(stepArb, { minLength: 5, maxLength: 40 }), fc.integer(), (steps, seed) => {
        const rand = rng(seed);
        const rs = replicas();
        rs[0]!.create('c', { n: { deep: {} }, list: [] }, { id: 'd0' });
        fullSync(rs, rand);
        const added: string[][] = rs.map(() => []);
        for (const step of steps) {
          if ('append' in step) {
            // Concurrent appends (and inserts at the front) to one array: every element survives.
            const { r, front } = step.append;
            const value = `r${r}-${added[r]!.length}`;
            added[r]!.push(value);
            rs[r]!.update('c', 'd0', [{ op: 'add', path: front ? '/list/0' : '/list/-', value }]);
            continue;
          }
          if ('sync' in step) {
            if (step.sync.from !== step.sync.to) sync(rs[step.sync.from]!, rs[step.sync.to]!, rand, 'messy');
            continue;
          }
          const { r, field, value, remove, merge } = step.edit;
          const path = fieldsOf(r)[field]!;
          const d = rs[r]!;
          const has = valueAt(d.get('c', 'd0')!.content, path) !== undefined;
          if (merge) d.mergePatch('c', 'd0', mergePatchOf(path, remove ? null : value));
          else if (remove) {
            if (has) d.update('c', 'd0', [{ op: 'remove', path }]);
          } else d.update('c', 'd0', [{ op: has ? 'replace' : 'add', path, value }]);
        }
        // What each replica last wrote to its own fields, before hearing from anyone again.
        const own = rs.map((d, r) => fieldsOf(r).map((p) => valueAt(d.get('c', 'd0')!.content, p)));
        fullSync(rs, rand);
        for (const d of rs) {
          const merged: JsonObject = d.get('c', 'd0')!.content;
          rs.forEach((_, r) => assert.deepEqual(fieldsOf(r).map((p) => valueAt(merged, p)), own[r], `fields of replica ${r}`));
          assert.deepEqual([...(merged.list as string[])].sort(), added.flat().sort(), 'every element added to the list');
        }
      }),
      { numRuns: 60 },
    );
  });
});
