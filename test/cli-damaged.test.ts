/**
 * Damaged state (issue 8, finding 8), against the real CLI: config and state files of the wrong
 * shape, a garbage staging area, ddcp's internal tables dropped or emptied by another client. Each
 * is refused with exit 3 and one line naming the file (or table) and the field — never a
 * JavaScript TypeError, never silently rebuilt with new values — or, for the staging cache, set
 * aside and reported.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, it } from 'node:test';
import { BIN, ddcp, initRepo, ok, tempDir, type RunResult } from './support/cli.ts';

const SCHEMA = "CREATE TABLE notes(id TEXT PRIMARY KEY NOT NULL, body TEXT); SELECT crsql_as_crr('notes'); INSERT INTO notes VALUES ('n1', 'hi');";

let root: string;
let n = 0;
/** A fresh repository with one CRR and one row. */
const fresh = (): string => initRepo(root, `r${++n}`, SCHEMA);

before(() => {
  root = tempDir();
});
after(() => rmSync(root, { recursive: true, force: true }));

/** Asserts exit `code` and exactly one `ddcp: error:` line matching every pattern. */
function refused(r: RunResult, code: number, ...patterns: RegExp[]): void {
  assert.equal(r.code, code, `exit ${r.code}: ${r.stderr}`);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, /^ddcp: error: /);
  assert.doesNotMatch(lines[0]!, /TypeError|is not a function|is not iterable|undefined|Cannot read properties/);
  for (const p of patterns) assert.match(lines[0]!, p);
}

function sql(dir: string, text: string): void {
  const db = new DatabaseSync(join(dir, 'ddcp.db'));
  try {
    db.exec(text);
  } finally {
    db.close();
  }
}

function query<T>(dir: string, text: string): T[] {
  const db = new DatabaseSync(join(dir, 'ddcp.db'));
  try {
    return db.prepare(text).all() as T[];
  } finally {
    db.close();
  }
}

describe('config.json of the wrong shape: exit 3, one line naming the file and the field', () => {
  let dir: string;
  let good: Record<string, unknown>;
  before(() => {
    dir = fresh();
    good = JSON.parse(readFileSync(join(dir, '.ddcp', 'config.json'), 'utf8')) as Record<string, unknown>;
  });
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ['a remote location that is a number', { remotes: { origin: { location: 5 } } }, /remotes\.origin\.location/],
    ['remotes that is a number', { remotes: 5 }, /remotes\b/],
    ['a remote that is a number', { remotes: { origin: 0 } }, /remotes\.origin\b/],
    ['allow that is one string', { allow: '12D3KooW' }, /allow\b/],
    ['allow with a number in it', { allow: ['12D3KooWx', 7] }, /allow\[1\]/],
    ['bootstrap that is a string', { bootstrap: '/ip4/1.2.3.4/tcp/1' }, /bootstrap\b/],
    ['listen that is a number', { listen: 5 }, /listen\b/],
    ['mdns that is a string', { mdns: 'yes' }, /mdns\b/],
    ['version that is a string', { version: '1' }, /version\b/],
    ['db that is a number', { db: 5 }, /db\b/],
    ['db that is empty', { db: '' }, /db\b/],
    ['peers that is a list', { peers: ['12D3KooWx'] }, /peers\b/],
    ['a policy whose read is a number', { peers: { '12D3KooWx': { read: 5 } } }, /peers\["12D3KooWx"\]\.read/],
  ];
  for (const [what, patch, field] of cases) {
    it(what, () => {
      writeFileSync(join(dir, '.ddcp', 'config.json'), JSON.stringify({ ...good, ...patch }));
      for (const args of [['status'], ['remote', 'list']]) {
        refused(ddcp(dir, args), 3, /config\.json/, field);
      }
    });
  }
  it('JSON that is not an object', () => {
    writeFileSync(join(dir, '.ddcp', 'config.json'), '[1, 2]');
    refused(ddcp(dir, ['status']), 3, /config\.json/);
  });
  it('fields it does not know are kept (a newer ddcp may add some)', () => {
    writeFileSync(join(dir, '.ddcp', 'config.json'), JSON.stringify({ ...good, future: { x: 1 } }));
    ok(dir, ['status']);
    ok(dir, ['config', 'mdns', 'off']);
    assert.deepEqual(JSON.parse(readFileSync(join(dir, '.ddcp', 'config.json'), 'utf8')).future, { x: 1 });
  });
});

describe('other state files', () => {
  it('a damaged listen.json stops serve with exit 3 naming it and the field (it is not silently replaced by random ports)', () => {
    const dir = fresh();
    for (const [body, field] of [
      ['{"listen": "/ip4/127.0.0.1/tcp/4001"}', /listen\b/],
      ['{"listen": [5]}', /listen\[0\]/],
      ['{"listen": ["not a multiaddr"]}', /listen\[0\]/],
      ['not json', /listen\.json/],
    ] as const) {
      writeFileSync(join(dir, '.ddcp', 'listen.json'), body);
      const r = spawnSync(process.execPath, [BIN, 'serve', '--no-mdns'], { cwd: dir, encoding: 'utf8', timeout: 30_000, killSignal: 'SIGKILL' });
      refused({ code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr }, 3, /listen\.json/, field);
    }
  });

  it('a damaged bundles.json: bundle create --for refuses with exit 3 naming it and the field', () => {
    const src = fresh();
    const dir = fresh();
    ok(dir, ['remote', 'add', 'origin', src]);
    ok(dir, ['bundle', 'create', join(root, 'b1.bundle'), '--for', 'origin']);
    const path = join(dir, '.ddcp', 'bundles.json');
    const good = JSON.parse(readFileSync(path, 'utf8'));
    for (const [body, field] of [
      [{ ...good, for: { origin: { ...good.for.origin, version: '3' } } }, /for\.origin\.version/],
      [{ ...good, for: 'origin' }, /for\b/],
    ] as const) {
      writeFileSync(path, JSON.stringify(body));
      refused(ddcp(dir, ['bundle', 'create', join(root, 'b2.bundle'), '--for', 'origin']), 3, /bundles\.json/, field);
    }
  });

  it('a damaged identity key: exit 3 naming it', () => {
    const dir = fresh();
    const key = join(dir, '.ddcp', 'identity.key');
    const bytes = readFileSync(key);
    for (const body of [Buffer.alloc(0), bytes.subarray(0, 20), Buffer.from('garbage garbage garbage')]) {
      writeFileSync(key, body, { mode: 0o600 });
      refused(ddcp(dir, ['status']), 3, /identity\.key/);
    }
    rmSync(key);
    refused(ddcp(dir, ['status']), 3, /identity\.key/);
  });

  it('a garbage staging.db is set aside as .corrupt, reported, and fetch starts over', () => {
    const src = fresh();
    const dir = fresh();
    ok(dir, ['remote', 'add', 'origin', src]);
    ok(dir, ['fetch']);
    writeFileSync(join(dir, '.ddcp', 'staging.db'), 'this is not a database '.repeat(100));
    for (const f of ['staging.db-wal', 'staging.db-shm']) rmSync(join(dir, '.ddcp', f), { force: true });
    const r = ddcp(dir, ['status']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /^ddcp: warning: .*staging\.db.* damaged.*set aside as .*staging\.db\.corrupt/m);
    assert.match(r.stdout, /origin/);
    const aside = readdirSync(join(dir, '.ddcp')).filter((f) => f.startsWith('staging.db.corrupt'));
    assert.equal(aside.length, 1);
    assert.match(readFileSync(join(dir, '.ddcp', aside[0]!), 'utf8'), /this is not a database/);
    // reported once: the fresh staging area is fine
    assert.equal(ddcp(dir, ['status']).stderr, '');
    ok(dir, ['pull']);
    assert.match(ok(dir, ['shell', '-c', 'SELECT body FROM notes']), /hi/);
  });

  it('a staging.db whose tables have the wrong columns is set aside too', () => {
    const dir = fresh();
    ok(dir, ['remote', 'add', 'origin', fresh()]);
    const db = new DatabaseSync(join(dir, '.ddcp', 'staging.db'));
    db.exec('CREATE TABLE fetched (remote TEXT PRIMARY KEY, x INTEGER)');
    db.close();
    const r = ddcp(dir, ['status']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /staging\.db.*fetched/);
  });
});

describe("ddcp's internal tables are never silently rebuilt", () => {
  const damages: [string, string, RegExp][] = [
    ['ddcp_state dropped', 'DROP TABLE ddcp_state', /ddcp_state/],
    ['the db_version counter deleted', "DELETE FROM ddcp_state WHERE key = 'open_version'", /ddcp_state.*open_version|db_version/],
    ['ddcp_site_id emptied', 'DELETE FROM ddcp_site_id', /ddcp_site_id/],
    ['ddcp_site_id dropped', 'DROP TABLE ddcp_site_id', /ddcp_site_id/],
    ['ddcp_crrs dropped', 'DROP TABLE ddcp_crrs', /ddcp_crrs/],
  ];
  for (const [what, damage, table] of damages) {
    it(`${what}: every command refuses with exit 3 naming it, and changes nothing`, () => {
      const dir = fresh();
      ok(dir, ['shell', '-c', "INSERT INTO notes VALUES ('n2', 'more')"]);
      sql(dir, damage);
      const before = query<{ name: string }>(dir, "SELECT name FROM sqlite_master WHERE name LIKE 'ddcp%' ORDER BY name").map((r) => r.name);
      const sites = query<{ n: number }>(dir, "SELECT count(*) AS n FROM sqlite_master WHERE name = 'ddcp_site_id'")[0]!.n ? query<{ n: number }>(dir, 'SELECT count(*) AS n FROM ddcp_site_id')[0]!.n : -1;
      for (const args of [['status'], ['log'], ['changes'], ['shell', '-c', 'SELECT 1']]) refused(ddcp(dir, args), 3, /ddcp\.db/, table);
      const after = query<{ name: string }>(dir, "SELECT name FROM sqlite_master WHERE name LIKE 'ddcp%' ORDER BY name").map((r) => r.name);
      assert.deepEqual(after, before, 'nothing recreated');
      const sitesAfter = query<{ n: number }>(dir, "SELECT count(*) AS n FROM sqlite_master WHERE name = 'ddcp_site_id'")[0]!.n ? query<{ n: number }>(dir, 'SELECT count(*) AS n FROM ddcp_site_id')[0]!.n : -1;
      assert.equal(sitesAfter, sites, 'no new site id');
    });
  }

  for (const [what, key, value, says] of [
    ['a newer format', 'format', 6, /newer ddcp \(format 6; this ddcp reads up to \d+\)/],
    ['newer triggers', 'triggers_version', 99, /newer ddcp \(triggers version 99; this ddcp makes \d+\)/],
  ] as const) {
    it(`a database written by a newer ddcp (${what}) is refused, naming it, and left as it was`, () => {
      const dir = fresh();
      sql(dir, `INSERT OR REPLACE INTO ddcp_state (key, value) VALUES ('${key}', ${value})`);
      const before = query<{ key: string; value: unknown }>(dir, 'SELECT key, value FROM ddcp_state ORDER BY key');
      refused(ddcp(dir, ['status']), 3, /ddcp\.db/, says);
      refused(ddcp(dir, ['shell', '-c', "INSERT INTO notes VALUES ('n9', 'x')"]), 3, /ddcp\.db/, /upgrade ddcp/);
      assert.deepEqual(query(dir, 'SELECT key, value FROM ddcp_state ORDER BY key'), before);
      assert.deepEqual(query(dir, "SELECT id FROM notes WHERE id = 'n9'"), []);
    });
  }

  it('a brand-new database still initialises, and an existing app database is adopted', () => {
    const blank = join(root, 'blank');
    mkdirSync(blank);
    ok(blank, ['init']);
    assert.match(ok(blank, ['status']), /db_version\s+0/);
    const adopt = join(root, 'adopt');
    mkdirSync(adopt);
    const app = new DatabaseSync(join(adopt, 'app.db'));
    app.exec("CREATE TABLE items(id TEXT PRIMARY KEY NOT NULL, v TEXT); INSERT INTO items VALUES ('a', 'b')");
    app.close();
    ok(adopt, ['init', '--db', 'app.db']);
    ok(adopt, ['shell', '-c', "SELECT crsql_as_crr('items')"]);
    assert.match(ok(adopt, ['changes']), /"table":"items"/);
  });
});
