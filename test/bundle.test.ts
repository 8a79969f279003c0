import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import v8 from 'node:v8';
import vm from 'node:vm';
import { Repository } from '../src/repo/repository.ts';
import { BundleReader } from '../src/bundle/reader.ts';
import { ddcp, ok, tempDir } from './support/cli.ts';

const SCHEMA = `CREATE TABLE notes(id TEXT PRIMARY KEY NOT NULL, body TEXT, n INTEGER, r REAL, b BLOB);
SELECT crsql_as_crr('notes');`;

/** The trailer's size: a cut this far from the end leaves every change frame intact. */
const TRAILER = 50;
const SIGNATURE_FRAME = 70; // 'S' · length 64 · signature · CRC

function repo(schema = SCHEMA): string {
  const dir = tempDir('ddcp-bundle-');
  ok(dir, ['init']);
  ok(dir, ['shell'], schema);
  return dir;
}

/** Every row of notes, with storage classes, as text. */
function dump(dir: string): string {
  return ok(dir, ['shell', '--json', '-c', 'SELECT id, typeof(body), quote(body), typeof(n), quote(n), typeof(r), quote(r), quote(b) FROM notes ORDER BY id']);
}

/** Every row of notes (whatever its columns) and the db_version, in one run of the CLI. */
const snapshot = (dir: string): string => ok(dir, ['shell', '--json', '-c', 'SELECT * FROM notes ORDER BY 1; SELECT crsql_db_version() AS v']);

const status = (dir: string) => JSON.parse(ok(dir, ['status', '--json'])) as { site_id: string; db_version: number };
const json = (dir: string, args: string[]) => JSON.parse(ok(dir, [...args, '--json']));

/** A repository with `rows` notes (3 changes per row: body, n, r). */
function filled(rows: number): string {
  const dir = repo();
  ok(dir, ['shell', '-c', `WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < ${rows}) INSERT INTO notes(id, body, n, r) SELECT 'k' || i, 'body ' || i, i, i / 4.0 FROM k`]);
  return dir;
}

/** Asserts a refused apply: exit 1, one line naming the cause, and the target unchanged. */
function refused(target: string, file: string, message: RegExp): void {
  const before = snapshot(target);
  const r = ddcp(target, ['bundle', 'apply', file]);
  assert.equal(r.code, 1, `exit code (stderr: ${r.stderr})`);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /^ddcp: error: /);
  assert.match(r.stderr, message);
  assert.equal(snapshot(target), before);
}

describe('ddcp bundle', () => {
  it('moves every value type exactly from one repository to another, and records the source as a peer', () => {
    const a = repo();
    const b = repo();
    ok(a, ['shell'], `INSERT INTO notes VALUES ('k1', 'text', 9007199254740993, 2.0, X'00FF');
INSERT INTO notes VALUES ('k2', '', -9223372036854775808, -0.5, X'');
INSERT INTO notes VALUES ('k3', NULL, 0, 1e308, NULL);
INSERT INTO notes VALUES ('k4', 'ünï 😀', 9223372036854775807, 3.0, zeroblob(3));
INSERT INTO notes VALUES ('k5', 'gone', 1, 1.0, NULL); DELETE FROM notes WHERE id = 'k5';
UPDATE notes SET body = 'edited' WHERE id = 'k1';`);
    const file = join(a, 'all.ddcpb');
    const created = json(a, ['bundle', 'create', 'all.ddcpb']);
    assert.equal(created.file, file);
    assert.equal(created.since, 0);
    assert.equal(created.version, status(a).db_version);
    assert.equal(created.site_id, status(a).site_id);
    assert.equal(created.bytes, statSync(file).size);
    assert.match(created.sha256, /^[0-9a-f]{64}$/);
    assert.ok(created.changes > 0);

    const applied = json(b, ['bundle', 'apply', file]);
    assert.equal(applied.site_id, status(a).site_id);
    assert.equal(applied.received, created.changes);
    assert.equal(applied.applied, created.changes);
    assert.equal(applied.version, created.version);
    assert.equal(applied.tracked, true);
    assert.equal(dump(b), dump(a));
    // Again: nothing new.
    assert.match(ok(b, ['bundle', 'apply', file]), /^merged \d+ changes from [0-9a-f]{8} \(0 new\), db_version \d+\n$/);
    assert.equal(dump(b), dump(a));
    // The bundle counts as having synced with a: a fetch from it transfers nothing already held.
    ok(b, ['remote', 'add', 'a', a]);
    assert.equal(json(b, ['fetch', 'a'])[0].changes, 0);
    ok(a, ['shell', '-c', "INSERT INTO notes(id) VALUES ('later')"]);
    assert.ok(json(b, ['fetch', 'a'])[0].changes > 0);
  });

  it('create --since N holds only the changes after db_version N', () => {
    const a = repo();
    const b = repo();
    ok(a, ['shell', '-c', "INSERT INTO notes(id, body) VALUES ('old', 'x')"]);
    const mid = status(a).db_version;
    ok(a, ['shell', '-c', "INSERT INTO notes(id, body) VALUES ('new1', 'y'); INSERT INTO notes(id, n) VALUES ('new2', 2)"]);
    const r = json(a, ['bundle', 'create', 'since.ddcpb', '--since', String(mid)]);
    assert.equal(r.since, mid);
    assert.equal(r.changes, 8); // two rows, four columns each
    const v = json(a, ['bundle', 'verify', 'since.ddcpb']);
    assert.equal(v.changes, 8);
    assert.equal(v.since, mid);
    const applied = json(b, ['bundle', 'apply', join(a, 'since.ddcpb')]);
    // b never got a's changes up to `mid`: recording a's version would hide that gap from later fetches.
    assert.equal(applied.tracked, false);
    assert.equal(ok(b, ['shell', '-c', 'SELECT id FROM notes ORDER BY id']), 'new1\nnew2\n');
    const bad = ddcp(a, ['bundle', 'create', 'x.ddcpb', '--since', 'abc']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--since takes a db_version/);
  });

  it('create --for REMOTE is incremental and leaves out the changes that came from REMOTE', () => {
    const a = repo();
    const b = repo();
    ok(b, ['shell', '-c', "INSERT INTO notes(id, body) VALUES ('from-b', 'b wrote this')"]);
    ok(a, ['remote', 'add', 'b', b]);
    ok(a, ['pull', 'b']); // a now holds b's row, and knows b's site id
    ok(a, ['shell', '-c', "INSERT INTO notes(id, body) VALUES ('a1', 'one')"]);

    const first = json(a, ['bundle', 'create', 'b1.ddcpb', '--for', 'b']);
    assert.equal(first.for, 'b');
    assert.equal(first.since, 0);
    assert.equal(first.except_site, status(b).site_id);
    assert.equal(first.changes, 4); // a1's four columns: b's own row is not sent back
    assert.ok(existsSync(join(a, '.ddcp', 'bundles.json')));
    const r1 = json(b, ['bundle', 'apply', join(a, 'b1.ddcpb')]);
    assert.equal(r1.tracked, true);

    ok(a, ['shell', '-c', "INSERT INTO notes(id, body) VALUES ('a2', 'two'); UPDATE notes SET n = 7 WHERE id = 'a1'"]);
    const second = json(a, ['bundle', 'create', 'b2.ddcpb', '--for', 'b']);
    assert.equal(second.since, first.version);
    assert.equal(second.changes, 5); // only what is new since the first bundle: a2, and a1's n
    json(b, ['bundle', 'apply', join(a, 'b2.ddcpb')]);
    assert.equal(dump(b), dump(a));

    // Nothing new: an empty (but valid) bundle.
    assert.equal(json(a, ['bundle', 'create', 'b3.ddcpb', '--for', 'b']).changes, 0);
    // A lost bundle: send everything again.
    const again = json(a, ['bundle', 'create', 'b4.ddcpb', '--for', 'b', '--since', '0']);
    assert.equal(again.since, 0);
    assert.equal(again.changes, 8);
    // Plain bundles are not affected by --for, and hold b's changes too.
    assert.equal(json(a, ['bundle', 'create', 'all.ddcpb']).changes, 12);

    const unknown = ddcp(a, ['bundle', 'create', 'x.ddcpb', '--for', 'carol']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /^ddcp: error: no remote named "carol"/);
    assert.ok(!existsSync(join(a, 'x.ddcpb')));
  });

  it('refuses a bundle with a corrupted byte anywhere, and applies nothing', () => {
    const a = filled(50);
    const b = repo();
    ok(b, ['shell', '-c', "INSERT INTO notes(id, body) VALUES ('mine', 'stays')"]);
    ok(a, ['bundle', 'create', 'good.ddcpb']);
    const good = readFileSync(join(a, 'good.ddcpb'));
    for (const at of [Math.floor(good.length / 2), 12, good.length - 20]) {
      const bad = Buffer.from(good);
      bad[at]! ^= 0x20;
      const file = join(b, `bad-${at}.ddcpb`);
      writeFileSync(file, bad);
      refused(b, file, /checksum mismatch|damaged/);
    }
    refused(b, join(b, 'bad-12.ddcpb'), /nothing was applied/);
  });

  it('refuses a truncated bundle wherever it was cut, and applies nothing', () => {
    const a = filled(2000); // 6000 changes: two change frames
    const b = repo();
    ok(a, ['bundle', 'create', 'good.ddcpb']);
    const good = readFileSync(join(a, 'good.ddcpb'));
    for (const cut of [5, 40, Math.floor(good.length / 3), good.length - TRAILER, good.length - 1]) {
      const file = join(b, `cut-${cut}.ddcpb`);
      writeFileSync(file, good.subarray(0, cut));
      refused(b, file, cut === good.length - TRAILER ? /truncated bundle: no trailer .*nothing was applied/ : /truncated bundle/);
    }
  });

  it('a damaged LAST frame still applies nothing, though the intact frames before it were streamed into the merge', () => {
    const a = filled(3000); // 9000 changes: three change frames
    const b = repo();
    ok(a, ['bundle', 'create', 'good.ddcpb']);
    const bad = Buffer.from(readFileSync(join(a, 'good.ddcpb')));
    bad[bad.length - TRAILER - SIGNATURE_FRAME - 8]! ^= 0x01; // inside the last change frame (before the signature and the trailer)
    const file = join(b, 'last.ddcpb');
    writeFileSync(file, bad);
    refused(b, file, /checksum mismatch: frame 3 .*nothing was applied/);
    assert.equal(ok(b, ['shell', '-c', 'SELECT count(*) FROM notes']), '0\n');
    // The reader hands out the intact frames' changes before it finds the damage…
    let streamed = 0;
    assert.throws(() => {
      for (const _ of BundleReader.open(file).changes()) streamed++;
    }, { name: 'BundleError' });
    assert.equal(streamed, 2 * 4096);
    // …and the one-transaction merge undoes them all (the same through the library).
    const repoB = Repository.open(b);
    try {
      const before = repoB.engine.dbVersion();
      assert.throws(() => repoB.applyBundle(file), { name: 'BundleError', message: /checksum mismatch/ });
      assert.equal(repoB.engine.dbVersion(), before);
      assert.equal(repoB.engine.trackedPeers().length, 0);
    } finally {
      repoB.close();
    }
  });

  it('says clearly when a file is not a bundle: bad signature, garbage, empty, missing', () => {
    const b = repo();
    const cases: [string, Buffer, RegExp][] = [
      ['magic.ddcpb', Buffer.concat([Buffer.from('DDCPBNDX'), Buffer.alloc(64)]), /not a ddcp bundle/],
      ['garbage.ddcpb', Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 251)), /not a ddcp bundle/],
      ['empty.ddcpb', Buffer.alloc(0), /not a bundle: the file is empty/],
      ['changes.jsonl', Buffer.from('{"table":"notes"}\n'), /not a ddcp bundle/],
    ];
    for (const [name, bytes, message] of cases) {
      writeFileSync(join(b, name), bytes);
      refused(b, name, message);
    }
    refused(b, 'missing.ddcpb', /cannot read bundle .*missing\.ddcpb: no such file/);
    const v = ddcp(b, ['bundle', 'verify', 'garbage.ddcpb']);
    assert.equal(v.code, 1);
    assert.match(v.stderr, /^ddcp: error: .*not a ddcp bundle/);
  });

  it('refuses a bundle from a different schema, naming the table or column, and applies nothing', () => {
    const a = repo(`${SCHEMA}
CREATE TABLE tags(id TEXT PRIMARY KEY NOT NULL, label TEXT); SELECT crsql_as_crr('tags');`);
    ok(a, ['shell', '-c', "INSERT INTO notes(id, body, b) VALUES ('x', 'y', X'01'); INSERT INTO tags VALUES ('t', 'l')"]);
    ok(a, ['bundle', 'create', 'all.ddcpb']);
    const file = join(a, 'all.ddcpb');

    const noTags = repo(); // no tags table
    refused(noTags, file, /bundle from a different schema: it has changes for table tags, which is not a CRR here; nothing was applied/);
    const noColumn = repo(`CREATE TABLE notes(id TEXT PRIMARY KEY NOT NULL, body TEXT, n INTEGER, r REAL); SELECT crsql_as_crr('notes');
CREATE TABLE tags(id TEXT PRIMARY KEY NOT NULL, label TEXT); SELECT crsql_as_crr('tags');`);
    refused(noColumn, file, /bundle from a different schema: it has changes for column notes\.b, which this database lacks/);
    const otherKey = repo(`CREATE TABLE notes(id TEXT NOT NULL, body TEXT NOT NULL DEFAULT '', n INTEGER, r REAL, b BLOB, PRIMARY KEY (id, body)); SELECT crsql_as_crr('notes');
CREATE TABLE tags(id TEXT PRIMARY KEY NOT NULL, label TEXT); SELECT crsql_as_crr('tags');`);
    refused(otherKey, file, /bundle from a different schema: table notes has primary key \(id\) in the bundle but \(id, body\) here/);
    // A schema with more than the bundle needs is fine.
    const more = repo(`CREATE TABLE notes(id TEXT PRIMARY KEY NOT NULL, body TEXT, n INTEGER, r REAL, b BLOB, extra TEXT); SELECT crsql_as_crr('notes');
CREATE TABLE tags(id TEXT PRIMARY KEY NOT NULL, label TEXT); SELECT crsql_as_crr('tags');
CREATE TABLE other(id INTEGER PRIMARY KEY NOT NULL); SELECT crsql_as_crr('other');`);
    assert.equal(json(more, ['bundle', 'apply', file]).received, 5);
  });

  it('create writes atomically: a failed create leaves no file, nor a temporary one', () => {
    const a = filled(10);
    ok(a, ['bundle', 'create', 'keep.ddcpb']);
    const before = readFileSync(join(a, 'keep.ddcpb'));
    const r = ddcp(a, ['bundle', 'create', join('no-such-folder', 'x.ddcpb')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^ddcp: error: cannot write .*x\.ddcpb/);
    const r2 = ddcp(a, ['bundle', 'create', 'keep.ddcpb', '--for', 'nobody']);
    assert.equal(r2.code, 1);
    assert.ok(readFileSync(join(a, 'keep.ddcpb')).equals(before));
    assert.deepEqual(readdirSync(a).filter((f) => f.includes('tmp')), []);
  });

  it('--help has examples', () => {
    const dir = tempDir();
    for (const args of [['bundle', '--help'], ['bundle', 'create', '--help'], ['bundle', 'apply', '--help'], ['bundle', 'verify', '--help']]) {
      const out = ok(dir, args);
      assert.match(out, /Examples?:\n {2}ddcp /, args.join(' '));
    }
    assert.match(ok(dir, ['bundle', 'create', '--help']), /--for <remote>/);
    assert.match(ok(dir, ['bundle', 'create', '--help']), /--since <version>/);
  });

  it('streams a large bundle (200k changes) with bounded memory', async (t) => {
    const v8gc = (): (() => void) => {
      v8.setFlagsFromString('--expose-gc');
      return vm.runInNewContext('gc') as () => void;
    };
    const gc = v8gc();
    const rows = 66_667;
    const a = await Repository.init(tempDir('ddcp-bundle-big-a-'));
    const b = await Repository.init(tempDir('ddcp-bundle-big-b-'));
    try {
      for (const r of [a, b]) {
        r.db.exec('CREATE TABLE items(id INTEGER PRIMARY KEY NOT NULL, name TEXT, qty INTEGER, price REAL)');
        r.engine.asCrr('items');
      }
      a.db.exec(`WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < ${rows})
        INSERT INTO items SELECT i, 'item number ' || i || ' ' || hex(randomblob(8)), i % 100, i * 0.25 FROM k`);
      const file = join(a.root, 'big.ddcpb');
      const memory = (): number => {
        gc();
        const m = process.memoryUsage();
        return m.heapUsed + m.arrayBuffers;
      };

      const base = memory();
      let peak = 0;
      const created = a.createBundle(file, { onProgress: () => (peak = Math.max(peak, memory() - base)) });
      assert.equal(created.changes, rows * 3);
      const createdPeak = peak;

      // Every frame, and so everything the reader holds at once, is small.
      const reader = BundleReader.open(file);
      let largestBatch = 0;
      for (const batch of reader.batches()) largestBatch = Math.max(largestBatch, batch.length);
      assert.ok(largestBatch <= 4096, `largest frame has ${largestBatch} changes`);
      assert.ok(reader.largestFrame <= 256 * 1024, `largest frame is ${reader.largestFrame} bytes`);

      const base2 = memory();
      peak = 0;
      let progress = 0;
      const applied = b.applyBundle(file, {
        onProgress: (n, total) => {
          assert.equal(total, rows * 3);
          progress = n;
          peak = Math.max(peak, memory() - base2);
        },
      });
      assert.equal(applied.received, rows * 3);
      assert.equal(applied.applied, rows * 3);
      assert.equal(progress, rows * 3);
      // Holding the decoded bundle would take well over 50 MB (and the file is ~6 MB); streaming
      // holds one frame plus SQLite's own pages.
      const bytes = statSync(file).size;
      t.diagnostic(`${created.changes} changes, ${bytes} bytes (${(bytes / created.changes).toFixed(2)} bytes/change); peak memory held: create ${(createdPeak / 1048576).toFixed(1)} MiB, apply ${(peak / 1048576).toFixed(1)} MiB`);
      assert.ok(createdPeak < 16 * 1024 * 1024, `create held ${createdPeak} bytes at once`);
      assert.ok(peak < 16 * 1024 * 1024, `apply held ${peak} bytes at once (bundle: ${bytes} bytes)`);
      const count = b.db.prepare('SELECT count(*) AS n, sum(qty) AS q FROM items').get() as { n: number; q: number };
      const expected = a.db.prepare('SELECT count(*) AS n, sum(qty) AS q FROM items').get() as { n: number; q: number };
      assert.deepEqual({ ...count }, { ...expected });
    } finally {
      a.close();
      b.close();
    }
  });
});
