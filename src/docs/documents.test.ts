/**
 * The Documents API on real engines: CRUD, versions, refused patches, field-level merge between
 * replicas, same-field conflicts, delete vs edit, history, undo (also against newer remote edits),
 * reading old versions and events (local, synced, throwing listeners, outside transactions).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Engine, openDatabase } from '../engine/index.ts';
import { Documents } from './documents.ts';
import type { DocumentEvent } from './events.ts';

const replica = (): Documents => new Documents(Engine.open(openDatabase(':memory:')));

/** Sends everything `from` has to `to` (known changes are no-ops). */
function sync(from: Documents, to: Documents): void {
  to.applyChanges([...from.engine.changesSince(0)], { source: 'test' });
}

describe('Documents', () => {
  it('creates, reads, lists, queries, updates by JSON Patch and Merge Patch, deletes', () => {
    const d = replica();
    const a = d.create('tasks', { title: 'a', status: 'open', meta: { prio: 1 } }, { id: 't1' });
    assert.deepEqual(a, { collection: 'tasks', id: 't1', version: 1, revision: a.revision, content: { title: 'a', status: 'open', meta: { prio: 1 } } });
    const b = d.create('tasks', { title: 'b', status: 'done' });
    assert.match(b.id, /^[0-9a-f-]{36}$/);
    assert.deepEqual(d.collections(), ['tasks']);
    assert.deepEqual(d.list('tasks', { where: { '/status': 'done' } }).map((x) => x.id), [b.id]);
    assert.deepEqual(d.list('tasks', { where: { '/meta/prio': 1 } }).map((x) => x.id), ['t1']);
    const u = d.update('tasks', 't1', [
      { op: 'test', path: '/status', value: 'open' },
      { op: 'replace', path: '/status', value: 'done' },
      { op: 'add', path: '/tags', value: ['x'] },
    ]);
    assert.equal(u.version, 2);
    assert.notEqual(u.revision, a.revision);
    assert.deepEqual(u.content, { title: 'a', status: 'done', meta: { prio: 1 }, tags: ['x'] });
    const m = d.mergePatch('tasks', 't1', { meta: { prio: null, owner: 'ann' }, tags: null });
    assert.equal(m.version, 3);
    assert.deepEqual(m.content, { title: 'a', status: 'done', meta: { owner: 'ann' } });
    d.delete('tasks', 't1');
    assert.equal(d.get('tasks', 't1'), undefined);
    assert.deepEqual(d.list('tasks').map((x) => x.id), [b.id]);
    assert.throws(() => d.update('tasks', 't1', []), { name: 'DocumentNotFoundError' });
    assert.throws(() => d.create('tasks', { x: 1 }, { id: b.id }), { name: 'DocumentExistsError' });
    assert.throws(() => d.create('tasks', [1]), { name: 'InvalidDocumentError' });
    assert.equal(d.create('tasks', { again: true }, { id: 't1' }).version, 5);
    assert.deepEqual(d.get('tasks', 't1')!.content, { again: true });
  });

  it('refuses an invalid patch with a typed error and changes nothing', () => {
    const d = replica();
    d.create('c', { n: 1, s: 'x' }, { id: 'd' });
    const before = d.get('c', 'd');
    const changes = [...d.engine.changesSince(0)].length;
    assert.throws(() => d.update('c', 'd', [{ op: 'replace', path: '/n', value: 2 }, { op: 'test', path: '/s', value: 'y' }]), { name: 'PatchError', message: /test failed/ });
    assert.throws(() => d.update('c', 'd', [{ op: 'remove', path: '/nope' }]), { name: 'PatchError' });
    assert.throws(() => d.update('c', 'd', [{ op: 'add', path: '/s/x', value: 1 }]), { name: 'PatchError' });
    assert.throws(() => d.update('c', 'd', [{ op: 'replace', path: '', value: 3 }]), { name: 'InvalidDocumentError' });
    assert.throws(() => d.mergePatch('c', 'd', 'x'), { name: 'InvalidDocumentError' });
    assert.deepEqual(d.get('c', 'd'), before);
    assert.equal(d.history('c', 'd').length, 1);
    assert.equal([...d.engine.changesSince(0)].length, changes);
  });

  it('keeps concurrent edits of different fields, nested ones too', () => {
    const a = replica();
    const b = replica();
    a.create('c', { title: 't', meta: { owner: 'ann', prio: 1 }, tags: [] }, { id: 'd' });
    sync(a, b);
    a.update('c', 'd', [{ op: 'replace', path: '/title', value: 'A title' }, { op: 'replace', path: '/meta/owner', value: 'bob' }]);
    b.update('c', 'd', [{ op: 'replace', path: '/meta/prio', value: 5 }, { op: 'add', path: '/meta/due', value: 'mon' }]);
    sync(a, b);
    sync(b, a);
    const want = { title: 'A title', meta: { owner: 'bob', prio: 5, due: 'mon' }, tags: [] };
    assert.deepEqual(a.get('c', 'd')!.content, want);
    assert.deepEqual(b.get('c', 'd')!.content, want);
    assert.equal(a.get('c', 'd')!.version, 3);
    assert.equal(a.get('c', 'd')!.revision, b.get('c', 'd')!.revision);
    assert.equal(a.history('c', 'd').length, 3);
  });

  it('converges on one value of a field edited on both sides and tells the losing side', () => {
    const a = replica();
    const b = replica();
    a.create('c', { status: 'open', meta: { owner: 'ann' }, tags: ['x', 'y'] }, { id: 'd' });
    sync(a, b);
    const seenA: DocumentEvent[] = [];
    const seenB: DocumentEvent[] = [];
    a.on('conflict', (e) => seenA.push(e));
    b.on('conflict', (e) => seenB.push(e));
    a.update('c', 'd', [{ op: 'replace', path: '/status', value: 'done' }, { op: 'replace', path: '/meta/owner', value: 'al' }, { op: 'replace', path: '/tags/1', value: 'ya' }]);
    b.update('c', 'd', [{ op: 'replace', path: '/status', value: 'blocked' }, { op: 'replace', path: '/meta/owner', value: 'bo' }, { op: 'replace', path: '/tags/1', value: 'yb' }]);
    sync(a, b);
    sync(b, a);
    const doc = a.get('c', 'd')!.content;
    assert.deepEqual(b.get('c', 'd')!.content, doc);
    // The greater value wins a tie (the engine's rule), for an array element as for any field.
    assert.deepEqual(doc, { status: 'done', meta: { owner: 'bo' }, tags: ['x', 'yb'] });
    const seen = (events: DocumentEvent[]) => events.map((e) => e.type === 'conflict' && [e.path, e.lost, e.kept]).sort();
    assert.deepEqual(seen(seenA), [['/meta/owner', 'al', 'bo'], ['/tags', 'ya', 'yb']]);
    assert.deepEqual(seen(seenB), [['/status', 'blocked', 'done']]);
  });

  it('keeps concurrent appends and inserts into one array from both sides, in one order everywhere', () => {
    const a = replica();
    const b = replica();
    a.create('c', { tags: ['x', 'z'] }, { id: 'd' });
    sync(a, b);
    a.update('c', 'd', [{ op: 'add', path: '/tags/-', value: 'a1' }, { op: 'add', path: '/tags/1', value: 'y' }]);
    b.update('c', 'd', [{ op: 'add', path: '/tags/-', value: 'b1' }, { op: 'add', path: '/tags/-', value: 'b2' }, { op: 'remove', path: '/tags/0' }]);
    sync(a, b);
    sync(b, a);
    const tags = a.get('c', 'd')!.content.tags as string[];
    assert.deepEqual(b.get('c', 'd')!.content.tags, tags);
    assert.deepEqual(tags.slice(0, 2), ['y', 'z']); // x removed by b, y inserted by a before z
    assert.deepEqual(tags.filter((t) => t.startsWith('b')), ['b1', 'b2']);
    assert.deepEqual(tags.slice(2).sort(), ['a1', 'b1', 'b2']);
    // Inserting between two elements that got the same order key (concurrent appends) lands exactly there.
    a.update('c', 'd', [{ op: 'add', path: '/tags/3', value: 'mid' }]);
    const want = [...tags.slice(0, 3), 'mid', ...tags.slice(3)];
    assert.deepEqual(a.get('c', 'd')!.content.tags, want);
    sync(a, b);
    assert.deepEqual(b.get('c', 'd')!.content.tags, want);
    // One side removes an element the other changes: one of the two wins everywhere, the loser hears of it.
    const conflicts: DocumentEvent[] = [];
    for (const r of [a, b]) r.on('conflict', (e) => conflicts.push(e));
    a.update('c', 'd', [{ op: 'remove', path: '/tags/0' }]);
    b.update('c', 'd', [{ op: 'replace', path: '/tags/0', value: 'Y' }]);
    sync(a, b);
    sync(b, a);
    assert.deepEqual(a.get('c', 'd')!.content, b.get('c', 'd')!.content);
    assert.deepEqual(conflicts.map((e) => e.type === 'conflict' && e.path), ['/tags']);
  });

  it('delete wins over a concurrent edit; the edit stays in the history; re-creating starts fresh', () => {
    const a = replica();
    const b = replica();
    a.create('c', { x: 1, y: 1 }, { id: 'd' });
    sync(a, b);
    a.delete('c', 'd');
    b.update('c', 'd', [{ op: 'replace', path: '/x', value: 2 }]);
    sync(a, b);
    sync(b, a);
    assert.equal(a.get('c', 'd'), undefined);
    assert.equal(b.get('c', 'd'), undefined);
    assert.deepEqual(a.history('c', 'd').map((e) => e.op).sort(), ['create', 'delete', 'update']);
    b.create('c', { z: 1 }, { id: 'd' });
    sync(b, a);
    assert.deepEqual(a.get('c', 'd')!.content, { z: 1 });
  });

  it('records history with both patches and reads a document as of an earlier version', () => {
    const d = new Documents(Engine.open(openDatabase(':memory:')), { author: 'ann' });
    d.create('c', { a: 1 }, { id: 'd' });
    d.update('c', 'd', [{ op: 'add', path: '/b', value: { c: 2 } }]);
    d.mergePatch('c', 'd', { a: null });
    const h = d.history('c', 'd');
    assert.deepEqual(h.map((e) => [e.seq, e.op, e.author, e.site]), [1, 2, 3].map((n) => [n, n === 1 ? 'create' : 'update', 'ann', h[0]!.site]));
    assert.deepEqual(h[1]!.forward, [{ op: 'add', path: '/b', value: { c: 2 } }]);
    assert.deepEqual(h[1]!.reverse, [{ op: 'remove', path: '/b' }]);
    assert.deepEqual(h[2]!.reverse, [{ op: 'add', path: '/a', value: 1 }]);
    assert.deepEqual(d.get('c', 'd', { version: 1 })!.content, { a: 1 });
    assert.deepEqual(d.get('c', 'd', { version: 2 })!.content, { a: 1, b: { c: 2 } });
    assert.equal(d.get('c', 'd', { version: 9 }), undefined);
  });

  it('undo reverts the last local change as a new change that syncs, step by step', () => {
    const a = replica();
    const b = replica();
    a.create('c', { title: 't', n: 1 }, { id: 'd' });
    a.update('c', 'd', [{ op: 'replace', path: '/n', value: 2 }]);
    a.update('c', 'd', [{ op: 'replace', path: '/title', value: 'T' }, { op: 'add', path: '/o', value: { p: 1 } }]);
    const r1 = a.undo('c', 'd');
    assert.deepEqual(r1.skipped, []);
    assert.deepEqual(r1.document!.content, { title: 't', n: 2 });
    assert.equal(r1.change!.undoes, r1.undone.id);
    assert.deepEqual(a.undo('c', 'd').document!.content, { title: 't', n: 1 });
    sync(a, b);
    assert.deepEqual(b.get('c', 'd')!.content, { title: 't', n: 1 });
    assert.equal(a.undo('c', 'd').document, undefined); // undoes the create: deleted
    assert.throws(() => a.undo('c', 'd'), { name: 'NothingToUndoError' });
    sync(a, b);
    assert.equal(b.get('c', 'd'), undefined);
    assert.throws(() => b.undo('c', 'd'), { name: 'NothingToUndoError' }); // b made no change
  });

  it('undo never overwrites a newer remote edit of the same field: it skips it and says so', () => {
    const a = replica();
    const b = replica();
    a.create('c', { x: 1, y: 1 }, { id: 'd' });
    sync(a, b);
    a.update('c', 'd', [{ op: 'replace', path: '/x', value: 2 }, { op: 'replace', path: '/y', value: 2 }]);
    sync(a, b);
    b.update('c', 'd', [{ op: 'replace', path: '/x', value: 3 }]);
    sync(b, a);
    const r = a.undo('c', 'd');
    assert.deepEqual(r.skipped, ['/x']);
    assert.deepEqual(r.document!.content, { x: 3, y: 1 });
    sync(a, b);
    assert.deepEqual(b.get('c', 'd')!.content, { x: 3, y: 1 });
    // Undoing a delete when the document exists again, and a create after remote edits: nothing done.
    a.delete('c', 'd');
    sync(a, b);
    b.create('c', { fresh: true }, { id: 'd' });
    sync(b, a);
    const r2 = a.undo('c', 'd');
    assert.deepEqual([r2.skipped, r2.change, r2.document?.content], [[''], undefined, { fresh: true }]);
  });

  it('delivers events for local and synced changes, filtered, outside transactions, despite throwing listeners', async () => {
    const errors: unknown[] = [];
    const a = new Documents(Engine.open(openDatabase(':memory:')), { onListenerError: (e) => errors.push(e) });
    const b = replica();
    const seen: string[] = [];
    const inTx: boolean[] = [];
    const changes = ['created', 'updated', 'deleted', 'conflict'] as const;
    a.on([...changes], () => {
      throw new Error('listener bug');
    });
    a.on([...changes], (e) => {
      inTx.push(a.engine.db.isTransaction);
      if (e.type === 'sync') return;
      seen.push(`${e.type}:${e.id}:${e.type === 'conflict' ? e.path : `${e.local}:${e.patch.length}`}`);
    });
    const onlyD2: string[] = [];
    const off = a.on(['updated', 'deleted'], (e) => onlyD2.push(`${e.type}:${e.type === 'sync' ? '' : e.id}`), { collection: 'c', id: 'd2' });
    a.create('c', { v: 1 }, { id: 'd1' });
    b.create('c', { v: 1 }, { id: 'd2' });
    sync(b, a);
    b.update('c', 'd2', [{ op: 'replace', path: '/v', value: 2 }]);
    b.delete('c', 'd2');
    sync(b, a);
    off();
    a.update('c', 'd1', [{ op: 'replace', path: '/v', value: 5 }]);
    b.create('other', { q: 1 }, { id: 'd3' });
    a.engine.db.exec('BEGIN'); // the app's own transaction: events wait until it has ended
    sync(b, a);
    assert.equal(seen.length, 5);
    a.engine.db.exec('COMMIT');
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(seen, ['created:d1:true:1', 'created:d2:false:1', 'updated:d2:false:1', 'deleted:d2:false:1', 'updated:d1:true:1', 'created:d3:false:1']);
    assert.deepEqual(onlyD2, ['updated:d2', 'deleted:d2']);
    assert.equal(errors.length, seen.length);
    assert.ok(inTx.every((x) => !x));
    assert.deepEqual(a.refresh(), []);
  });

  it("an app's transaction ended by closing the connection: events waiting for it still go out, nothing throws", async () => {
    const db = openDatabase(':memory:');
    const docs = new Documents(Engine.open(db));
    const seen: string[] = [];
    docs.on('created', (e) => seen.push(e.type === 'sync' ? '' : e.id));
    db.exec('BEGIN');
    docs.create('c', { v: 1 }, { id: 'd1' });
    db.exec('COMMIT');
    db.close(); // before the deferred delivery runs
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(seen, ['d1']);
  });

  it('marks merges through applyChanges with sync started / completed events carrying counts', () => {
    const a = replica();
    const b = replica();
    b.create('c', { v: 1 }, { id: 'd' });
    const seen: unknown[] = [];
    a.on('*', (e) => seen.push(e.type === 'sync' ? { ...e } : e.type));
    a.on('sync', () => seen.push('filtered'), { collection: 'c' });
    a.applyChanges([...b.engine.changesSince(0)], { source: 'bob' });
    assert.equal(seen.length, 3);
    assert.deepEqual(seen[0], { type: 'sync', phase: 'started', source: 'bob' });
    assert.equal(seen[1], 'created');
    const done = seen[2] as { phase: string; received: number; applied: number; conflicts: number };
    assert.deepEqual([done.phase, done.received > 0, done.applied, done.conflicts], ['completed', true, done.received, 0]);
  });
});
