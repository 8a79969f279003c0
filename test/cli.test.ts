import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ddcp, ok, tempDir } from './support/cli.ts';

const SCHEMA = `CREATE TABLE notes(id TEXT PRIMARY KEY NOT NULL, body TEXT, n INTEGER, r REAL, b BLOB);
SELECT crsql_as_crr('notes');`;

function repo(): string {
  const dir = tempDir();
  ok(dir, ['init']);
  ok(dir, ['shell'], SCHEMA);
  return dir;
}

/** Every row of notes, with storage classes, as text. */
function dump(dir: string): string {
  return ok(dir, ['shell', '--json', '-c', 'SELECT id, typeof(body), body, typeof(n), quote(n), typeof(r), quote(r), quote(b) FROM notes ORDER BY id']);
}

describe('ddcp CLI', () => {
  it('init creates a plain SQLite database and the .ddcp folder; a second init fails', () => {
    const dir = tempDir();
    const out = ok(dir, ['init']);
    assert.match(out, /Initialized ddcp repository/);
    assert.ok(existsSync(join(dir, 'ddcp.db')));
    assert.ok(existsSync(join(dir, '.ddcp', 'config.json')));
    const plain = new DatabaseSync(join(dir, 'ddcp.db'));
    assert.deepEqual({ ...plain.prepare('SELECT 1 AS one').get() }, { one: 1 });
    plain.close();
    const again = ddcp(dir, ['init']);
    assert.equal(again.code, 1); // the repository is fine; the command failed (3 is for none/damaged)
    assert.match(again.stderr, /^ddcp: error: a ddcp repository already exists/);
    assert.equal(again.stderr.trim().split('\n').length, 1);
  });

  it('status --json has the absolute db path, a 32-hex site id and the db_version', () => {
    const dir = repo();
    const s = JSON.parse(ok(dir, ['status', '--json']));
    assert.equal(s.db, join(dir, 'ddcp.db'));
    assert.match(s.site_id, /^[0-9a-f]{32}$/);
    assert.equal(typeof s.db_version, 'number');
    assert.deepEqual(s.crrs.map((t: { table: string }) => t.table), ['notes']);
    ok(dir, ['shell'], "INSERT INTO notes(id, body) VALUES ('a', 'x');");
    const s2 = JSON.parse(ok(dir, ['status', '--json']));
    assert.ok(s2.db_version > s.db_version);
  });

  it('shell gives each statement its own db_version and exposes crsql functions', () => {
    const dir = repo();
    const out = ok(dir, ['shell'], `INSERT INTO notes(id) VALUES ('a'); SELECT crsql_db_version(); INSERT INTO notes(id) VALUES ('b'); SELECT crsql_db_version(); SELECT hex(crsql_site_id()) = upper('${JSON.parse(ok(dir, ['status', '--json'])).site_id}');`);
    const [v1, v2, same] = out.trim().split('\n');
    assert.equal(Number(v2), Number(v1) + 1);
    assert.equal(same, '1');
  });

  it('shell handles trigger bodies, comments and strings with semicolons', () => {
    const dir = repo();
    ok(dir, ['shell'], `CREATE TABLE log(x); -- a comment; with a semicolon
CREATE TRIGGER nt AFTER INSERT ON notes BEGIN INSERT INTO log VALUES ('a;b'); INSERT INTO log VALUES (CASE WHEN NEW.id = 'z' THEN 1 ELSE 2 END); END;
INSERT INTO notes(id, body) VALUES ('z', 'semi;colon /* not a comment */');`);
    assert.equal(ok(dir, ['shell', '-c', 'SELECT count(*) FROM log; SELECT body FROM notes']).trim(), "2\nsemi;colon /* not a comment */");
  });

  it('shell refuses an unsafe table with one line naming the table and the reason, and changes nothing', () => {
    const dir = tempDir();
    ok(dir, ['init']);
    const r = ddcp(dir, ['shell'], "CREATE TABLE bad(id INTEGER PRIMARY KEY, x); SELECT crsql_as_crr('bad');");
    assert.equal(r.code, 1);
    assert.match(r.stderr, /bad.*primary-key column id is nullable/);
    assert.equal(JSON.parse(ok(dir, ['status', '--json'])).crrs.length, 0);
    assert.equal(ok(dir, ['shell', '-c', "SELECT count(*) FROM sqlite_master WHERE name LIKE 'bad__ddcp%'"]).trim(), '0');
  });

  it('changes | apply reproduces every value exactly in another repository', () => {
    const a = repo();
    const b = repo();
    ok(a, ['shell'], `INSERT INTO notes VALUES ('k1', 'text', 9007199254740993, 2.0, X'00FF');
INSERT INTO notes VALUES ('k2', '', -9223372036854775808, -0.5, X'');
INSERT INTO notes VALUES ('k3', NULL, 0, 1e300, NULL);
UPDATE notes SET body = 'changed' WHERE id = 'k1';
INSERT INTO notes(id) VALUES ('gone'); DELETE FROM notes WHERE id = 'gone';`);
    const changes = ok(a, ['changes']);
    for (const line of changes.trim().split('\n')) {
      const c = JSON.parse(line);
      assert.deepEqual(Object.keys(c), ['table', 'pk', 'cid', 'val', 'col_version', 'db_version', 'site_id', 'cl', 'seq']);
      assert.match(c.pk, /^[0-9a-f]+$/);
      assert.match(c.val, /^[0-9a-f]+$/);
      assert.match(c.site_id, /^[0-9a-f]{32}$/);
    }
    const res = JSON.parse(ok(b, ['apply', '--json'], changes));
    assert.equal(res.received, changes.trim().split('\n').length);
    assert.equal(dump(b), dump(a));
    // the origin site id travels with the changes
    const siteA = JSON.parse(ok(a, ['status', '--json'])).site_id;
    assert.ok(ok(b, ['changes']).trim().split('\n').every((l) => JSON.parse(l).site_id === siteA));
    // --since leaves out what was already seen
    const v = JSON.parse(ok(a, ['status', '--json'])).db_version;
    assert.equal(ok(a, ['changes', '--since', String(v)]), '');
  });

  it('apply from a file argument', () => {
    const a = repo();
    const b = repo();
    ok(a, ['shell'], "INSERT INTO notes(id, body) VALUES ('f', 'from file');");
    const file = join(tempDir(), 'c.jsonl');
    writeFileSync(file, ok(a, ['changes']));
    ok(b, ['apply', file]);
    assert.equal(ok(b, ['shell', '-c', "SELECT body FROM notes WHERE id = 'f'"]).trim(), 'from file');
    const missing = ddcp(b, ['apply', join(tempDir(), 'nope.jsonl')]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no such file/);
  });

  it('tracks writes made by a plain SQLite connection that never loaded ddcp', () => {
    const a = repo();
    const b = repo();
    const plain = new DatabaseSync(join(a, 'ddcp.db'));
    plain.exec("INSERT INTO notes(id, body) VALUES ('p1', 'plain'), ('p2', 'plain2'); UPDATE notes SET body = 'edited' WHERE id = 'p1'; DELETE FROM notes WHERE id = 'p2';");
    plain.close();
    ok(b, ['apply'], ok(a, ['changes']));
    assert.equal(dump(b), dump(a));
    assert.equal(ok(b, ['shell', '-c', 'SELECT id, body FROM notes']).trim(), 'p1|edited');
  });

  describe('apply rejects bad input whole, naming the line, and changes nothing', () => {
    const a = repo();
    ok(a, ['shell'], "INSERT INTO notes(id, body) VALUES ('x', 'one'), ('y', 'two');");
    const good = ok(a, ['changes']).trim().split('\n');
    const line = JSON.parse(good[0]!);
    const cases: [string, string, RegExp][] = [
      ['not JSON', '{"table":', /line 2: not valid JSON/],
      ['bad hex', JSON.stringify({ ...line, pk: 'zz' }), /line 2: "pk" is not valid hex/],
      ['odd hex', JSON.stringify({ ...line, val: '010' }), /line 2: "val" is not valid hex/],
      ['truncated value', JSON.stringify({ ...line, val: '010b05616263' }), /line 2: "val" is not a packed value: .*truncated/],
      ['truncated key', JSON.stringify({ ...line, pk: '010b0561' }), /change 2: bad primary key/],
      ['wrong type', JSON.stringify({ ...line, col_version: 'one' }), /line 2: "col_version" must be a non-negative integer/],
      ['negative', JSON.stringify({ ...line, cl: -1 }), /line 2: "cl" must be a non-negative integer/],
      ['short site id', JSON.stringify({ ...line, site_id: 'abcd' }), /line 2: "site_id" must be 16 bytes/],
      ['missing field', JSON.stringify({ ...line, seq: undefined }), /line 2: missing field "seq"/],
      ['unknown field', JSON.stringify({ ...line, extra: 1 }), /line 2: unknown field "extra"/],
      ['unknown table', JSON.stringify({ ...line, table: 'nope' }), /change 2: no CRR table nope/],
      ['unknown column', JSON.stringify({ ...line, cid: 'nope' }), /change 2: table notes has no column nope/],
    ];
    for (const [name, bad, expected] of cases) {
      it(name, () => {
        const b = repo();
        ok(b, ['shell'], "INSERT INTO notes(id, body) VALUES ('mine', 'keep');");
        const before = dump(b);
        const versionBefore = JSON.parse(ok(b, ['status', '--json'])).db_version;
        const r = ddcp(b, ['apply'], [good[0], bad, ...good.slice(1)].join('\n'));
        assert.equal(r.code, 1, r.stderr);
        assert.match(r.stderr, expected);
        assert.match(r.stderr, /nothing was applied/);
        assert.equal(r.stderr.trim().split('\n').length, 1);
        assert.equal(dump(b), before);
        assert.equal(JSON.parse(ok(b, ['status', '--json'])).db_version, versionBefore);
      });
    }
  });

  it('schema changes: begin/commit alter keeps clocks and the new column replicates', () => {
    const a = repo();
    const b = repo();
    ok(a, ['shell'], "INSERT INTO notes(id, body) VALUES ('s', 'before');");
    ok(b, ['apply'], ok(a, ['changes']));
    for (const dir of [a, b]) ok(dir, ['shell'], "SELECT crsql_begin_alter('notes'); ALTER TABLE notes ADD COLUMN tag TEXT DEFAULT 'none'; SELECT crsql_commit_alter('notes');");
    const v = JSON.parse(ok(b, ['status', '--json'])).db_version;
    ok(a, ['shell'], "UPDATE notes SET tag = 'new' WHERE id = 's';");
    const delta = ok(a, ['changes', '--since', String(JSON.parse(ok(a, ['status', '--json'])).db_version - 1)]);
    assert.equal(delta.trim().split('\n').length, 1);
    assert.equal(JSON.parse(delta).cid, 'tag');
    ok(b, ['apply'], delta);
    assert.equal(ok(b, ['shell', '-c', "SELECT body, tag FROM notes WHERE id = 's'"]).trim(), 'before|new');
    assert.ok(JSON.parse(ok(b, ['status', '--json'])).db_version > v);
    // a peer without the column gets a clear error and nothing is applied
    const c = repo();
    const r = ddcp(c, ['apply'], ok(a, ['changes']));
    assert.equal(r.code, 1);
    assert.match(r.stderr, /table notes has no column tag here/);
  });

  it('every command has --help', () => {
    const dir = tempDir();
    for (const cmd of [[], ['init'], ['shell'], ['status'], ['changes'], ['apply']]) {
      const r = ddcp(dir, [...cmd, '--help']);
      assert.equal(r.code, 0, `${cmd.join(' ')} --help`);
      assert.match(r.stdout, /Usage: ddcp/);
    }
  });

  it('usage errors exit 2 and a missing repository exits 3', () => {
    const dir = tempDir();
    const bad = ddcp(dir, ['frobnicate']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /unknown command 'frobnicate'/);
    const none = ddcp(dir, ['status']);
    assert.equal(none.code, 3);
    assert.match(none.stderr, /not a ddcp repository.*ddcp init/);
  });
});
