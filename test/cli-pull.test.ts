/**
 * `ddcp fetch` and `ddcp pull` of several remotes with the real executable: each remote is reported
 * by name, a broken one doesn't stop the others, `--json` has one object per remote even when one
 * failed, and the exit code says whether all succeeded — run directly and through a running serve.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Repository } from '../src/index.ts';
import { Server } from '../src/peer/server.ts';
import { ddcp, ddcpAsync, ok, tempDir, type RunResult, initRepo } from './support/cli.ts';
import { cliNoteIds } from './support/notes.ts';

const SCHEMA = "CREATE TABLE notes(id TEXT PRIMARY KEY NOT NULL, body TEXT); SELECT crsql_as_crr('notes');";

const init = (root: string, name: string): string => initRepo(root, name, SCHEMA);

const ids = cliNoteIds;

/** Standard error's lines. */
const errLines = (r: RunResult): string[] => r.stderr.trim().split('\n').filter(Boolean);

/** me with remotes bob and carol (tried in order of name: bob first); carol has rows c1, c2. */
function threeRepos(): { me: string; carol: string; bob: string } {
  const root = tempDir('ddcp-pull-');
  const [me, carol, bob] = [init(root, 'me'), init(root, 'carol'), init(root, 'bob')];
  ok(carol, ['shell'], "INSERT INTO notes VALUES ('c1', 'one'); INSERT INTO notes VALUES ('c2', 'two');");
  ok(me, ['remote', 'add', 'bob', '../bob']);
  ok(me, ['remote', 'add', 'carol', '../carol']);
  return { me, carol, bob };
}

const servers: Server[] = [];
after(async () => {
  await Promise.allSettled(servers.map((s) => s.stop()));
});

describe('fetch and pull of several remotes report each remote', () => {
  it('pull --json: the valid remote merged (rows there), the broken one with its error, exit 1', () => {
    const { me, bob } = threeRepos();
    rmSync(bob, { recursive: true }); // a folder remote whose folder was deleted

    const r = ddcp(me, ['pull', '--json']);
    assert.equal(r.code, 1, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.length, 2);
    assert.deepEqual(
      out.map((o: { remote: string; ok: boolean }) => [o.remote, o.ok]),
      [
        ['bob', false],
        ['carol', true],
      ],
    );
    assert.match(out[0].error, /cannot reach remote location .*bob/);
    assert.deepEqual(Object.keys(out[0]).sort(), ['error', 'ok', 'remote']);
    assert.equal(out[1].fetch.changes, 2);
    assert.equal(out[1].merge.received, 2);
    assert.equal(out[1].merge.applied, 2);
    assert.deepEqual(ids(me), ['c1', 'c2'], 'the valid remote was merged although the one before it failed');
    // standard error names the failed remote, one line
    assert.deepEqual(errLines(r).length, 1);
    assert.match(errLines(r)[0]!, /^ddcp: error: bob: cannot reach remote location/);
  });

  it('pull in text names both: what carol gave on stdout, why bob failed on stderr; exit 1', () => {
    const { me, carol, bob } = threeRepos();
    rmSync(bob, { recursive: true });
    const r = ddcp(me, ['pull']);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^pulled 2 changes from carol; merged 2 \(2 new\), db_version \d+\n$/);
    assert.match(r.stderr, /^ddcp: error: bob: cannot reach remote location [^\n]*\n$/);
    assert.deepEqual(ids(me), ['c1', 'c2']);

    // once the broken remote is gone, the same command succeeds: exit 0
    ok(me, ['remote', 'remove', 'bob']);
    ok(carol, ['shell', '-c', "INSERT INTO notes VALUES ('c3', 'three')"]);
    const good = ddcp(me, ['pull']);
    assert.equal(good.code, 0, good.stderr);
    assert.equal(good.stderr, '');
    assert.match(good.stdout, /^pulled 1 change from carol;/);
  });

  it('fetch --json: one object per remote, the failed one with its error (a schema mismatch); exit 1', () => {
    const { me, bob } = threeRepos();
    // bob has a CRR table me lacks: fetching from bob is refused whole
    ok(bob, ['shell'], "CREATE TABLE extra(id INTEGER PRIMARY KEY NOT NULL, v); SELECT crsql_as_crr('extra'); INSERT INTO extra VALUES (1, 'x');");
    const r = ddcp(me, ['fetch', '--json']);
    assert.equal(r.code, 1, r.stderr);
    const [b, a] = JSON.parse(r.stdout);
    assert.deepEqual(b, { remote: 'bob', ok: false, error: b.error });
    assert.match(b.error, /table extra.*not a CRR here/);
    assert.deepEqual({ ...a, version: 0 }, { remote: 'carol', ok: true, changes: 2, version: 0, staged: 2 });
    assert.match(errLines(r)[0]!, /^ddcp: error: bob: remote bob sends changes for table extra/);
    // text: carol's line on stdout, bob's on stderr
    const t = ddcp(me, ['fetch']);
    assert.equal(t.code, 1);
    assert.match(t.stdout, /^fetched 0 changes from carol \(up to its version \d+\); 2 staged\n$/);
    assert.match(t.stderr, /^ddcp: error: bob: .*table extra/);
    // one named remote that works: exit 0
    assert.equal(JSON.parse(ok(me, ['fetch', 'carol', '--json']))[0].ok, true);
  });

  it('through a running serve, each remote gets its own result or error, and the exit code says so', async () => {
    const { me, bob } = threeRepos();
    ok(bob, ['shell'], "CREATE TABLE extra(id INTEGER PRIMARY KEY NOT NULL, v); SELECT crsql_as_crr('extra'); INSERT INTO extra VALUES (1, 'x');");
    const repo = await Repository.open(me);
    const server = await Server.start(repo, { listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, dht: false });
    servers.push(server);
    server.on('error', () => {}); // following bob fails over and over: expected here

    const status = await ddcpAsync(me, ['status', '--json']);
    assert.notEqual(JSON.parse(status.stdout).serving, null, 'the CLI talks to the running serve');
    for (const cmd of ['pull', 'fetch']) {
      const r = await ddcpAsync(me, [cmd, '--json']);
      assert.equal(r.code, 1, `${cmd}: ${r.stderr}`);
      const [b, a] = JSON.parse(r.stdout);
      assert.equal(b.remote, 'bob');
      assert.equal(b.ok, false);
      assert.match(b.error, /table extra/);
      assert.equal(a.remote, 'carol');
      assert.equal(a.ok, true, JSON.stringify(a));
      assert.match(errLines(r)[0]!, /^ddcp: error: bob: .*table extra/);
      assert.equal(errLines(r).length, 1);
    }
    assert.deepEqual(ids(me), ['c1', 'c2']);
  });
});
