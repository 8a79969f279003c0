/**
 * `ddcp doc` through the real executable: create, update (JSON Patch, Merge Patch, refused
 * patches), get (also at an old version), list with --where, history, undo, delete; and two
 * repositories whose concurrent edits of different fields of one document both survive a pull
 * through a folder remote, with history and undo following.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, ddcp, ok, tempDir } from './support/cli.ts';
import { Pty } from './support/pty.ts';

const json = (dir: string, args: string[], input?: string): any => JSON.parse(ok(dir, [...args, '--json'], input));

function repo(root: string, name: string): string {
  const dir = join(root, name);
  mkdirSync(dir);
  ok(dir, ['init']);
  return dir;
}

describe('ddcp doc', () => {
  it('creates, patches, reads, lists, shows history, undoes and deletes documents', () => {
    const dir = repo(tempDir(), 'a');
    assert.equal(ok(dir, ['doc', 'create', 'tasks', '{"title":"write","status":"open","meta":{"prio":1}}', '--id', 't1']), 'created tasks/t1 (version 1)\n');
    const made = json(dir, ['doc', 'create', 'tasks'], '{"title":"other","status":"done"}');
    assert.match(made.id, /^[0-9a-f-]{36}$/);
    const u = json(dir, ['doc', 'update', 'tasks', 't1', '[{"op":"test","path":"/status","value":"open"},{"op":"replace","path":"/status","value":"done"}]']);
    assert.deepEqual([u.version, u.content], [2, { title: 'write', status: 'done', meta: { prio: 1 } }]);
    assert.equal(ok(dir, ['doc', 'update', 'tasks', 't1', '--merge'], '{"meta":{"prio":null,"owner":"ann"}}'), 'updated tasks/t1 (version 3)\n');

    for (const [patch, message] of [
      ['[{"op":"test","path":"/status","value":"open"},{"op":"remove","path":"/title"}]', /^ddcp: error: patch operation 0: test failed at '\/status'\n$/],
      ['[{"op":"remove","path":"/nope"}]', /^ddcp: error: patch operation 0: path '\/nope' does not exist\n$/],
      ['[{"op":"add","path":"/title/x","value":1}]', /not an object or array/],
      ['{"op":"add"}', /must be an array/],
      ['[{"op":"add"', /not valid JSON/],
    ] as const) {
      const r = ddcp(dir, ['doc', 'update', 'tasks', 't1', patch]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, message);
    }
    const got = json(dir, ['doc', 'get', 'tasks', 't1']);
    assert.deepEqual([got.version, got.content], [3, { title: 'write', status: 'done', meta: { owner: 'ann' } }]);
    assert.deepEqual(JSON.parse(ok(dir, ['doc', 'get', 'tasks', 't1', '--at', '1'])), { title: 'write', status: 'open', meta: { prio: 1 } });
    assert.deepEqual(json(dir, ['doc', 'list', 'tasks', '--where', '/status=done']).map((d: any) => d.id).sort(), [made.id, 't1'].sort());
    assert.deepEqual(json(dir, ['doc', 'list', 'tasks', '--where', '/meta/owner="ann"']).map((d: any) => d.id), ['t1']);

    const h = json(dir, ['doc', 'history', 'tasks', 't1']);
    assert.deepEqual(h.map((e: any) => [e.version, e.op, e.origin]), [[1, 'create', 'here'], [2, 'update', 'here'], [3, 'update', 'here']]);
    assert.deepEqual(h[1].forward, [{ op: 'replace', path: '/status', value: 'done' }]);
    assert.deepEqual(h[1].reverse, [{ op: 'replace', path: '/status', value: 'open' }]);

    const undo = json(dir, ['doc', 'undo', 'tasks', 't1']);
    assert.deepEqual([undo.undone.seq, undo.skipped, undo.document.content], [3, [], { title: 'write', status: 'done', meta: { prio: 1 } }]);
    assert.match(ok(dir, ['doc', 'undo', 'tasks', 't1']), /^undid the update of .* on tasks\/t1 \(version 5\)\n$/);
    assert.deepEqual(json(dir, ['doc', 'get', 'tasks', 't1']).content, { title: 'write', status: 'open', meta: { prio: 1 } });

    assert.equal(ok(dir, ['doc', 'delete', 'tasks', 't1']), 'deleted tasks/t1\n');
    for (const args of [['doc', 'get', 'tasks', 't1'], ['doc', 'delete', 'tasks', 't1'], ['doc', 'create', 'tasks', '[1]'], ['doc', 'create', 'tasks', '{"x":1}', '--id', made.id]]) {
      const r = ddcp(dir, args);
      assert.equal(r.code, 1, args.join(' '));
      assert.equal(r.stderr.split('\n').length, 2, r.stderr);
    }
    assert.equal(ddcp(dir, ['doc', 'get', 'tasks', made.id, '--at', 'x']).code, 2);
    assert.equal(ddcp(dir, ['doc', 'list', '--where', '/x=1']).code, 2);
    assert.equal(ddcp(tempDir(), ['doc', 'list']).code, 3);
  });

  it('syncs documents between two repositories through a folder remote: different fields both survive, history and undo follow', () => {
    const root = tempDir();
    const alice = repo(root, 'alice');
    const bob = repo(root, 'bob');
    ok(alice, ['doc', 'create', 'tasks', '{"title":"t","status":"open","meta":{"prio":1}}', '--id', 't1']);
    ok(bob, ['doc', 'list']); // opens documents here: their tables exist before the first pull
    ok(alice, ['remote', 'add', 'bob', '../bob']);
    ok(bob, ['remote', 'add', 'alice', '../alice']);
    ok(bob, ['pull', 'alice']);
    assert.deepEqual(json(bob, ['doc', 'get', 'tasks', 't1']).content, { title: 't', status: 'open', meta: { prio: 1 } });

    ok(alice, ['doc', 'update', 'tasks', 't1', '[{"op":"replace","path":"/status","value":"done"}]']);
    ok(bob, ['doc', 'update', 'tasks', 't1', '--merge', '{"meta":{"prio":3},"title":"T"}']);
    ok(alice, ['pull', 'bob']);
    ok(bob, ['pull', 'alice']);
    const want = { title: 'T', status: 'done', meta: { prio: 3 } };
    const a = json(alice, ['doc', 'get', 'tasks', 't1']);
    const b = json(bob, ['doc', 'get', 'tasks', 't1']);
    assert.deepEqual([a.content, b.content], [want, want]);
    assert.deepEqual([a.version, a.revision], [b.version, b.revision]);
    assert.deepEqual(json(alice, ['doc', 'history', 'tasks', 't1']).map((e: any) => e.origin).sort(), ['bob', 'here', 'here']);

    // Alice undoes her change; Bob meanwhile retitled again: the undo keeps Bob's title, and syncs.
    ok(bob, ['doc', 'update', 'tasks', 't1', '[{"op":"replace","path":"/title","value":"Bob title"}]']);
    ok(alice, ['doc', 'update', 'tasks', 't1', '[{"op":"replace","path":"/title","value":"Alice title"},{"op":"add","path":"/note","value":"x"}]']);
    ok(alice, ['pull', 'bob']);
    const winner = json(alice, ['doc', 'get', 'tasks', 't1']).content.title;
    assert.equal(winner, 'Bob title'); // the greater value wins the tie
    const undo = json(alice, ['doc', 'undo', 'tasks', 't1']);
    assert.deepEqual(undo.skipped, ['/title']);
    assert.deepEqual(undo.document.content, { title: 'Bob title', status: 'done', meta: { prio: 3 } });
    assert.match(ok(alice, ['doc', 'undo', 'tasks', 't1']), /undid the update/); // Alice's status change
    ok(bob, ['pull', 'alice']);
    const final = { title: 'Bob title', status: 'open', meta: { prio: 3 } };
    assert.deepEqual(json(bob, ['doc', 'get', 'tasks', 't1']).content, final);
    assert.deepEqual(json(alice, ['doc', 'get', 'tasks', 't1']).content, final);
  });

  it('at a terminal, doc create and update without JSON ask for it on standard error instead of waiting silently', async () => {
    const dir = tempDir();
    ok(dir, ['init']);
    const create = new Pty(process.execPath, [BIN, 'doc', 'create', 'tasks', '--id', 't1'], dir);
    try {
      await create.waitFor(/^the document as JSON, then Ctrl-D on a line of its own:\n$/, 20_000);
      create.type('{"title":"typed"}\r\x04');
      await create.waitFor(/created tasks\/t1 \(version 1\)/, 20_000);
      assert.equal(await create.exited(20_000), 0, create.output);
    } finally {
      create.kill();
    }
    const update = new Pty(process.execPath, [BIN, 'doc', 'update', 'tasks', 't1', '--merge'], dir);
    try {
      await update.waitFor(/^the patch as JSON, then Ctrl-D on a line of its own:\n$/, 20_000);
      update.type('{"done":true}\r\x04');
      await update.waitFor(/updated tasks\/t1 \(version 2\)/, 20_000);
      assert.equal(await update.exited(20_000), 0, update.output);
    } finally {
      update.kill();
    }
    assert.deepEqual(JSON.parse(ok(dir, ['doc', 'get', 'tasks', 't1'])), { title: 'typed', done: true });
    // piped in, nothing is asked
    assert.equal(ddcp(dir, ['doc', 'create', 'tasks', '--id', 't2'], '{}').stderr, '');
  });
});
