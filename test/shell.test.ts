/**
 * `ddcp shell` as a user meets it: scripts from -c and standard input (failure reports, rollback of a
 * transaction left open, output modes, dot commands) and the interactive shell under a real pty.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, describe, it } from 'node:test';
import { BIN, ddcp, ok, tempDir } from './support/cli.ts';
import { Pty } from './support/pty.ts';

const SCHEMA = `CREATE TABLE notes(id TEXT PRIMARY KEY NOT NULL, body TEXT);
SELECT crsql_as_crr('notes');
CREATE TABLE plain(x);
CREATE INDEX notes_body ON notes(body);`;

function repo(): string {
  const dir = tempDir();
  ok(dir, ['init']);
  ok(dir, ['shell'], SCHEMA);
  return dir;
}

const ids = (dir: string): string => ok(dir, ['shell', '-c', 'SELECT id FROM notes ORDER BY id']).trim().split('\n').join(',');

describe('ddcp shell scripts', () => {
  it('-c stops at the first failing statement, names it and says the earlier ones were committed', () => {
    const dir = repo();
    const r = ddcp(dir, ['shell', '-c', "INSERT INTO notes VALUES ('a', '1'); INSERT INTO notes VALUES ('b', '2'); INSERT INTO notes VALUES ('a', 'dup'); INSERT INTO notes VALUES ('c', '3')"]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, "ddcp: error: statement 3 (INSERT INTO notes VALUES ('a', 'dup')): UNIQUE constraint failed: notes.id; statements 1–2 were committed\n");
    assert.equal(ids(dir), 'a,b');
    // …and they were committed as changes that replicate
    assert.equal(JSON.parse(ok(dir, ['status', '--json'])).db_version, 2);
  });

  it('a piped script reports the failing statement with a short excerpt; nothing after it runs', () => {
    const dir = repo();
    const long = 'x'.repeat(200);
    const r = ddcp(dir, ['shell'], `INSERT INTO notes VALUES ('a', '1');\nINSERT INTO notes VALUES ('a', '${long}');\nINSERT INTO notes VALUES ('z', 'never');\n`);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^ddcp: error: statement 2 \(INSERT INTO notes VALUES \('a', 'xxx*…\): UNIQUE constraint failed: notes\.id; statement 1 was committed\n$/);
    assert.ok(r.stderr.length < 200, 'the excerpt is short');
    assert.equal(ids(dir), 'a');
  });

  it("a failure inside the script's own transaction rolls the transaction back and says so", () => {
    const dir = repo();
    const r = ddcp(dir, ['shell'], "INSERT INTO notes VALUES ('a', '1');\nBEGIN;\nINSERT INTO notes VALUES ('b', '2');\nINSERT INTO nope VALUES (1);\nCOMMIT;\n");
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'ddcp: error: statement 4 (INSERT INTO nope VALUES (1)): no such table: nope; statement 1 was committed; the transaction opened by statement 2 was rolled back\n');
    assert.equal(ids(dir), 'a');
  });

  it('a script that ends inside a transaction has it rolled back and fails', () => {
    const dir = repo();
    const r = ddcp(dir, ['shell', '-c', "BEGIN; INSERT INTO notes VALUES ('b', '2')"]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'ddcp: error: the script ended inside the transaction opened by statement 1 (no COMMIT); it was rolled back; nothing was committed\n');
    assert.equal(ids(dir), '');
    ok(dir, ['shell', '-c', "BEGIN; INSERT INTO notes VALUES ('b', '2'); COMMIT"]);
    assert.equal(ids(dir), 'b');
  });

  it('dot commands work in scripts: .schema without ddcp tables, .crrs, .tables, .mode, .headers; an unknown one fails', () => {
    const dir = repo();
    const schema = ok(dir, ['shell'], '.schema\n');
    assert.equal(schema, 'CREATE TABLE notes(id TEXT PRIMARY KEY NOT NULL, body TEXT);\nCREATE INDEX notes_body ON notes(body);\nCREATE TABLE plain(x);\n');
    assert.equal(ok(dir, ['shell'], '.schema plain\n'), 'CREATE TABLE plain(x);\n');
    assert.equal(ok(dir, ['shell'], '.crrs\n'), 'notes\n');
    assert.equal(ok(dir, ['shell'], '.tables\n'), 'notes\nplain\n');
    const out = ok(dir, ['shell'], "INSERT INTO notes VALUES ('a', 'x,y');\n.mode csv\n.headers on\nSELECT id, body FROM notes;\n.mode json\nSELECT id, body FROM notes;\n");
    assert.equal(out, 'id,body\r\na,"x,y"\r\n[{"id":"a","body":"x,y"}]\n');
    const r = ddcp(dir, ['shell'], "INSERT INTO notes VALUES ('b', '');\n.nonsense\nINSERT INTO notes VALUES ('c', '');\n");
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'ddcp: error: unknown command .nonsense; try .help; statement 1 was committed\n');
    assert.equal(ids(dir), 'a,b');
  });

  it('--mode prints csv, json and table; --json still prints one object per line', () => {
    const dir = repo();
    ok(dir, ['shell', '-c', "INSERT INTO notes VALUES ('a', 'say \"hi\"'), ('b', NULL)"]);
    const q = 'SELECT id, body, 7 AS n FROM notes ORDER BY id';
    assert.equal(ok(dir, ['shell', '--mode', 'csv', '--header', '-c', q]), 'id,body,n\r\na,"say ""hi""",7\r\nb,,7\r\n');
    assert.deepEqual(JSON.parse(ok(dir, ['shell', '--mode', 'json', '-c', q])), [
      { id: 'a', body: 'say "hi"', n: 7 },
      { id: 'b', body: null, n: 7 },
    ]);
    assert.equal(ok(dir, ['shell', '--mode', 'table', '-c', q]), ['+----+----------+---+', '| id |   body   | n |', '+----+----------+---+', '| a  | say "hi" | 7 |', '| b  |          | 7 |', '+----+----------+---+', ''].join('\n'));
    assert.equal(ok(dir, ['shell', '--json', '-c', q]), '{"id":"a","body":"say \\"hi\\"","n":7}\n{"id":"b","body":null,"n":7}\n');
    const bad = ddcp(dir, ['shell', '--mode', 'yaml', '-c', q]);
    assert.equal(bad.code, 2);
  });
});

const hasScript = spawnSync('script', ['--version']).status === 0;

describe('ddcp shell on a terminal', { skip: !hasScript && 'util-linux script(1) is not installed' }, () => {
  const ptys: Pty[] = [];
  after(() => ptys.forEach((p) => p.kill()));
  const shell = (dir: string, term?: string): Pty => {
    const p = new Pty(process.execPath, [BIN, 'shell'], dir, term);
    ptys.push(p);
    return p;
  };
  /** Types a line and waits for the shell to be back at a prompt; returns what it printed (echo included). */
  const line = async (p: Pty, text: string, prompt = /\n(ddcp|  \.\.\.)> $/): Promise<string> => {
    p.type(text + '\r');
    return p.waitFor(new RegExp(`[\\s\\S]*?${prompt.source}`));
  };

  it('Ctrl-C discards the typed input and a running statement, keeps the shell; Ctrl-D leaves with 0', async () => {
    const dir = repo();
    const p = shell(dir);
    await p.waitFor(/ddcp> $/);
    // An unfinished statement, then Ctrl-C halfway through its next line: both are dropped.
    assert.match(await line(p, 'SELECT 1,'), /  \.\.\.> $/);
    p.type('2 +\x03');
    await p.waitFor(/\^C\nddcp> $/);
    assert.match(await line(p, 'SELECT 40 + 2;'), /\n42\nddcp> $/);
    // A statement that never returns to JavaScript (node:sqlite can't interrupt): Ctrl-C stops it.
    p.type('WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c;\r');
    await p.waitFor(/FROM c;\n/); // read by the shell: it is running now
    p.type('\x03');
    await p.waitFor(/ddcp: error: interrupted: WITH RECURSIVE c\(x\) AS .*… was cancelled\nddcp> $/);
    // Inside a transaction, cancelling rolls the transaction back (and says so).
    await line(p, 'BEGIN;');
    await line(p, "INSERT INTO notes VALUES ('tx', 'gone');");
    p.type('WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c;\r');
    await p.waitFor(/FROM c;\n/);
    p.type('\x03');
    await p.waitFor(/was cancelled and the open transaction rolled back\nddcp> $/);
    assert.match(await line(p, "SELECT 'rows: ' || count(*) FROM notes;"), /\nrows: 0\nddcp> $/);
    // A long result stops printing.
    p.type('WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c;\r');
    await p.waitFor(/\n5000\n/);
    p.type('\x03');
    await p.waitFor(/was cancelled\nddcp> $/);
    assert.match(await line(p, 'SELECT 6 * 7;'), /\n42\nddcp> $/);
    p.type('\x04');
    assert.equal(await p.exited(), 0);
  });

  it('a failing statement drops the rest of its line; dot commands .schema, .crrs, .mode json, unknown ones', async () => {
    const dir = repo();
    ok(dir, ['shell', '-c', "INSERT INTO notes VALUES ('a', 'x')"]);
    const p = shell(dir);
    await p.waitFor(/ddcp> $/);
    const failed = await line(p, "INSERT INTO notes VALUES ('a', 'dup'); SELECT 'aft' || 'er'; SELECT 1 +");
    assert.match(failed, /\nddcp: error: INSERT INTO notes VALUES \('a', 'dup'\): UNIQUE constraint failed: notes\.id; the rest of the input was skipped\nddcp> $/);
    assert.doesNotMatch(failed, /\nafter\n/);
    assert.match(await line(p, 'SELECT 6 * 7;'), /\n42\nddcp> $/);

    const schema = await line(p, '.schema');
    assert.match(schema, /CREATE TABLE notes\(id TEXT PRIMARY KEY NOT NULL, body TEXT\);\nCREATE INDEX notes_body ON notes\(body\);\nCREATE TABLE plain\(x\);\nddcp> $/);
    assert.doesNotMatch(schema, /ddcp_|__ddcp/);
    assert.match(await line(p, '.crrs'), /\.crrs\nnotes\nddcp> $/);
    await line(p, '.mode json');
    const json = await line(p, "SELECT id, body, 'j' || 'son' AS kind FROM notes;");
    assert.match(json, /\n\[\{"id":"a","body":"x","kind":"json"\}\]\nddcp> $/);
    assert.match(await line(p, '.frobnicate'), /\nddcp: error: unknown command \.frobnicate; try \.help\nddcp> $/);
    p.type('.quit\r');
    assert.equal(await p.exited(), 0);
  });

  it('TERM=dumb (no line editing): Ctrl-C still drops the typed line; leaving inside a transaction rolls it back and says so', async () => {
    const dir = repo();
    const p = shell(dir, 'dumb');
    await p.waitFor(/ddcp> $/);
    p.type('SELECT 1 +\x03');
    await p.waitFor(/\^C\nddcp> $/);
    assert.match(await line(p, 'SELECT 40 + 2;'), /\n42\nddcp> $/);
    await line(p, "BEGIN; INSERT INTO notes VALUES ('tx', 'gone');");
    p.type('\x04');
    await p.waitFor(/ddcp: error: left inside a transaction \(no COMMIT\): it was rolled back\n/);
    assert.equal(await p.exited(), 0);
    assert.equal(ids(dir), '');
  });
});
