/**
 * Repositories, remotes and fetch/merge/pull, end to end: the real `ddcp` executable on real SQLite
 * files in temporary folders, apps writing through their own connections, concurrent writer
 * processes and a merge killed with SIGKILL. Bulk set-up goes through the library (the same code the
 * CLI calls) where the CLI isn't what is being tested.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { Repository } from '../src/index.ts';
import { BIN, ddcp, ok, tempDir, type RunResult } from './support/cli.ts';

const NOTES = 'CREATE TABLE notes(id TEXT PRIMARY KEY NOT NULL, body TEXT, n INTEGER, r REAL, b BLOB)';
const APP_TIMEOUT = { timeout: 10_000 };

// --- helpers ---------------------------------------------------------------------------------------

/** A repository in `dir` (created) with the notes CRR, made through the library. */
async function makeRepo(dir: string = tempDir(), schema = NOTES, crrs = ['notes']): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const repo = await Repository.init(dir);
  try {
    repo.db.exec(schema);
    for (const t of crrs) repo.engine.asCrr(t);
  } finally {
    repo.close();
  }
  return dir;
}

/** Runs `ddcp args…` without blocking the event loop (so several can run at once, or be killed). */
function start(cwd: string, args: string[], input = ''): { child: ChildProcess; done: Promise<RunResult & { signal: NodeJS.Signals | null }> } {
  const child = spawn(process.execPath, [BIN, ...args], { cwd, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  child.stdin!.end(input);
  const done = new Promise<RunResult & { signal: NodeJS.Signals | null }>((res, rej) => {
    child.on('error', rej);
    child.on('close', (code, signal) => res({ code: code ?? -1, signal, stdout, stderr }));
  });
  return { child, done };
}

async function okAsync(cwd: string, args: string[], input?: string): Promise<string> {
  const r = await start(cwd, args, input).done;
  if (r.code !== 0) throw new Error(`ddcp ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

const json = (dir: string, args: string[]): any => JSON.parse(ok(dir, [...args, '--json']));
const status = (dir: string): any => json(dir, ['status']);

const DUMP = 'SELECT id, typeof(body), quote(body), typeof(n), quote(n), typeof(r), quote(r), typeof(b), quote(b) FROM notes ORDER BY id';

/** Every row of notes, with storage classes, as the CLI's JSON lines. */
function dump(dir: string): string {
  return ok(dir, ['shell', '--json', '-c', DUMP]);
}

function count(dir: string, where = '1'): number {
  return Number(ok(dir, ['shell', '-c', `SELECT count(*) FROM notes WHERE ${where}`]).trim());
}

/** `ddcp changes` parsed. */
function changes(dir: string, since = 0): any[] {
  const out = ok(dir, ['changes', '--since', String(since)]).trim();
  return out === '' ? [] : out.split('\n').map((l) => JSON.parse(l));
}

/** The clocks that must agree on every copy (db_version and seq are local bookkeeping). */
function clocks(dir: string): string[] {
  return clockKeys(changes(dir));
}

function clockKeys(list: any[]): string[] {
  return list.map((c) => JSON.stringify([c.table, c.pk, c.cid, c.val, c.col_version, c.site_id, c.cl])).sort();
}

/** Asserts a failed run: the exit code and exactly one error line matching `pattern`. */
function fails(r: RunResult, code: number, pattern: RegExp): void {
  assert.equal(r.code, code, `expected exit ${code}, got ${r.code}: ${r.stderr}`);
  const lines = r.stderr.trim().split('\n');
  assert.match(lines[0]!, /^ddcp: (error: )?/);
  assert.match(lines[0]!, pattern);
  assert.equal(lines.length, 1, `one line: ${r.stderr}`);
}

const ADDRESS = /^12D3KooW[1-9A-HJ-NP-Za-km-z]{44}$/;

// --- 1. init and identity ----------------------------------------------------------------------------

describe('init, adoption and identity', () => {
  it('init --db adopts an app database with data; the app keeps reading and writing it', async () => {
    const root = tempDir();
    mkdirSync(join(root, 'app', 'data'), { recursive: true });
    const appPath = join(root, 'app', 'data', 'app.db');
    // the app's own connection stays open through everything below
    const app = new DatabaseSync(appPath, APP_TIMEOUT);
    app.exec(`${NOTES}; CREATE TABLE prefs(k TEXT PRIMARY KEY, v);
      INSERT INTO notes VALUES ('a', 'alpha', 1, 1.5, X'01'), ('b', 'beta', 2, NULL, NULL), ('c', NULL, NULL, NULL, X'');
      INSERT INTO prefs VALUES ('theme', 'dark');`);

    const repoDir = join(root, 'repo');
    mkdirSync(repoDir);
    const out = ok(repoDir, ['init', '--db', '../app/data/app.db']);
    const address = /address:\s+(\S+)/.exec(out)?.[1];
    assert.match(address ?? '', ADDRESS, out);
    assert.match(out, new RegExp(`database: ${appPath.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    assert.ok(!existsSync(join(repoDir, 'ddcp.db')), 'no ddcp.db when adopting');
    assert.equal(statSync(join(repoDir, '.ddcp', 'identity.key')).mode & 0o777, 0o600);

    const s = status(repoDir);
    assert.equal(s.db, appPath);
    assert.equal(s.address, address);
    assert.match(ok(repoDir, ['status']), new RegExp(`address\\s+${address}`));

    // the app still reads its data, and nothing of it was touched
    assert.deepEqual(app.prepare('SELECT id FROM notes ORDER BY id').all().map((r: any) => r.id), ['a', 'b', 'c']);
    assert.equal((app.prepare("SELECT v FROM prefs WHERE k = 'theme'").get() as any).v, 'dark');

    // existing rows become replicable once the table is a CRR
    ok(repoDir, ['shell', '-c', "SELECT crsql_as_crr('notes')"]);
    const pks = new Set(changes(repoDir).map((c) => c.pk));
    assert.equal(pks.size, 3, 'a change for each existing row');
    const bob = await makeRepo();
    ok(bob, ['remote', 'add', 'app', repoDir]);
    ok(bob, ['pull', 'app']);
    assert.equal(dump(bob), dump(repoDir));
    assert.equal(count(bob), 3);

    // the app keeps writing through its own connection; ddcp tracks it
    app.exec("INSERT INTO notes VALUES ('d', 'delta', 4, 4.0, NULL); UPDATE notes SET body = 'ALPHA' WHERE id = 'a'; DELETE FROM notes WHERE id = 'b'; UPDATE prefs SET v = 'light';");
    ok(bob, ['pull', 'app']);
    assert.equal(dump(bob), dump(repoDir));
    assert.deepEqual(
      ok(bob, ['shell', '-c', 'SELECT id, body FROM notes ORDER BY id']).trim().split('\n'),
      ['a|ALPHA', 'c|', 'd|delta'],
    );

    // changes from elsewhere land in the app's file, and the app sees them at once
    ok(bob, ['shell', '-c', "INSERT INTO notes(id, body) VALUES ('e', 'from bob'); UPDATE notes SET n = 40 WHERE id = 'd'"]);
    ok(repoDir, ['remote', 'add', 'bob', bob]);
    ok(repoDir, ['pull']);
    assert.equal((app.prepare("SELECT body FROM notes WHERE id = 'e'").get() as any).body, 'from bob');
    assert.equal((app.prepare("SELECT n FROM notes WHERE id = 'd'").get() as any).n, 40);
    // and keeps writing afterwards (WAL now; busy timeout: no SQLITE_BUSY)
    app.exec("INSERT INTO notes(id, body) VALUES ('f', 'after')");
    assert.equal((app.prepare('PRAGMA journal_mode').get() as any).journal_mode, 'wal');
    assert.equal((app.prepare('PRAGMA integrity_check').get() as any).integrity_check, 'ok');
    assert.equal((app.prepare("SELECT v FROM prefs WHERE k = 'theme'").get() as any).v, 'light');
    ok(bob, ['pull', 'app']);
    assert.equal(dump(bob), dump(repoDir));
    app.close();
  });

  it('init alone creates ddcp.db; init --json, status and status --json agree on the address', () => {
    const dir = tempDir();
    const r = json(dir, ['init']);
    assert.equal(r.db, join(dir, 'ddcp.db'));
    assert.ok(existsSync(join(dir, 'ddcp.db')));
    assert.match(r.address, ADDRESS);
    assert.match(r.site_id, /^[0-9a-f]{32}$/);
    assert.equal(statSync(join(dir, '.ddcp', 'identity.key')).mode & 0o777, 0o600);
    const s = status(dir);
    assert.equal(s.address, r.address);
    assert.equal(s.site_id, r.site_id);
    assert.match(ok(dir, ['status']), new RegExp(`^address\\s+${r.address}$`, 'm'));
    // another repository has another identity
    const other = json(tempDir(), ['init']);
    assert.notEqual(other.address, r.address);
    assert.notEqual(other.site_id, r.site_id);
  });

  it('init --db refuses a folder for a file and a missing parent folder (exit 3), leaving nothing', () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'sub'));
    fails(ddcp(dir, ['init', '--db', 'sub']), 3, /is not a file/);
    fails(ddcp(dir, ['init', '--db', 'nope/app.db']), 3, /does not exist/);
    assert.ok(!existsSync(join(dir, '.ddcp')));
  });
});

// --- 2. remotes --------------------------------------------------------------------------------------

describe('remote add / list / remove', () => {
  it('adds, lists (text and --json), refuses duplicates and bad locations, removes', async () => {
    const root = tempDir();
    const alice = await makeRepo(join(root, 'alice'));
    const bob = await makeRepo(join(root, 'bob'));
    mkdirSync(join(root, 'plain'));

    assert.match(ok(alice, ['remote', 'add', 'bob', '../bob']), /added remote bob/);
    assert.equal(ok(alice, ['remote', 'list']), `bob\t${bob}\n`);
    assert.deepEqual(json(alice, ['remote', 'list']), [{ name: 'bob', location: bob, site_id: null, fetched_version: 0, staged: 0, fetched_at: null }]);

    // -C: relative locations are relative to the repository's folder given with -C
    ok(root, ['-C', 'bob', 'remote', 'add', 'alice', '../alice']);
    assert.equal(json(bob, ['remote', 'list'])[0].location, alice);

    fails(ddcp(alice, ['remote', 'add', 'bob', '../bob']), 1, /remote "bob" already exists/);
    fails(ddcp(alice, ['remote', 'add', 'bob', '../plain']), 1, /already exists/);
    fails(ddcp(alice, ['remote', 'add', 'x', '../nowhere']), 1, /cannot reach remote location \.\.\/nowhere/);
    fails(ddcp(alice, ['remote', 'add', 'x', '../plain']), 1, /plain is not a ddcp repository/);
    fails(ddcp(alice, ['remote', 'add', 'x', '.']), 1, /is this repository itself/);
    fails(ddcp(alice, ['remote', 'add', 'a/b', '../bob']), 1, /invalid remote name/);
    fails(ddcp(alice, ['remote', 'remove', 'nope']), 1, /no remote named "nope"/);
    fails(ddcp(alice, ['remote', 'add', 'onlyname']), 2, /missing required argument/);
    assert.equal(json(alice, ['remote', 'list']).length, 1, 'failed adds changed nothing');

    // removing drops what was staged from it
    ok(bob, ['shell', '-c', "INSERT INTO notes(id) VALUES ('x')"]);
    assert.equal(json(alice, ['fetch', 'bob'])[0].staged, changes(bob).length);
    assert.match(ok(alice, ['remote', 'remove', 'bob']), /removed remote bob/);
    assert.equal(ok(alice, ['remote', 'list']), '');
    assert.deepEqual(json(alice, ['remote', 'list']), []);
    ok(alice, ['remote', 'add', 'bob', bob]);
    assert.deepEqual(status(alice).remotes.map((r: any) => [r.name, r.staged, r.fetched_version]), [['bob', 0, 0]]);
    assert.equal(count(alice), 0);
    // `rm` is an alias
    ok(alice, ['remote', 'rm', 'bob']);
    assert.deepEqual(json(alice, ['remote', 'list']), []);
  });
});

// --- 3. fetch / merge / pull -------------------------------------------------------------------------

describe('fetch, merge and pull', () => {
  it('fetch stages without touching the database; merge applies in one transaction; pull does both', async () => {
    const root = tempDir();
    const [alice, bob] = await Promise.all([makeRepo(join(root, 'alice')), makeRepo(join(root, 'bob'))]);
    ok(bob, ['remote', 'add', 'alice', '../alice']);
    ok(alice, ['shell'], "INSERT INTO notes VALUES ('a1', 'one', 1, 0.5, X'AA'); INSERT INTO notes VALUES ('a2', 'two', 2, NULL, NULL); UPDATE notes SET body = 'uno' WHERE id = 'a1';");
    const aliceChanges = changes(alice).length;

    const app = new DatabaseSync(join(bob, 'ddcp.db'), APP_TIMEOUT);
    const dataVersion = () => (app.prepare('PRAGMA data_version').get() as any).data_version;
    const before = { dv: dataVersion(), v: status(bob).db_version, rows: dump(bob) };

    const f = json(bob, ['fetch']);
    assert.deepEqual(f, [{ remote: 'alice', ok: true, changes: aliceChanges, version: status(alice).db_version, staged: aliceChanges }]);
    // nothing in the database changed: no commit by any other connection, same rows, same db_version
    assert.equal(dataVersion(), before.dv, 'fetch committed nothing to the database');
    assert.equal(dump(bob), before.rows);
    assert.equal(status(bob).db_version, before.v);
    assert.equal(status(bob).remotes[0].staged, aliceChanges);
    assert.equal(json(bob, ['remote', 'list'])[0].staged, aliceChanges);
    assert.equal(json(bob, ['remote', 'list'])[0].site_id, status(alice).site_id);
    assert.match(ok(bob, ['status']), new RegExp(`remote\\s+alice .*fetched up to version \\d+, ${aliceChanges} staged \\(ddcp merge alice\\)`));
    // fetching again transfers nothing new and keeps what is staged
    assert.deepEqual(json(bob, ['fetch', 'alice']).map((r: any) => [r.changes, r.staged]), [[0, aliceChanges]]);

    const m = json(bob, ['merge', 'alice']);
    assert.deepEqual(m, { remote: 'alice', received: aliceChanges, applied: aliceChanges, db_version: before.v + 1 });
    assert.equal(status(bob).db_version, before.v + 1, 'one merge, one db_version');
    assert.equal(dump(bob), dump(alice));
    assert.equal(status(bob).remotes[0].staged, 0);
    assert.match(ok(bob, ['merge', 'alice']), /merged 0 changes from alice/);

    // pull: nothing new → 0 transferred, nothing merged, db_version unchanged
    const p0 = json(bob, ['pull', 'alice']);
    assert.equal(p0[0].fetch.changes, 0);
    assert.equal(p0[0].merge.received, 0);
    assert.equal(p0[0].merge.db_version, before.v + 1);

    // only what is new since the last fetch is transferred
    const fetchedUpTo = status(bob).remotes[0].fetched_version;
    ok(alice, ['shell', '-c', "INSERT INTO notes(id, body, n) VALUES ('a3', 'three', 3); UPDATE notes SET n = 20 WHERE id = 'a2'"]);
    const fresh = changes(alice, fetchedUpTo);
    assert.ok(fresh.length > 0 && fresh.length < aliceChanges + 3, `${fresh.length} new changes`);
    const p1 = json(bob, ['pull']);
    assert.equal(p1[0].fetch.changes, fresh.length);
    assert.equal(p1[0].merge.received, fresh.length);
    assert.match(ok(bob, ['pull']), /pulled 0 changes from alice; merged 0/);
    assert.equal(dump(bob), dump(alice));

    // changes that came from us are never sent back
    ok(alice, ['remote', 'add', 'bob', bob]);
    const [aliceSite, bobSite] = [status(alice).site_id, status(bob).site_id];
    const aliceFetched = status(bob).remotes[0].fetched_version;
    ok(bob, ['shell', '-c', "INSERT INTO notes(id, body) VALUES ('b1', 'bee'); UPDATE notes SET r = 9.5 WHERE id = 'a1'"]);
    ok(alice, ['shell', '-c', "INSERT INTO notes(id, body) VALUES ('a4', 'four')"]);
    // alice never pulled from bob: she must get exactly bob's own changes, none of those she sent him
    const bobOwn = changes(bob).filter((c) => c.site_id === bobSite).length;
    const aliceNew = changes(alice, aliceFetched).filter((c) => c.site_id === aliceSite).length;
    assert.ok(bobOwn > 0 && bobOwn < changes(bob).length);
    assert.equal(aliceNew, changes(alice, aliceFetched).length);
    assert.equal(json(alice, ['pull', 'bob'])[0].fetch.changes, bobOwn, 'alice receives only bob\'s new changes (not her own back)');
    assert.equal(json(bob, ['pull', 'alice'])[0].fetch.changes, aliceNew, 'bob receives only alice\'s own new changes, not his own back');
    assert.equal(json(bob, ['fetch', 'alice'])[0].changes, 0);
    assert.equal(json(alice, ['fetch', 'bob'])[0].changes, 0);
    assert.equal(dump(bob), dump(alice));
    assert.deepEqual(clocks(bob), clocks(alice));
    app.close();
  });

  it('relays: carol\'s changes reach alice through bob, keeping carol\'s site id', async () => {
    const root = tempDir();
    const [alice, bob, carol] = (await Promise.all(['alice', 'bob', 'carol'].map((n) => makeRepo(join(root, n))))) as [string, string, string];
    ok(alice, ['remote', 'add', 'bob', '../bob']);
    ok(bob, ['remote', 'add', 'carol', '../carol']);
    ok(carol, ['shell', '-c', "INSERT INTO notes(id, body, n) VALUES ('c1', 'from carol', 1), ('c2', 'also carol', 2); UPDATE notes SET b = X'C0' WHERE id = 'c1'"]);
    ok(bob, ['shell', '-c', "INSERT INTO notes(id, body) VALUES ('b1', 'from bob')"]);
    const carolSite = status(carol).site_id;
    const bobSite = status(bob).site_id;

    ok(bob, ['pull', 'carol']);
    const p = json(alice, ['pull', 'bob']);
    assert.equal(p[0].fetch.changes, changes(bob).length);
    assert.equal(count(alice), 3);
    assert.equal(dump(alice), dump(bob));
    const c1 = changes(alice).filter((c) => c.site_id === carolSite);
    assert.equal(c1.length, changes(carol).length, 'every change of carol arrives with her site id');
    assert.deepEqual(new Set(changes(alice).map((c) => c.site_id)), new Set([carolSite, bobSite]));
    assert.deepEqual(json(alice, ['remote', 'list']).map((r: any) => r.name), ['bob'], 'alice never talked to carol');
    // the log names the origin: carol is not a remote of alice, so a site-id prefix
    const origins = new Set(json(alice, ['log', '-p']).flatMap((e: any) => e.changes.map((c: any) => c.origin)));
    assert.deepEqual(origins, new Set(['bob', carolSite.slice(0, 8)]));

    // a later change of carol travels the same way, and alone
    ok(carol, ['shell', '-c', "UPDATE notes SET body = 'carol again' WHERE id = 'c2'"]);
    assert.equal(json(bob, ['pull', 'carol'])[0].fetch.changes, 1);
    assert.equal(json(alice, ['pull', 'bob'])[0].fetch.changes, 1);
    assert.equal(ok(alice, ['shell', '-c', "SELECT body FROM notes WHERE id = 'c2'"]).trim(), 'carol again');
    assert.deepEqual(clocks(alice), clocks(bob));
  });
});

// --- 4. three-way convergence ------------------------------------------------------------------------

describe('three repositories converge', () => {
  it('concurrent inserts, updates of the same rows, deletes and re-inserts; ring pulls both ways until quiet', async (t) => {
    const root = tempDir();
    const names = ['alice', 'bob', 'carol'] as const;
    const dirs = await Promise.all(names.map((n) => makeRepo(join(root, n))));
    const [a, b, c] = dirs as [string, string, string];
    // a → b → c → a and back: each pulls from both neighbours
    ok(a, ['remote', 'add', 'bob', '../bob']);
    ok(a, ['remote', 'add', 'carol', '../carol']);
    ok(b, ['remote', 'add', 'carol', '../carol']);
    ok(b, ['remote', 'add', 'alice', '../alice']);
    ok(c, ['remote', 'add', 'alice', '../alice']);
    ok(c, ['remote', 'add', 'bob', '../bob']);
    const ring: [string, string][] = [[a, 'bob'], [b, 'carol'], [c, 'alice']];
    const reverse: [string, string][] = [[a, 'carol'], [c, 'bob'], [b, 'alice']];

    /** One pass each way; returns the changes transferred. */
    const round = (): number => {
      let moved = 0;
      for (const [dir, remote] of [...ring, ...reverse]) moved += json(dir, ['pull', remote])[0].fetch.changes;
      return moved;
    };
    const untilQuiet = (): number => {
      for (let i = 1; i <= 6; i++) if (round() === 0) return i;
      assert.fail('still transferring changes after 6 rounds');
    };

    // phase 1: each writes alone, and all three insert the same keys with different values (each
    // shell in its own repository, offline: in-process like the pulls, no process start each)
    ok(a, ['shell'], "INSERT INTO notes VALUES ('s1', 'alice', 1, 1.0, X'0A'), ('s2', 'alice', 1, NULL, NULL), ('a1', 'a only', 10, NULL, NULL), ('d1', 'doomed', 0, NULL, NULL);");
    ok(b, ['shell'], "INSERT INTO notes VALUES ('s1', 'bob', 2, 2.0, X'0B'), ('s2', NULL, 1, 2.5, NULL), ('b1', 'b only', 20, NULL, NULL);");
    ok(c, ['shell'], "INSERT INTO notes VALUES ('s1', 'carol', 3, 3.0, X'0C'), ('c1', 'c only', 30, NULL, NULL); INSERT INTO notes(id, body) VALUES ('s2', 'carol');");
    t.diagnostic(`phase 1 quiet after ${untilQuiet()} rounds`);
    assert.equal(dump(b), dump(a));
    assert.equal(dump(c), dump(a));
    assert.equal(count(a), 6);

    // phase 2, all offline: updates of the same rows and columns, deletes against updates, re-inserts
    ok(a, ['shell'], `UPDATE notes SET body = 'alice wins?' WHERE id = 's1';
        UPDATE notes SET body = 'alice wins?' WHERE id = 's1';
        DELETE FROM notes WHERE id = 'd1';
        INSERT INTO notes(id, body) VALUES ('d1', 'back from the dead');
        UPDATE notes SET n = n + 1 WHERE id = 'b1';
        DELETE FROM notes WHERE id = 'c1';
        INSERT INTO notes(id, body, n) VALUES ('new', 'alice', 1);`);
    ok(b, ['shell'], `UPDATE notes SET body = 'bob' || id, n = 100 WHERE id IN ('s1', 's2');
        DELETE FROM notes WHERE id = 'd1';
        UPDATE notes SET r = -0.0, b = X'' WHERE id = 'a1';
        DELETE FROM notes WHERE id = 'b1';
        INSERT INTO notes(id, body, n) VALUES ('new', 'bob', 2);`);
    ok(c, ['shell'], `UPDATE notes SET b = NULL, r = 1e300 WHERE id = 's1';
        UPDATE notes SET body = 'carol edits a doomed row' WHERE id = 'd1';
        UPDATE notes SET body = 'carol' WHERE id = 'c1';
        DELETE FROM notes WHERE id = 's2'; INSERT INTO notes(id, body, n) VALUES ('s2', 'carol again', 7);
        DELETE FROM notes WHERE id = 'a1';
        INSERT INTO notes(id, body, n) VALUES ('new', 'carol', 3); DELETE FROM notes WHERE id = 'new';`);
    // partial sync, then more conflicting writes on top of half-merged state
    json(a, ['pull', 'bob']);
    json(c, ['pull', 'alice']);
    ok(a, ['shell'], "DELETE FROM notes WHERE id = 's1'; UPDATE notes SET body = 'alice after bob' WHERE id = 'new';");
    ok(b, ['shell'], "DELETE FROM notes WHERE id = 'c1'; INSERT INTO notes(id, body) VALUES ('c1', 'bob re-inserts c1'); UPDATE notes SET body = 'bob late' WHERE id = 's1';");
    ok(c, ['shell'], "DELETE FROM notes WHERE id = 'b1'; INSERT INTO notes(id, body, n) VALUES ('b1', 'carol re-creates b1', 9); UPDATE notes SET n = -1 WHERE id = 'd1';");
    t.diagnostic(`phase 3 quiet after ${untilQuiet()} rounds`);

    const reference = dump(a);
    assert.equal(dump(b), reference);
    assert.equal(dump(c), reference);
    assert.deepEqual(clocks(b), clocks(a), 'identical clocks on bob and alice');
    assert.deepEqual(clocks(c), clocks(a), 'identical clocks on carol and alice');
    // and nothing is staged anywhere
    for (const dir of dirs) assert.ok(status(dir).remotes.every((r: any) => r.staged === 0));
    // the outcome cr-sqlite's rules give: a delete (greater causal length) beats updates of the older
    // life; a re-insert after a delete beats both; concurrent inserts merge column by column
    assert.deepEqual(ok(a, ['shell', '-c', 'SELECT id, body, n FROM notes ORDER BY id']).trim().split('\n'), [
      'b1|carol re-creates b1|9',
      'c1|bob re-inserts c1|',
      'd1|back from the dead|-1',
      's2|carol again|7',
    ]);
  });
});

// --- 5. a concurrent writer --------------------------------------------------------------------------

const WRITER = `
import { DatabaseSync } from 'node:sqlite';
import { existsSync } from 'node:fs';
// Writes until the test says stop (a file appears) and at least \`min\` rows are written: the pulls
// run while it writes however slow the machine is, with no clock in the test.
const [path, prefix, min, stop] = process.argv.slice(2);
const db = new DatabaseSync(path, { timeout: 10000 });
const ins = db.prepare('INSERT INTO notes(id, body, n) VALUES (?, ?, ?)');
const upd = db.prepare('UPDATE notes SET n = n + 1000 WHERE id = ?');
const pause = new Int32Array(new SharedArrayBuffer(4));
let n = 0;
while (n < Number(min) || !existsSync(stop)) {
  if (n % 10 === 9) {
    db.exec('BEGIN IMMEDIATE');
    for (let k = 0; k < 5; k++) { ins.run(prefix + String(n).padStart(6, '0'), 'tx ' + prefix, n); n++; }
    upd.run(prefix + String(n - 7).padStart(6, '0'));
    db.exec('COMMIT');
  } else {
    ins.run(prefix + String(n).padStart(6, '0'), 'row ' + prefix, n);
    n++;
  }
  Atomics.wait(pause, 0, 0, 1);
}
db.close();
console.log(n);
`;

describe('a concurrent writer', () => {
  it('nothing is lost while apps write and both sides pull repeatedly', async (t) => {
    const root = tempDir();
    const [alice, bob] = await Promise.all([makeRepo(join(root, 'alice')), makeRepo(join(root, 'bob'))]);
    ok(alice, ['remote', 'add', 'bob', bob]);
    ok(bob, ['remote', 'add', 'alice', alice]);
    const script = join(root, 'writer.mjs');
    writeFileSync(script, WRITER);
    const stop = join(root, 'stop');
    const writer = (dir: string, prefix: string, min: number) => {
      const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', script, join(dir, 'ddcp.db'), prefix, String(min), stop], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
      child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
      return new Promise<number>((res, rej) =>
        child.on('close', (code) => (code === 0 ? res(Number(out.trim())) : rej(new Error(`writer exited ${code}: ${err}`)))),
      );
    };
    const writers = Promise.all([writer(alice, 'a', 150), writer(bob, 'b', 80)]);
    // Three rounds of concurrent pulls while both writers write (they can't end before \`stop\`).
    let pulls = 0;
    while (pulls < 3) {
      const [toBob, toAlice] = await Promise.all([start(bob, ['pull', 'alice', '--json']).done, start(alice, ['pull', 'bob', '--json']).done]);
      assert.equal(toBob.code, 0, toBob.stderr);
      assert.equal(toAlice.code, 0, toAlice.stderr);
      pulls++;
    }
    writeFileSync(stop, '');
    const [fromAlice, fromBob] = await writers;
    assert.ok(fromAlice > 100 && fromBob > 50, `writers wrote ${fromAlice} and ${fromBob} rows`);
    t.diagnostic(`writers: alice ${fromAlice} rows, bob ${fromBob} rows; ${pulls} rounds of concurrent pulls`);

    ok(bob, ['pull', 'alice']);
    ok(alice, ['pull', 'bob']);
    ok(bob, ['pull', 'alice']);
    assert.equal(count(bob, "id LIKE 'a%'"), fromAlice, 'every row alice\'s writer wrote is in bob');
    assert.equal(count(alice, "id LIKE 'b%'"), fromBob, 'every row bob\'s writer wrote is in alice');
    assert.equal(count(bob), fromAlice + fromBob);
    assert.equal(dump(bob), dump(alice));
    assert.deepEqual(clocks(bob), clocks(alice));
    for (const dir of [alice, bob]) assert.equal(ok(dir, ['shell', '-c', 'PRAGMA integrity_check']).trim(), 'ok');
  });
});

// --- 6. SIGKILL during merge -------------------------------------------------------------------------

describe('a merge killed with SIGKILL', () => {
  it('leaves the database fully merged or untouched, and the next merge completes', async (t) => {
    const N = 80_000;
    const root = tempDir();
    const alice = await Repository.init(join(root, 'alice'));
    alice.db.exec('CREATE TABLE notes(id TEXT PRIMARY KEY NOT NULL, body TEXT)');
    alice.engine.asCrr('notes');
    alice.db.exec('BEGIN');
    const ins = alice.db.prepare('INSERT INTO notes VALUES (?, ?)');
    for (let i = 0; i < N; i++) ins.run(`k${i}`, `body ${i}`);
    alice.db.exec('COMMIT');
    alice.close();
    const bob = await Repository.init(join(root, 'bob'));
    bob.db.exec('CREATE TABLE notes(id TEXT PRIMARY KEY NOT NULL, body TEXT)');
    bob.engine.asCrr('notes');
    bob.addRemote('alice', alice.root);
    assert.equal((await bob.fetch('alice')).staged, N);
    const versionBefore = bob.engine.dbVersion();
    bob.close();

    // A second connection tells when the merge holds the write lock, so the kills land mid-merge.
    const probe = new DatabaseSync(join(root, 'bob', 'ddcp.db'), { timeout: 0 });
    const writeLocked = (): boolean => {
      try {
        probe.exec('BEGIN IMMEDIATE');
        probe.exec('ROLLBACK');
        return false;
      } catch (err) {
        if (/locked|busy/i.test((err as Error).message)) return true;
        throw err;
      }
    };
    const rows = () => Number((probe.prepare('SELECT count(*) AS n FROM notes').get() as any).n);
    const outcomes: { delay: number; killed: boolean; rows: number }[] = [];
    for (const delay of [0, 20, 80, 200, 350]) {
      const { child, done } = start(join(root, 'bob'), ['merge', 'alice']);
      while (!writeLocked() && child.exitCode === null) await sleep(1);
      await sleep(delay);
      child.kill('SIGKILL');
      const r = await done;
      const n = rows();
      outcomes.push({ delay, killed: r.signal === 'SIGKILL', rows: n });
      assert.ok(n === 0 || n === N, `after a kill ${delay} ms into the merge: ${n} rows (must be 0 or ${N})`);
      assert.equal((probe.prepare('PRAGMA integrity_check').get() as any).integrity_check, 'ok');
      if (n === N) break;
    }
    t.diagnostic(`kills: ${JSON.stringify(outcomes)}`);
    assert.ok(outcomes.some((o) => o.killed && o.rows === 0), `no kill landed mid-merge: ${JSON.stringify(outcomes)}`);
    const s = status(join(root, 'bob'));
    if (rows() === 0) {
      assert.equal(s.remotes[0].staged, N, 'the staged changes survive a killed merge');
      assert.equal(s.db_version, versionBefore);
    }

    const m = json(join(root, 'bob'), ['merge', 'alice']);
    assert.equal(rows(), N);
    if (outcomes.at(-1)!.rows === 0) assert.deepEqual([m.received, m.applied, m.db_version], [N, N, versionBefore + 1]);
    assert.equal((probe.prepare('PRAGMA integrity_check').get() as any).integrity_check, 'ok');
    assert.equal(status(join(root, 'bob')).remotes[0].staged, 0);
    assert.equal(json(join(root, 'bob'), ['pull', 'alice'])[0].fetch.changes, 0);
    probe.close();
  });
});

// --- 7. bad input and exit codes ---------------------------------------------------------------------

describe('bad input', () => {
  it('a remote that is no longer a repository, or whose database is gone, fails with a clear error', async () => {
    const root = tempDir();
    const [alice, gone, nodb] = (await Promise.all(['alice', 'gone', 'nodb'].map((n) => makeRepo(join(root, n))))) as [string, string, string];
    ok(alice, ['remote', 'add', 'gone', '../gone']);
    ok(alice, ['remote', 'add', 'nodb', '../nodb']);
    rmSync(join(gone, '.ddcp'), { recursive: true });
    fails(ddcp(alice, ['fetch', 'gone']), 1, /gone.*(not a (usable )?ddcp repository|cannot reach)/);
    fails(ddcp(alice, ['pull', 'gone']), 1, /gone/);
    rmSync(gone, { recursive: true });
    fails(ddcp(alice, ['fetch', 'gone']), 1, /gone/);

    // the remote's database file is missing: an error, and nothing created in the remote's folder
    for (const f of ['ddcp.db', 'ddcp.db-wal', 'ddcp.db-shm']) rmSync(join(nodb, f), { force: true });
    const r = ddcp(alice, ['fetch', 'nodb']);
    assert.ok(!existsSync(join(nodb, 'ddcp.db')), 'fetch must not create a database in the remote repository');
    fails(r, 1, /nodb.*(missing|cannot open|no such)/i);
    assert.equal(status(alice).remotes.find((x: any) => x.name === 'nodb').fetched_version, 0);
  });

  it('a remote with changes for a table or column we lack: fetch fails clearly and stages nothing', async () => {
    const root = tempDir();
    const [alice, bob] = await Promise.all([makeRepo(join(root, 'alice')), makeRepo(join(root, 'bob'))]);
    ok(bob, ['remote', 'add', 'alice', alice]);
    ok(alice, ['shell', '-c', "INSERT INTO notes(id, body) VALUES ('x', 'fits')"]);
    ok(alice, ['shell'], "CREATE TABLE extra(id INTEGER PRIMARY KEY NOT NULL, v); SELECT crsql_as_crr('extra'); INSERT INTO extra VALUES (1, 'no home');");
    const before = { rows: dump(bob), v: status(bob).db_version };
    fails(ddcp(bob, ['fetch', 'alice']), 1, /table extra.*not a CRR here/);
    fails(ddcp(bob, ['pull']), 1, /table extra/);
    let s = status(bob);
    assert.deepEqual([s.remotes[0].staged, s.remotes[0].fetched_version], [0, 0], 'nothing staged, nothing recorded');
    assert.equal(dump(bob), before.rows);
    assert.equal(s.db_version, before.v);

    // once bob has the table, everything arrives
    ok(bob, ['shell'], "CREATE TABLE extra(id INTEGER PRIMARY KEY NOT NULL, v); SELECT crsql_as_crr('extra');");
    ok(bob, ['pull', 'alice']);
    assert.equal(dump(bob), dump(alice));
    assert.equal(ok(bob, ['shell', '-c', 'SELECT v FROM extra']).trim(), 'no home');

    // a column bob lacks
    ok(alice, ['shell'], "SELECT crsql_begin_alter('notes'); ALTER TABLE notes ADD COLUMN tag TEXT; SELECT crsql_commit_alter('notes'); UPDATE notes SET tag = 'new', body = 'changed' WHERE id = 'x';");
    const v = status(bob).remotes[0].fetched_version;
    fails(ddcp(bob, ['fetch', 'alice']), 1, /column notes\.tag.*lacks/);
    s = status(bob);
    assert.deepEqual([s.remotes[0].staged, s.remotes[0].fetched_version], [0, v]);
    assert.equal(ok(bob, ['shell', '-c', "SELECT body FROM notes WHERE id = 'x'"]).trim(), 'fits');
  });

  it('a schema mismatch in a later batch of a large fetch still stages nothing', async () => {
    const root = tempDir();
    const alice = await Repository.init(join(root, 'alice'));
    alice.db.exec(NOTES);
    alice.engine.asCrr('notes');
    alice.db.exec('BEGIN');
    const ins = alice.db.prepare('INSERT INTO notes(id, body) VALUES (?, ?)');
    for (let i = 0; i < 6000; i++) ins.run(`k${i}`, 'x'); // one db_version of 24000 changes: several batches
    alice.db.exec('COMMIT');
    alice.engine.seal();
    alice.db.exec('CREATE TABLE extra(id INTEGER PRIMARY KEY NOT NULL, v)');
    alice.engine.asCrr('extra');
    alice.db.exec("INSERT INTO extra VALUES (1, 'later batch')");
    alice.engine.seal();
    alice.close();
    const bob = await makeRepo(join(root, 'bob'));
    ok(bob, ['remote', 'add', 'alice', '../alice']);
    fails(ddcp(bob, ['fetch', 'alice']), 1, /table extra.*nothing was fetched/);
    const s = status(bob).remotes[0];
    assert.deepEqual([s.staged, s.fetched_version], [0, 0], `the error says nothing was fetched, yet ${s.staged} changes are staged up to version ${s.fetched_version}`);
  });

  it('a schema mismatch inside one large transaction: a later merge never applies part of it', async () => {
    const root = tempDir();
    const alice = await Repository.init(join(root, 'alice'));
    alice.db.exec(NOTES);
    alice.engine.asCrr('notes');
    alice.db.exec('CREATE TABLE tags(id INTEGER PRIMARY KEY NOT NULL, v)');
    alice.engine.asCrr('tags');
    alice.db.exec("INSERT INTO notes(id, body) VALUES ('first', 'small')");
    alice.engine.seal();
    const bob = await makeRepo(join(root, 'bob'));
    ok(bob, ['remote', 'add', 'alice', '../alice']);
    // bob has everything of alice's notes so far (alice's tags table has no changes yet, so its absence at bob doesn't matter)
    assert.equal(json(bob, ['pull', 'alice'])[0].merge.received, 4);
    // one transaction: 24000 changes to notes and one to tags (sealed table by table, so it comes last)
    alice.db.exec('BEGIN');
    const ins = alice.db.prepare('INSERT INTO notes(id, body) VALUES (?, ?)');
    for (let i = 0; i < 6000; i++) ins.run(`k${i}`, 'x');
    alice.db.exec("INSERT INTO tags VALUES (1, 'same transaction')");
    alice.db.exec('COMMIT');
    alice.close();
    fails(ddcp(bob, ['fetch', 'alice']), 1, /table tags.*nothing was fetched/);
    const staged = status(bob).remotes[0].staged;
    const m = ddcp(bob, ['merge', 'alice', '--json']);
    const rows = count(bob);
    assert.equal(rows, 1, `after the failed fetch (${staged} changes left staged), merge applied ${rows - 1} rows of alice's 6001-row transaction: ${m.stdout}`);
  });

  it('a fetch killed with SIGKILL in the middle of a large transaction: merge never applies part of it', async (t) => {
    const root = tempDir();
    const alice = await Repository.init(join(root, 'alice'));
    alice.db.exec('CREATE TABLE notes(id TEXT PRIMARY KEY NOT NULL, body TEXT)');
    alice.engine.asCrr('notes');
    alice.db.exec("INSERT INTO notes VALUES ('first', 'small')");
    alice.engine.seal();
    const bob = await Repository.init(join(root, 'bob'));
    bob.db.exec('CREATE TABLE notes(id TEXT PRIMARY KEY NOT NULL, body TEXT)');
    bob.engine.asCrr('notes');
    bob.addRemote('alice', alice.root);
    await bob.pull('alice');
    bob.close();
    const N = 60_000; // one transaction: twelve batches
    alice.db.exec('BEGIN');
    const ins = alice.db.prepare('INSERT INTO notes VALUES (?, ?)');
    for (let i = 0; i < N; i++) ins.run(`k${i}`, `body ${i}`);
    alice.db.exec('COMMIT');
    alice.close();

    // kill the fetch once it has stored part of the transaction
    const staging = new DatabaseSync(join(root, 'bob', '.ddcp', 'staging.db'), { timeout: 1000 });
    const stagedBatches = (): number => {
      try {
        return Number((staging.prepare('SELECT count(*) AS n FROM batches').get() as any).n);
      } catch {
        return 0; // busy or not there yet
      }
    };
    const { child, done } = start(join(root, 'bob'), ['fetch', 'alice']);
    while (stagedBatches() === 0 && child.exitCode === null) await sleep(1);
    child.kill('SIGKILL');
    const r = await done;
    const partial = stagedBatches();
    staging.close();
    t.diagnostic(`fetch ${r.signal === 'SIGKILL' ? 'killed' : 'finished'} with ${partial} batches staged`);
    assert.equal(r.signal, 'SIGKILL', 'the kill came too late to interrupt the fetch');

    const m = ddcp(join(root, 'bob'), ['merge', 'alice', '--json']);
    assert.equal(m.code, 0, m.stderr);
    const rows = count(join(root, 'bob'));
    assert.ok(rows === 1 || rows === N + 1, `merge after an interrupted fetch applied ${rows - 1} of the ${N} rows of one transaction`);
    // fetching again resumes, and everything arrives
    ok(join(root, 'bob'), ['pull', 'alice']);
    assert.equal(count(join(root, 'bob')), N + 1);
  });

  it('merge is all or nothing when staged changes no longer fit the schema', async () => {
    const root = tempDir();
    const schema = `${NOTES.slice(0, -1)}, tag TEXT)`;
    const [alice, bob] = await Promise.all([makeRepo(join(root, 'alice'), schema), makeRepo(join(root, 'bob'), schema)]);
    ok(bob, ['remote', 'add', 'alice', alice]);
    ok(bob, ['shell', '-c', "INSERT INTO notes(id, body) VALUES ('mine', 'keep')"]);
    ok(alice, ['shell', '-c', "INSERT INTO notes(id, body, tag) VALUES ('a', 'one', 't'), ('b', 'two', NULL)"]);
    const staged = json(bob, ['fetch', 'alice'])[0].staged;
    // bob drops the column after fetching
    ok(bob, ['shell'], "SELECT crsql_begin_alter('notes'); ALTER TABLE notes DROP COLUMN tag; SELECT crsql_commit_alter('notes');");
    const before = { rows: ok(bob, ['shell', '--json', '-c', 'SELECT * FROM notes ORDER BY id']), v: status(bob).db_version };
    fails(ddcp(bob, ['merge', 'alice']), 1, /tag/);
    assert.equal(ok(bob, ['shell', '--json', '-c', 'SELECT * FROM notes ORDER BY id']), before.rows, 'nothing applied');
    assert.equal(status(bob).db_version, before.v);
    assert.equal(status(bob).remotes[0].staged, staged, 'staged changes kept');
  });

  it('output piped into a reader that stops early (| head) ends quietly, without a stack trace', async () => {
    const root = tempDir();
    const repo = await Repository.init(root);
    repo.db.exec(NOTES);
    repo.engine.asCrr('notes');
    repo.db.exec('BEGIN');
    const ins = repo.db.prepare('INSERT INTO notes(id, body) VALUES (?, ?)');
    for (let i = 0; i < 3000; i++) ins.run(`k${i}`, 'x'.repeat(40)); // far more than a pipe buffer of JSON lines
    repo.db.exec('COMMIT');
    repo.close();
    for (const args of ['changes', 'status']) {
      const r = spawnSync('sh', ['-c', `"$0" "$1" ${args} | head -n 1 >/dev/null`, process.execPath, BIN], { cwd: root, encoding: 'utf8' });
      assert.doesNotMatch(r.stderr, /EPIPE|Unhandled|node:events/, `ddcp ${args} | head: ${r.stderr}`);
    }
  });

  it('unknown remotes, usage errors and missing repositories map to the documented exit codes', async () => {
    const repo = await makeRepo();
    const none = tempDir();
    fails(ddcp(repo, ['merge', 'nope']), 1, /no remote named "nope"/);
    fails(ddcp(repo, ['fetch', 'nope']), 1, /no remote named "nope"/);
    fails(ddcp(repo, ['pull', 'nope']), 1, /no remote named "nope"/);
    fails(ddcp(repo, ['pull']), 1, /no remotes yet/);
    fails(ddcp(repo, ['fetch']), 1, /no remotes yet/);
    // usage: exit 2
    assert.equal(ddcp(repo, ['merge']).code, 2);
    assert.match(ddcp(repo, ['merge']).stderr, /missing required argument 'remote'/);
    assert.equal(ddcp(repo, ['fetch', '--bogus']).code, 2);
    assert.equal(ddcp(repo, ['remote', 'frob']).code, 2);
    assert.equal(ddcp(repo, ['pull', 'a', 'b']).code, 2);
    // no repository: exit 3
    for (const args of [['fetch'], ['merge', 'x'], ['pull'], ['remote', 'list'], ['remote', 'add', 'r', repo], ['status']]) {
      fails(ddcp(none, args), 3, /not a ddcp repository/);
    }
    // damaged repository files: exit 3
    writeFileSync(join(repo, '.ddcp', 'config.json'), '{ not json');
    assert.equal(ddcp(repo, ['remote', 'list']).code, 3);
  });
});

// --- 8. the library ---------------------------------------------------------------------------------

describe('the library API', () => {
  it('Repository.init, addRemote, fetch, merge, pull and remoteStatus', async () => {
    const root = tempDir();
    const alice = await Repository.init(join(root, 'alice'));
    const bob = await Repository.init(join(root, 'bob'));
    try {
      assert.match(alice.address, ADDRESS);
      assert.notEqual(alice.address, bob.address);
      for (const r of [alice, bob]) {
        r.db.exec(NOTES);
        r.engine.asCrr('notes');
      }
      alice.db.exec("INSERT INTO notes VALUES ('a1', 'one', 1, 1.5, X'01'), ('a2', NULL, 2, NULL, NULL)");
      const aliceChanges = [...alice.engine.changesSince(0)].length;

      const added = bob.addRemote('alice', '../alice', bob.root);
      assert.deepEqual(added, { name: 'alice', location: alice.root });
      assert.throws(() => bob.addRemote('alice', alice.root), { name: 'RemoteError', message: /already exists/ });
      assert.throws(() => bob.addRemote('x', join(root, 'nowhere')), { name: 'RemoteError', message: /cannot reach/ });
      assert.deepEqual(bob.remoteStatus(), [{ name: 'alice', location: alice.root, siteId: undefined, fetchedVersion: 0, staged: 0, fetchedAt: undefined }]);

      const progress: string[] = [];
      const f = await bob.fetch('alice', { onProgress: (phase) => progress.push(phase) });
      assert.deepEqual(f, { remote: 'alice', changes: aliceChanges, version: alice.engine.dbVersion(), staged: aliceChanges });
      assert.ok(progress.every((p) => p === 'fetch'));
      assert.equal((bob.db.prepare('SELECT count(*) AS n FROM notes').get() as any).n, 0, 'fetch does not touch the database');
      const [st] = bob.remoteStatus();
      assert.equal(st!.siteId, Buffer.from(alice.engine.siteId).toString('hex'));
      assert.equal(st!.staged, aliceChanges);
      assert.equal(st!.fetchedVersion, f.version);
      assert.ok(Date.parse(st!.fetchedAt!) <= Date.now());

      const v = bob.engine.dbVersion();
      const m = bob.merge('alice');
      assert.deepEqual(m, { remote: 'alice', received: aliceChanges, applied: aliceChanges, dbVersion: v + 1, conflicts: 0 });
      assert.equal(bob.remoteStatus()[0]!.staged, 0);
      const rows = (r: Repository) => r.db.prepare('SELECT id, body, n, r, b FROM notes ORDER BY id').all();
      assert.deepEqual(rows(bob), rows(alice));

      const again = await bob.pull('alice');
      assert.equal(again.fetch.changes, 0);
      assert.equal(again.merge.received, 0);

      // both ways; nothing comes back
      alice.addRemote('bob', bob.root);
      bob.db.exec("UPDATE notes SET body = 'bob' WHERE id = 'a2'; INSERT INTO notes(id) VALUES ('b1')");
      const toAlice = await alice.pull('bob');
      assert.equal(toAlice.fetch.changes, [...bob.engine.changesSince(v + 1)].length);
      assert.equal((await bob.fetch('alice')).changes, 0);
      assert.deepEqual(rows(bob), rows(alice));
      assert.deepEqual((await alice.fetchAll()).map((r) => r.changes), [0]);

      // the CLI sees what the library did
      assert.equal(status(alice.root).address, alice.address);
      assert.equal(json(bob.root, ['remote', 'list'])[0].fetched_version, bob.remoteStatus()[0]!.fetchedVersion);

      bob.removeRemote('alice');
      assert.deepEqual(bob.remoteStatus(), []);
      assert.throws(() => bob.merge('alice'), { name: 'RemoteError', message: /no remote named "alice"/ });
      await assert.rejects(bob.fetch('alice'), { name: 'RemoteError' });
      await assert.rejects(Repository.init(alice.root), { name: 'RepositoryExistsError' });
      assert.throws(() => Repository.open(tempDir()), { name: 'NotARepositoryError' });
    } finally {
      alice.close();
      bob.close();
    }
  });

  it('Repository.init adopts an existing database and Repository.open finds it from a subfolder', async () => {
    const root = tempDir();
    const appPath = join(root, 'app.db');
    const app = new DatabaseSync(appPath, APP_TIMEOUT);
    app.exec(`${NOTES}; INSERT INTO notes(id, body) VALUES ('old', 'existing row')`);
    const repo = await Repository.init(join(root, 'repo'), { db: appPath });
    repo.engine.asCrr('notes');
    assert.equal(repo.dbPath, appPath);
    repo.close();
    mkdirSync(join(root, 'repo', 'sub'));
    const opened = Repository.open(join(root, 'repo', 'sub'));
    try {
      assert.equal(opened.dbPath, appPath);
      app.exec("INSERT INTO notes(id, body) VALUES ('new', 'app write')");
      const ids = [...opened.engine.changesSince(0)].map((c) => Buffer.from(c.pk).toString('hex'));
      assert.equal(new Set(ids).size, 2, 'the existing row and the app\'s new one both replicate');
    } finally {
      opened.close();
      app.close();
    }
  });
});
