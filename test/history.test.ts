/**
 * `ddcp log` and `ddcp conflicts` with the real executable: two repositories (folder remotes) edit
 * the same cell concurrently and pull both ways; the history lists commits and merges (named by
 * remote, bundle or apply) newest first; the conflict is listed on both sides with both values.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Repository } from '../src/index.ts';
import { ddcp, ok, tempDir } from './support/cli.ts';

const NOTES = 'CREATE TABLE notes(id TEXT PRIMARY KEY NOT NULL, body TEXT, stars INTEGER DEFAULT 0)';

async function makeRepo(dir: string): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const repo = await Repository.init(dir);
  try {
    repo.db.exec(NOTES);
    repo.engine.asCrr('notes');
  } finally {
    repo.close();
  }
  return dir;
}

const json = (dir: string, args: string[]): any => JSON.parse(ok(dir, [...args, '--json']));
const siteOf = (dir: string): string => json(dir, ['status']).site_id;

/** alice and bob share n1 = 'base', then both change its body; each has the other as a remote. */
async function concurrentEdit(): Promise<{ alice: string; bob: string }> {
  const root = tempDir();
  const alice = await makeRepo(join(root, 'alice'));
  const bob = await makeRepo(join(root, 'bob'));
  ok(alice, ['remote', 'add', 'bob', '../bob']);
  ok(bob, ['remote', 'add', 'alice', '../alice']);
  ok(alice, ['shell', '-c', "INSERT INTO notes VALUES ('n1', 'base', 0)"]);
  ok(bob, ['pull', 'alice']);
  ok(alice, ['pull', 'bob']); // alice learns bob's site id (nothing to merge)
  ok(alice, ['shell', '-c', "UPDATE notes SET body = 'from alice' WHERE id = 'n1'"]);
  ok(bob, ['shell', '-c', "UPDATE notes SET body = 'from bob', stars = 2 WHERE id = 'n1'"]);
  // fetch both before either merges, so each receives the other's concurrent value
  ok(alice, ['fetch', 'bob']);
  ok(bob, ['fetch', 'alice']);
  ok(alice, ['merge', 'bob']);
  ok(bob, ['merge', 'alice']);
  return { alice, bob };
}

describe('ddcp conflicts', () => {
  it('after a concurrent edit pulled both ways, lists the cell on each side with both values, origins and the winner', async () => {
    const { alice, bob } = await concurrentEdit();
    const body = (dir: string) => ok(dir, ['shell', '-c', "SELECT body FROM notes WHERE id = 'n1'"]).trim();
    assert.equal(body(alice), 'from bob', "the greater value wins ('from bob' > 'from alice')");
    assert.equal(body(bob), 'from bob');

    const [a, ...moreA] = json(alice, ['conflicts']);
    assert.equal(moreA.length, 0, 'one conflicting cell: stars was changed by bob alone');
    assert.deepEqual(
      { table: a.table, key: a.key, column: a.column, winner: a.winner, source: a.source },
      { table: 'notes', key: ['n1'], column: 'body', winner: 'incoming', source: 'bob' },
    );
    assert.deepEqual(a.local, { value: 'from alice', col_version: 2, origin: 'here', site_id: siteOf(alice) });
    assert.deepEqual(a.incoming, { value: 'from bob', col_version: 2, origin: 'bob', site_id: siteOf(bob) });
    assert.equal(typeof a.db_version, 'number');
    assert.ok(!Number.isNaN(Date.parse(a.time)));

    const [b, ...moreB] = json(bob, ['conflicts']);
    assert.equal(moreB.length, 0);
    assert.equal(b.winner, 'local');
    assert.equal(b.source, 'alice');
    assert.deepEqual(b.local, { value: 'from bob', col_version: 2, origin: 'here', site_id: siteOf(bob) });
    assert.deepEqual(b.incoming, { value: 'from alice', col_version: 2, origin: 'alice', site_id: siteOf(alice) });

    const text = ok(alice, ['conflicts']);
    assert.match(text, /notes\[n1\]\.body {2}\(merge from bob, v\d+\)/);
    assert.match(text, /won: {2}'from bob' {2}from bob, col_version 2 \(incoming\)/);
    assert.match(text, /lost: 'from alice' {2}from here, col_version 2 \(local\)/);
    assert.match(ok(alice, ['log']), /merge from bob: 2 changes received, 2 applied, 1 conflict/);
  });

  it('a sequential overwrite is not listed; -n and --table filter; bad -n is a usage error', async () => {
    const { alice, bob } = await concurrentEdit();
    // now bob edits on top of what he has seen: not a conflict
    ok(bob, ['shell', '-c', "UPDATE notes SET body = 'bob again' WHERE id = 'n1'"]);
    ok(alice, ['pull', 'bob']);
    assert.equal(json(alice, ['conflicts']).length, 1);
    assert.equal(json(alice, ['conflicts', '-n', '1', '--table', 'notes']).length, 1);
    assert.equal(ok(await makeRepo(join(tempDir(), 'empty')), ['conflicts']).trim(), 'no conflicts recorded');
    const bad = ddcp(alice, ['conflicts', '-n', 'x']);
    assert.equal(bad.code, 2);
    assert.equal(bad.stderr, "ddcp: error: -n expects a positive number of conflicts, got 'x'\n");
    const unknown = ddcp(alice, ['conflicts', '--table', 'nope']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /^ddcp: error: table nope is not a CRR\n$/);
  });
});

describe('ddcp log', () => {
  it('lists one entry per transaction, newest first: commits with counts, merges from a remote by name', async () => {
    const { alice } = await concurrentEdit();
    ok(alice, ['shell', '-c', "INSERT INTO notes VALUES ('n2', 'two', 1), ('n3', 'three', 1)"]);
    ok(alice, ['shell', '-c', "DELETE FROM notes WHERE id = 'n3'"]);
    const entries = json(alice, ['log']);
    assert.deepEqual(
      entries.map((e: any) => [e.kind, e.source, e.tables]),
      [
        ['commit', null, { notes: { inserted: 0, updated: 0, deleted: 1, cells: 0 } }],
        ['commit', null, { notes: { inserted: 2, updated: 0, deleted: 0, cells: 4 } }],
        ['merge', 'bob', { notes: { received: 2, applied: 2 } }],
        ['commit', null, { notes: { inserted: 0, updated: 1, deleted: 0, cells: 1 } }],
        ['commit', null, { notes: { inserted: 1, updated: 0, deleted: 0, cells: 2 } }],
      ],
    );
    const versions = entries.map((e: any) => e.db_version);
    assert.deepEqual(versions, [...versions].sort((x: number, y: number) => y - x), 'newest first');
    assert.deepEqual(Object.keys(entries[2]).sort(), ['applied', 'conflicts', 'db_version', 'kind', 'received', 'source', 'tables', 'time']);
    assert.equal(entries[2].conflicts, 1);

    const lines = ok(alice, ['log']).trim().split('\n');
    assert.match(lines[0]!, /^v\d+ {2}\d{4}-\d\d-\d\d \d\d:\d\d:\d\d {2}commit$/);
    assert.equal(lines[1], '    notes: 1 row deleted');
    assert.equal(lines[3], '    notes: 2 rows inserted; 4 cells set');
    assert.match(lines[4]!, /merge from bob: 2 changes received, 2 applied, 1 conflict \(see ddcp conflicts\)$/);
    assert.equal(ok(alice, ['log', '-n', '2']).trim().split('\n').filter((l) => l.startsWith('v')).length, 2, '-n counts entries');
  });

  it('an empty history says so in a line (--json stays an empty array); so does a --table nothing touched', async () => {
    const empty = await makeRepo(join(tempDir(), 'empty'));
    assert.equal(ok(empty, ['log']), 'no commits or merges yet\n');
    assert.deepEqual(json(empty, ['log']), []);
    const { alice } = await concurrentEdit();
    ok(alice, ['shell', '-c', "CREATE TABLE tags(id TEXT PRIMARY KEY NOT NULL, name TEXT); SELECT crsql_as_crr('tags')"]);
    assert.equal(ok(alice, ['log', '--table', 'tags']), 'no commits or merges touched table tags\n');
    assert.deepEqual(json(alice, ['log', '--table', 'tags']), []);
  });

  it('-p shows the cells each entry wrote that are still current, with their origin', async () => {
    const { alice } = await concurrentEdit();
    ok(alice, ['shell', '-c', "INSERT INTO notes VALUES ('n2', 'two', 1)"]);
    const [commit, merge, edit, insert, ...rest] = json(alice, ['log', '-p']);
    assert.equal(rest.length, 0);
    assert.deepEqual(
      commit.changes.map((c: any) => [c.table, c.key, c.column, c.event, c.value, c.col_version, c.origin, c.site_id]),
      [
        ['notes', ['n2'], 'body', 'set', 'two', 1, 'here', siteOf(alice)],
        ['notes', ['n2'], 'stars', 'set', 1, 1, 'here', siteOf(alice)],
      ],
    );
    assert.equal(merge.kind, 'merge');
    assert.deepEqual(
      merge.changes.map((c: any) => [c.table, c.key, c.column, c.value, c.origin]),
      [
        ['notes', ['n1'], 'body', 'from bob', 'bob'],
        ['notes', ['n1'], 'stars', 2, 'bob'],
      ],
    );
    // bob's values replaced every cell alice's own commits wrote to n1: they list none (not kept)
    assert.equal(edit.kind, 'commit');
    assert.deepEqual(edit.changes, []);
    assert.deepEqual(insert.changes, []);
    assert.equal(json(alice, ['log']).some((e: any) => 'changes' in e), false, 'changes only on request');
    const text = ok(alice, ['log', '-p', '-n', '2']);
    assert.match(text, /^ {6}notes\[n2\] body = two {2}\(here\)$/m);
    assert.match(text, /^ {6}notes\[n1\] body = from bob {2}\(bob\)$/m);
    assert.match(ok(alice, ['log', '--help']), /not kept/);
  });

  it('-n abc talks about a count of entries; --table filters; merges by bundle and apply are named', async () => {
    const { alice, bob } = await concurrentEdit();
    const bad = ddcp(alice, ['log', '-n', 'abc']);
    assert.equal(bad.code, 2);
    assert.equal(bad.stderr, "ddcp: error: -n expects a positive number of entries, got 'abc'\n");
    assert.equal(ddcp(alice, ['log', '-n', '0']).code, 2);
    assert.match(ddcp(alice, ['log', '--table', 'nope']).stderr, /table nope is not a CRR/);

    // a bundle from alice, applied by bob (who knows alice's site id from pulling): named as alice
    ok(alice, ['shell', '-c', "INSERT INTO notes VALUES ('b1', 'by bundle', 0)"]);
    ok(alice, ['bundle', 'create', 'x.ddcpb', '--for', 'bob']);
    const applied = ok(bob, ['bundle', 'apply', '../alice/x.ddcpb']);
    assert.match(applied, /^merged \d+ changes from alice \(/);
    assert.equal(json(bob, ['bundle', 'apply', '../alice/x.ddcpb']).remote, 'alice');
    assert.equal(json(bob, ['log', '-n', '1'])[0].source, 'alice (bundle x.ddcpb)');

    // a bundle from a database that is no remote: named by its file
    const carol = await makeRepo(join(bob, '..', 'carol'));
    ok(carol, ['shell', '-c', "INSERT INTO notes VALUES ('c1', 'carol', 0)"]);
    ok(carol, ['bundle', 'create', 'c.ddcpb']);
    assert.match(ok(bob, ['bundle', 'apply', '../carol/c.ddcpb']), new RegExp(`from ${siteOf(carol).slice(0, 8)} `));
    assert.equal(json(bob, ['log', '-n', '1'])[0].source, 'bundle c.ddcpb');

    // ddcp apply from standard input and from a file
    ok(carol, ['shell', '-c', "UPDATE notes SET body = 'carol 2'"]);
    ok(bob, ['apply'], ok(carol, ['changes']));
    assert.match(ok(bob, ['log', '-n', '1']), /merge from apply \(stdin\)/);

    const tagged = json(bob, ['log', '--table', 'notes']);
    assert.ok(tagged.length > 0 && tagged.every((e: any) => 'notes' in e.tables));
  });
});
