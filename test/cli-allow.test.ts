/**
 * `ddcp allow` / `ddcp deny` with policies, through the real executable: --read/--write SPECs
 * (repeatable, '*' and 'none'), --list and --json, one-line errors with exit 2 for a malformed SPEC
 * and 1 for one that doesn't fit the database, and what config.json then holds.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ddcp, ok, tempDir } from './support/cli.ts';

const ALICE = '12D3KooWPX8CPSfyUAQs89e1XoMPenW7kYCty1ovA3JyefsXtmH4';
const BOB = '12D3KooWGC6TvWhfapngX6wvJHMYvKpDMXPb3ZnCZ6dMoaMtimQ5';

function repo(): string {
  const dir = tempDir();
  ok(dir, ['init']);
  ok(dir, ['shell'], "CREATE TABLE notes (id INTEGER PRIMARY KEY NOT NULL, owner TEXT, title TEXT, body TEXT); SELECT crsql_as_crr('notes');");
  return dir;
}

const config = (dir: string) => JSON.parse(readFileSync(join(dir, '.ddcp', 'config.json'), 'utf8'));

describe('ddcp allow with policies', () => {
  it('allows with the default policy: read everything, write nothing', () => {
    const dir = repo();
    assert.equal(ok(dir, ['allow', ALICE]), `allowed ${ALICE}  read: *  write: none\n`);
    assert.deepEqual(config(dir).peers, { [ALICE]: { read: 'all', write: 'none' } });
  });

  it('sets read and write rules (repeatable), lists them, and keeps the part not given', () => {
    const dir = repo();
    ok(dir, ['allow', ALICE, '--read', 'notes(title,owner) WHERE owner = :peer', '--read', 'notes(title) WHERE owner IS NULL', '--write', 'notes(title,body) WHERE owner = :peer']);
    ok(dir, ['allow', BOB, '--write', '*']);
    assert.equal(
      ok(dir, ['allow', '--list']),
      `${ALICE}  read: notes(title,owner) WHERE owner = :peer; notes(title) WHERE owner IS NULL  write: notes(title,body) WHERE owner = :peer\n${BOB}  read: *  write: *\n`,
    );
    assert.deepEqual(JSON.parse(ok(dir, ['allow', '--list', '--json'])), [
      {
        address: ALICE,
        read: [
          { table: 'notes', columns: ['title', 'owner'], where: 'owner = :peer' },
          { table: 'notes', columns: ['title'], where: 'owner IS NULL' },
        ],
        write: [{ table: 'notes', columns: ['title', 'body'], where: 'owner = :peer' }],
      },
      { address: BOB, read: 'all', write: 'all' },
    ]);
    // --write alone replaces the write part and keeps the read part.
    ok(dir, ['allow', ALICE, '--write', 'none']);
    assert.deepEqual(config(dir).peers[ALICE].write, 'none');
    assert.equal(config(dir).peers[ALICE].read.length, 2);
    ok(dir, ['allow', ALICE, '--read', '*']);
    assert.deepEqual(config(dir).peers[ALICE], { read: 'all', write: 'none' });
    // allow without options leaves an existing policy alone.
    ok(dir, ['allow', BOB]);
    assert.deepEqual(config(dir).peers[BOB], { read: 'all', write: 'all' });
    assert.equal(ok(dir, ['deny', BOB]), `denied ${BOB}\n`);
    // denied: recorded as a policy that grants nothing, listed as such, until allowed again
    assert.deepEqual(config(dir).peers[BOB], { read: [], write: 'none' });
    assert.match(ok(dir, ['allow', '--list']), new RegExp(`^${BOB}  read: none  write: none  \\(denied\\)$`, 'm'));
    assert.equal(ok(dir, ['allow', BOB, '--write', '*']), `allowed ${BOB}  read: *  write: *\n`);
  });

  const bad: [string[], number, RegExp][] = [
    [['--read', 'notes(title'], 2, /^ddcp: error: bad rule "notes\(title": ',' or '\)' was expected/],
    [['--read', 'notes WHERE 1); DROP TABLE notes; --'], 2, /^ddcp: error: bad WHERE .*: unbalanced '\)'/],
    [['--write', 'notes WHERE owner = :me'], 2, /^ddcp: error: bad WHERE .*unknown parameter :me/],
    [['--read', 'nope'], 1, /^ddcp: error: read rule "nope": table nope is not a CRR here/],
    [['--write', 'notes(colour)'], 1, /^ddcp: error: write rule "notes\(colour\)": table notes has no column colour/],
    [['--read', 'notes WHERE ownr = :peer'], 1, /^ddcp: error: read rule .*: WHERE is not an expression over notes's columns: no such column: ownr/],
  ];
  for (const [args, code, re] of bad) {
    it(`refuses ${args.join(' ')} with exit ${code} and one line, changing nothing`, () => {
      const dir = repo();
      const r = ddcp(dir, ['allow', ALICE, ...args]);
      assert.equal(r.code, code, r.stderr);
      assert.match(r.stderr, re);
      assert.equal(r.stderr.trimEnd().split('\n').length, 1);
      assert.equal(config(dir).peers, undefined);
    });
  }

  it('refuses --read with --list and --json without it', () => {
    const dir = repo();
    assert.equal(ddcp(dir, ['allow', '--list', '--read', '*']).code, 2);
    assert.equal(ddcp(dir, ['allow', ALICE, '--json']).code, 2);
  });
});
