/**
 * Schema changes by other programs never brick a repository (issue 8, finding 8): a CRR dropped,
 * renamed, recreated or given other columns with plain SQL (here node:sqlite, as the sqlite3 shell
 * would) leaves every command working, with one warning saying what happened; `ddcp untrack` and
 * `crsql_as_table` stop tracking a table and leave it, with its rows, as a plain table.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, it } from 'node:test';
import { ddcp, initRepo, ok, tempDir } from './support/cli.ts';

const SCHEMA = `CREATE TABLE notes(id TEXT PRIMARY KEY NOT NULL, body TEXT, n INTEGER);
CREATE TABLE tags(id TEXT PRIMARY KEY NOT NULL, tag TEXT);
SELECT crsql_as_crr('notes'); SELECT crsql_as_crr('tags');
INSERT INTO notes VALUES ('n1', 'hi', 1), ('n2', 'there', 2); INSERT INTO tags VALUES ('t1', 'red');`;

let root: string;
let count = 0;
const fresh = (): string => initRepo(root, `r${++count}`, SCHEMA);

before(() => {
  root = tempDir();
});
after(() => rmSync(root, { recursive: true, force: true }));

/** Runs SQL on the repository's database as another program would (no ddcp functions loaded). */
function sql(dir: string, text: string): void {
  const db = new DatabaseSync(join(dir, 'ddcp.db'));
  try {
    db.exec(text);
  } finally {
    db.close();
  }
}

function objects(dir: string, like: string): string[] {
  const db = new DatabaseSync(join(dir, 'ddcp.db'));
  try {
    return (db.prepare('SELECT name FROM sqlite_master WHERE name LIKE ? ORDER BY name').all(like) as { name: string }[]).map((r) => r.name);
  } finally {
    db.close();
  }
}

const crrs = (dir: string): string[] => (JSON.parse(ok(dir, ['status', '--json'])) as { crrs: { table: string }[] }).crrs.map((t) => t.table);
const changes = (dir: string): { table: string; pk: string; cid: string; db_version: number }[] =>
  ok(dir, ['changes'])
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));

/** Every command a user would reach for works (exit 0). */
function allWork(dir: string): void {
  for (const args of [['status'], ['log'], ['changes'], ['shell', '-c', 'SELECT 1']]) {
    const r = ddcp(dir, args);
    assert.equal(r.code, 0, `ddcp ${args.join(' ')}: ${r.stderr}`);
  }
}

describe('a CRR dropped by another program', () => {
  it('every command keeps working; one warning names the table; its tracking is removed; other CRRs still sync', () => {
    const dir = fresh();
    sql(dir, 'DROP TABLE notes');
    const first = ddcp(dir, ['status']);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stderr, /^ddcp: warning: table notes was dropped by another program; its tracking was removed/);
    assert.equal(first.stderr.trim().split('\n').length, 1);
    allWork(dir);
    assert.equal(ddcp(dir, ['status']).stderr, '', 'reported once');
    assert.deepEqual(crrs(dir), ['tags']);
    assert.deepEqual(objects(dir, 'notes%'), [], 'no clock, key or log table left behind');
    ok(dir, ['shell', '-c', "INSERT INTO tags VALUES ('t2', 'blue')"]);
    assert.ok(changes(dir).some((c) => c.table === 'tags' && c.pk.length > 0 && c.cid === 'tag'));
    assert.ok(!changes(dir).some((c) => c.table === 'notes'));
  });

  it('a peer that still has the table: its changes for it are refused as a schema misfit, naming the table', () => {
    const peer = fresh();
    const dir = fresh();
    ok(dir, ['remote', 'add', 'peer', peer]);
    sql(dir, 'DROP TABLE notes');
    const r = ddcp(dir, ['pull']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^ddcp: error: peer: remote peer sends changes for table notes/m);
    assert.doesNotMatch(r.stderr, /no such table/);
  });

  it('dropped in a folder remote: pulling from it repairs it there and says so, naming the folder', () => {
    const peer = fresh();
    const dir = fresh();
    ok(dir, ['remote', 'add', 'peer', peer]);
    sql(peer, 'DROP TABLE notes');
    const r = ddcp(dir, ['pull']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`^ddcp: warning: in the repository at ${peer.replaceAll('/', '\\/')}: table notes was dropped`, 'm'));
    assert.deepEqual(crrs(peer), ['tags']);
  });

  it('dropped and created again with the same shape (as a migration does): tracking is restored and its rows are tracked', () => {
    const dir = fresh();
    sql(dir, "BEGIN; DROP TABLE notes; CREATE TABLE notes(id TEXT PRIMARY KEY NOT NULL, body TEXT, n INTEGER); INSERT INTO notes VALUES ('n1', 'hi', 1), ('n3', 'new', 3); COMMIT;");
    const r = ddcp(dir, ['status']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /^ddcp: warning: table notes was changed by another program .*tracking was (updated|restored)/m);
    assert.deepEqual(crrs(dir), ['notes', 'tags']);
    const byRow = new Set(changes(dir).filter((c) => c.table === 'notes' && c.cid === 'body').map((c) => c.pk));
    assert.equal(byRow.size, 2, 'n1 and the new n3; n2 is deleted');
    assert.ok(changes(dir).some((c) => c.table === 'notes' && c.cid === '-1'), 'the delete of n2');
    // writes after the repair are tracked by the new triggers
    const before = Math.max(...changes(dir).map((c) => c.db_version));
    sql(dir, "UPDATE notes SET body = 'edited' WHERE id = 'n3'");
    assert.ok(changes(dir).some((c) => c.table === 'notes' && c.cid === 'body' && c.db_version > before));
  });
});

describe('a CRR renamed by another program', () => {
  it('every command keeps working; the warning names both names; the renamed table is a plain table that can be written and made a CRR again', () => {
    const dir = fresh();
    sql(dir, 'ALTER TABLE notes RENAME TO notes2');
    const r = ddcp(dir, ['status']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /^ddcp: warning: table notes was renamed to notes2 by another program; it is no longer tracked/);
    allWork(dir);
    assert.deepEqual(crrs(dir), ['tags']);
    assert.deepEqual(objects(dir, 'notes%'), ['notes2']);
    sql(dir, "INSERT INTO notes2 VALUES ('n9', 'x', 9)"); // no trigger left writing to a dropped log
    ok(dir, ['shell', '-c', "SELECT crsql_as_crr('notes2')"]);
    assert.ok(changes(dir).some((c) => c.table === 'notes2'));
  });
});

describe('columns changed by another program', () => {
  it('a renamed column: commands work, one warning, and the column is tracked under its new name', () => {
    const dir = fresh();
    sql(dir, 'ALTER TABLE notes RENAME COLUMN body TO text');
    const r = ddcp(dir, ['status']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /^ddcp: warning: table notes was changed by another program .*text.*tracking was updated/m);
    allWork(dir);
    const cs = changes(dir).filter((c) => c.table === 'notes');
    assert.ok(cs.some((c) => c.cid === 'text'));
    assert.ok(!cs.some((c) => c.cid === 'body'));
    const before = Math.max(...changes(dir).map((c) => c.db_version));
    sql(dir, "UPDATE notes SET text = 'edited' WHERE id = 'n1'");
    assert.ok(changes(dir).some((c) => c.table === 'notes' && c.cid === 'text' && c.db_version > before));
  });

  it('an added column (without crsql_begin_alter): tracked from then on', () => {
    const dir = fresh();
    sql(dir, 'ALTER TABLE notes ADD COLUMN extra TEXT');
    const r = ddcp(dir, ['status']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /table notes was changed by another program/);
    sql(dir, "UPDATE notes SET extra = 'e' WHERE id = 'n2'");
    assert.ok(changes(dir).some((c) => c.table === 'notes' && c.cid === 'extra'));
    allWork(dir);
  });

  it('writes logged before the change are not lost: they are stamped in the shape they were logged in', () => {
    const dir = fresh();
    // An update of n logged, then the table rebuilt with its columns in another order (the usual
    // "12-step" migration): the log's masks name column positions of the old order.
    sql(
      dir,
      `UPDATE notes SET n = 42 WHERE id = 'n1';
       BEGIN; CREATE TABLE notes_new(id TEXT PRIMARY KEY NOT NULL, n INTEGER, body TEXT);
       INSERT INTO notes_new SELECT id, n, body FROM notes; DROP TABLE notes; ALTER TABLE notes_new RENAME TO notes; COMMIT;`,
    );
    ok(dir, ['status']);
    const tagsVersion = Math.max(...changes(dir).filter((c) => c.table === 'tags').map((c) => c.db_version));
    const n1 = changes(dir).filter((c) => c.table === 'notes' && c.pk === changes(dir).find((x) => x.table === 'notes' && x.db_version === 1 && x.cid === 'body')!.pk);
    assert.ok(n1.some((c) => c.cid === 'n' && c.db_version > tagsVersion), 'the update of n got a new version');
    assert.ok(!n1.some((c) => c.cid === 'body' && c.db_version > tagsVersion), 'body was not changed');
  });

  it('a dropped column, where SQLite allows it: commands keep working', () => {
    const dir = fresh();
    let dropped = true;
    try {
      sql(dir, 'ALTER TABLE notes DROP COLUMN n');
    } catch {
      dropped = false; // SQLite refuses while a trigger names the column: nothing changed
    }
    allWork(dir);
    if (dropped) assert.ok(!changes(dir).some((c) => c.table === 'notes' && c.cid === 'n'));
  });

  it('a primary key changed: the table can no longer be a CRR as it was; its tracking is removed, saying why', () => {
    const dir = fresh();
    sql(dir, "BEGIN; DROP TABLE notes; CREATE TABLE notes(key TEXT PRIMARY KEY NOT NULL, body TEXT); COMMIT;");
    const r = ddcp(dir, ['status']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /table notes was changed by another program.*primary key.*no longer tracked/);
    allWork(dir);
    assert.deepEqual(crrs(dir), ['tags']);
  });
});

describe('stopping tracking a table', () => {
  for (const [how, run] of [
    ['ddcp untrack notes', (dir: string) => ok(dir, ['untrack', 'notes'])],
    ["SELECT crsql_as_table('notes')", (dir: string) => ok(dir, ['shell', '-c', "SELECT crsql_as_table('notes')"])],
  ] as const) {
    it(`${how}: the table and its rows stay, its triggers and clocks go, writes no longer make versions`, () => {
      const dir = fresh();
      run(dir);
      assert.deepEqual(crrs(dir), ['tags']);
      assert.deepEqual(objects(dir, 'notes%'), ['notes']);
      assert.equal(ok(dir, ['shell', '-c', 'SELECT count(*) FROM notes']).trim().split('\n').pop(), '2');
      const v = JSON.parse(ok(dir, ['status', '--json'])).db_version;
      sql(dir, "INSERT INTO notes VALUES ('n5', 'x', 5)");
      assert.equal(JSON.parse(ok(dir, ['status', '--json'])).db_version, v);
      assert.ok(!changes(dir).some((c) => c.table === 'notes'));
      allWork(dir);
      ok(dir, ['shell', '-c', "SELECT crsql_as_crr('notes')"]); // and it can be tracked again
      assert.equal(new Set(changes(dir).filter((c) => c.table === 'notes').map((c) => c.pk)).size, 3);
    });
  }

  it('a table that is not a CRR: exit 1 naming it', () => {
    const dir = fresh();
    sql(dir, 'CREATE TABLE plain(id INTEGER PRIMARY KEY)');
    for (const t of ['plain', 'nope']) {
      const r = ddcp(dir, ['untrack', t]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`^ddcp: error: table ${t} is not a CRR`));
    }
  });
});
