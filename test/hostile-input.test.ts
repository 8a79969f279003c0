/**
 * Issue 8, findings 2, 4 and 7, through the real CLI (`ddcp apply`, `ddcp changes`, bundles):
 * clocks past 2^53 travel exactly and never jam sync; keys must fit the declared key columns; input
 * readers are linear and bounded; NaN, the zero site id and duplicated JSON keys are refused; a
 * change that changes nothing adds nothing.
 */
import { before, after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ddcp, initRepo, ok, tempDir } from './support/cli.ts';

const SCHEMA = `CREATE TABLE notes (id TEXT PRIMARY KEY NOT NULL, body);
CREATE TABLE nums (n INTEGER PRIMARY KEY NOT NULL, body);
SELECT crsql_as_crr('notes'); SELECT crsql_as_crr('nums');`;

const PEER = '11111111111111111111111111111111';
const packText = (s: string): string => {
  const b = Buffer.from(s, 'utf8');
  return `010${((1 << 3) | 3).toString(16)}${b.length.toString(16).padStart(2, '0')}${b.toString('hex')}`;
};
/** One JSON line, written by hand the way a hostile peer would (numbers as raw digits). */
function line(f: { table?: string; pk?: string; cid?: string; val?: string; cv?: string | number; db?: string | number; site?: string; cl?: string | number; seq?: number }): string {
  return `{"table":"${f.table ?? 'notes'}","pk":"${f.pk ?? packText('k')}","cid":"${f.cid ?? 'body'}","val":"${f.val ?? packText('x')}","col_version":${f.cv ?? 1},"db_version":${f.db ?? 1},"site_id":"${f.site ?? PEER}","cl":${f.cl ?? 1},"seq":${f.seq ?? 0}}`;
}

const sql = (dir: string, q: string): string => ok(dir, ['shell', '-c', q]).trim();
/** Everything a database holds that sync could differ on: rows, clocks, key maps and sites (one shell run). */
const dump = (dir: string): string =>
  ok(dir, ['shell'], [
    'SELECT id, typeof(id), quote(body) FROM notes ORDER BY 1, 2;',
    'SELECT n, quote(body) FROM nums ORDER BY 1;',
    'SELECT key, cid, col_version, site FROM notes__ddcp_clock ORDER BY 1, 2;',
    'SELECT count(*) FROM notes__ddcp_pks;',
    'SELECT count(*) FROM ddcp_site_id;',
  ].join("\nSELECT '--';\n"));

function refusedOneLine(r: { code: number; stderr: string }, pattern: RegExp): void {
  assert.notEqual(r.code, 0, 'refused');
  assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
  assert.match(r.stderr, pattern);
}

let root: string;
before(() => (root = tempDir('ddcp-hostile-')));
after(() => rmSync(root, { recursive: true, force: true }));

describe('clocks are 64-bit end to end (finding 2)', () => {
  it('a col_version of 2^53-1 survives the next local write: changes, apply and bundles carry 2^53 exactly', () => {
    const a = initRepo(root, 'a53', SCHEMA);
    ok(a, ['apply'], line({ cv: '9007199254740991' }) + '\n');
    sql(a, `UPDATE notes SET body = 'honest' WHERE id = 'k'`);
    const changes = ok(a, ['changes']);
    assert.match(changes, /"col_version":9007199254740992,/);
    const b = initRepo(root, 'b53', SCHEMA);
    ok(b, ['apply'], changes);
    assert.match(ok(b, ['changes']), /"col_version":9007199254740992,/);
    ok(a, ['bundle', 'create', join(root, 'a53.ddcpb')]);
    const c = initRepo(root, 'c53', SCHEMA);
    ok(c, ['bundle', 'apply', join(root, 'a53.ddcpb')]);
    assert.equal(sql(c, `SELECT col_version FROM notes__ddcp_clock WHERE cid = 'body'`), '9007199254740992');
    assert.equal(sql(c, `SELECT body FROM notes`), 'honest');
  });

  it('col_versions, causal lengths, db_versions and seqs up to 2^63-1 travel exactly', () => {
    const a = initRepo(root, 'a62', SCHEMA);
    const big = '4611686018427387905'; // 2^62 + 1: not a double
    ok(a, ['apply'], [line({ cv: big }), line({ pk: packText('s'), cid: '-1', val: '0105', cv: big, cl: big, db: '9223372036854775807', seq: 7 })].join('\n') + '\n');
    const out = ok(a, ['changes']);
    assert.match(out, new RegExp(`"pk":"${packText('k')}","cid":"body","val":"${packText('x')}","col_version":${big},`));
    assert.match(out, new RegExp(`"cid":"-1","val":"0105","col_version":${big},.*"cl":${big},`));
    // And back in through the binary codec of bundles.
    ok(a, ['bundle', 'create', join(root, 'a62.ddcpb')]);
    const b = initRepo(root, 'b62', SCHEMA);
    ok(b, ['bundle', 'apply', join(root, 'a62.ddcpb')]);
    assert.equal(sql(b, `SELECT group_concat(col_version, ',') FROM (SELECT col_version FROM notes__ddcp_clock ORDER BY cid)`), `${big},${big}`);
    // Deleting the row locally steps the causal length by one, exactly.
    sql(b, `DELETE FROM notes WHERE id = 's'`);
    assert.equal(sql(b, `SELECT col_version FROM notes__ddcp_clock WHERE cid = '-1' AND key = (SELECT __key FROM notes__ddcp_pks WHERE id = 's')`), '4611686018427387906');
  });

  it('a clock the next local write would push past 2^63-1 is refused at the gate with one line, nothing applied', () => {
    const a = initRepo(root, 'amax', SCHEMA);
    ok(a, ['apply'], line({ pk: packText('first') }) + '\n');
    const before = dump(a);
    for (const bad of [
      line({ cv: '9223372036854775807' }),
      line({ cid: '-1', val: '0105', cv: '9223372036854775807', cl: '9223372036854775807' }),
      line({ cl: '9223372036854775807' }),
      line({ cv: '9223372036854775808' }),
      line({ db: '9223372036854775808' }),
      line({ cv: '1.5' }),
      line({ cv: '-1' }),
    ]) {
      refusedOneLine(ddcp(a, ['apply'], line({ pk: packText('ok') }) + '\n' + bad + '\n'), /(line|change) 2/);
    }
    assert.equal(dump(a), before);
  });
});

describe('clocks at the limit', () => {
  it('a write to a cell at the col_version limit starts a new row life that every replica takes', () => {
    const a = initRepo(root, 'arebase', SCHEMA);
    const max = '9223372032559808512'; // 2^63 - 2^32: the most the gate takes
    ok(a, ['apply'], line({ cv: max }) + '\n');
    sql(a, `UPDATE notes SET body = 'local' WHERE id = 'k'`);
    const out = ok(a, ['changes']);
    assert.doesNotMatch(out, /"col_version":92233720325598085(1[3-9]|[2-9])/);
    assert.match(out, /"cid":"-1","val":"0105","col_version":3,.*"cl":3,/);
    const b = initRepo(root, 'brebase', SCHEMA);
    ok(b, ['apply'], line({ cv: max }) + '\n');
    ok(b, ['apply'], out);
    assert.equal(sql(b, `SELECT body FROM notes`), 'local');
  });
});

describe('keys are canonical (finding 4)', () => {
  it('an INTEGER key for a TEXT key column is refused; the row keeps one identity', () => {
    const a = initRepo(root, 'akey', SCHEMA);
    sql(a, `INSERT INTO notes VALUES ('1', 'mine')`);
    const before = dump(a);
    refusedOneLine(ddcp(a, ['apply'], line({ pk: '010901', val: packText('theirs'), cv: 5 }) + '\n'), /(line|change) 1: .*key.*notes.*TEXT/i);
    assert.equal(dump(a), before);
    sql(a, `UPDATE notes SET body = 'again' WHERE id = '1'`);
    assert.equal(sql(a, 'SELECT count(*) FROM notes__ddcp_pks'), '1');
  });

  it('TEXT or REAL keys for an INTEGER PRIMARY KEY, and a REAL 1.0 where SQLite would store 1, are refused', () => {
    const a = initRepo(root, 'aint', SCHEMA);
    const before = dump(a);
    const real1 = `0102${Buffer.from(new Float64Array([1]).buffer).reverse().toString('hex')}`;
    for (const pk of [packText('1'), packText('x'), real1, '010c0101']) {
      refusedOneLine(ddcp(a, ['apply'], line({ table: 'nums', pk }) + '\n'), /(line|change) 1: .*key/i);
    }
    assert.equal(dump(a), before);
  });

  it('a BLOB key next to an equal TEXT key is another row, the same on every replica', () => {
    const a = initRepo(root, 'ablob', SCHEMA);
    const b = initRepo(root, 'bblob', SCHEMA);
    sql(a, `INSERT INTO notes VALUES ('a', 'text')`);
    ok(a, ['apply'], line({ pk: '010c0161', val: packText('blob') }) + '\n');
    sql(a, `UPDATE notes SET body = 'text2' WHERE id = 'a'; UPDATE notes SET body = 'blob2' WHERE id = x'61'`);
    ok(b, ['apply'], ok(a, ['changes']));
    sql(b, `UPDATE notes SET body = 'blob3' WHERE id = x'61'`);
    ok(a, ['apply'], ok(b, ['changes']));
    const rows = 'SELECT quote(id), body FROM notes ORDER BY 1';
    assert.equal(sql(a, rows), `'a'|text2\nX'61'|blob3`);
    assert.equal(sql(b, rows), sql(a, rows));
    assert.equal(sql(a, 'SELECT count(*) FROM notes__ddcp_pks'), '2');
  });

  it('new key tables keep the declared affinity of the key columns', () => {
    const a = initRepo(root, 'aaff', SCHEMA);
    assert.match(sql(a, `SELECT sql FROM sqlite_master WHERE name = 'notes__ddcp_pks'`), /"id" TEXT/);
    assert.match(sql(a, `SELECT sql FROM sqlite_master WHERE name = 'nums__ddcp_pks'`), /"n" INTEGER/);
  });
});

describe('smaller ones (finding 7)', () => {
  it('a 100 MB line without a newline is refused quickly and in bounded memory', () => {
    const a = initRepo(root, 'along', SCHEMA);
    const file = join(root, 'long.jsonl');
    writeFileSync(file, Buffer.alloc(100 * 1024 * 1024, 0x61));
    const started = process.hrtime.bigint();
    const r = ddcp(a, ['apply', file]);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    refusedOneLine(r, /line 1 .*longer than/);
    rmSync(file);
    // Not a speed target (those live in bench/): linear reading takes a second or two, the quadratic one minutes.
    assert.ok(seconds < 30, `took ${seconds} s`);
  });

  it('a REAL NaN is refused, not stored as NULL', () => {
    const a = initRepo(root, 'anan', SCHEMA);
    const before = dump(a);
    refusedOneLine(ddcp(a, ['apply'], line({ val: '01027ff8000000000000' }) + '\n'), /(line|change) 1: .*NaN/);
    refusedOneLine(ddcp(a, ['apply'], line({ pk: '01027ff8000000000001' }) + '\n'), /(line|change) 1: .*NaN/);
    assert.equal(dump(a), before);
  });

  it('the all-zero site id is refused from outside', () => {
    const a = initRepo(root, 'azero', SCHEMA);
    const before = dump(a);
    refusedOneLine(ddcp(a, ['apply'], line({ site: '0'.repeat(32) }) + '\n'), /(line|change) 1: .*site_id/);
    assert.equal(dump(a), before);
  });

  it('JSON with a duplicated key is refused', () => {
    const a = initRepo(root, 'adup', SCHEMA);
    const before = dump(a);
    const dup = line({}).replace('"cl":1', '"cl":1,"cl":3');
    refusedOneLine(ddcp(a, ['apply'], dup + '\n'), /line 1: .*duplicate.*"cl"/);
    assert.equal(dump(a), before);
  });

  it('changes that change nothing add nothing, not even their site ids', () => {
    const a = initRepo(root, 'anoop', SCHEMA);
    ok(a, ['apply'], line({ cv: 5 }) + '\n');
    const before = dump(a);
    const noops: string[] = [];
    for (let i = 0; i < 200; i++) noops.push(line({ cv: 1 + (i % 4), site: (i + 0x100).toString(16).padStart(32, 'a') }));
    assert.match(ok(a, ['apply'], noops.join('\n') + '\n'), /\(0 new\)/);
    assert.equal(dump(a), before);
  });
});
