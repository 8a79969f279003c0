/**
 * Per-peer policies as data: the SPEC syntax (parse, format, one-line errors), the JSON form, checks
 * against a database, and how the repository stores them (legacy `allow` read as the default policy
 * and migrated on write).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { Repository } from '../src/repo/repository.ts';
import { checkExpression, checkPolicy, DEFAULT_POLICY, formatRule, parseRule, policyFromJson, PolicyError, readFromSpecs, writeFromSpecs } from '../src/sync/policy.ts';
import { Gate, readFilterOf, writeGuardOf } from '../src/sync/gate.ts';
import { Engine } from '../src/engine/engine.ts';
import { openDatabase } from '../src/engine/sqlite.ts';
import { tempDir } from './support/cli.ts';

const ALICE = '12D3KooWPX8CPSfyUAQs89e1XoMPenW7kYCty1ovA3JyefsXtmH4';
const BOB = '12D3KooWGC6TvWhfapngX6wvJHMYvKpDMXPb3ZnCZ6dMoaMtimQ5';

describe('SPEC syntax', () => {
  const cases: [string, object, string][] = [
    ['notes', { table: 'notes' }, 'notes'],
    ['  notes ( title , body )  ', { table: 'notes', columns: ['title', 'body'] }, 'notes(title,body)'],
    ['notes WHERE owner = :peer', { table: 'notes', where: 'owner = :peer' }, 'notes WHERE owner = :peer'],
    ['notes(title) where owner = :peer and (x > 1)', { table: 'notes', columns: ['title'], where: 'owner = :peer and (x > 1)' }, 'notes(title) WHERE owner = :peer and (x > 1)'],
    ['"my table"("a b") WHERE "a b" = \'it\'\'s (;)\'', { table: 'my table', columns: ['a b'], where: '"a b" = \'it\'\'s (;)\'' }, '"my table"("a b") WHERE "a b" = \'it\'\'s (;)\''],
    ['*', { table: '*' }, '*'],
  ];
  for (const [spec, rule, text] of cases) {
    it(`parses and formats ${JSON.stringify(spec)}`, () => {
      assert.deepEqual(parseRule(spec), rule);
      assert.equal(formatRule(parseRule(spec)), text);
      assert.deepEqual(parseRule(formatRule(parseRule(spec))), rule);
    });
  }

  const bad: [string, RegExp][] = [
    ['', /bad rule "": no table name/],
    ['notes(', /a column name was expected/],
    ['notes(a b)', /',' or '\)' was expected/],
    ['notes garbage', /unexpected "garbage"/],
    ['notes WHERE', /WHERE needs an expression/],
    ['notes WHERE 1); DROP TABLE notes; --', /bad WHERE .*unbalanced '\)'/],
    ['notes WHERE 1 OR (1', /unbalanced '\('/],
    ['notes WHERE a = 1; SELECT 2', /one expression \(no ;\)/],
    ['notes WHERE a = 1 -- x', /no comments/],
    ["notes WHERE a = 'open", /unterminated '/],
    ['notes WHERE owner = :who', /unknown parameter :who \(only :peer/],
    ['notes WHERE owner = ?', /unknown parameter \?/],
  ];
  for (const [spec, re] of bad) {
    it(`refuses ${JSON.stringify(spec)} with one line`, () => {
      assert.throws(() => parseRule(spec), (e: Error) => e instanceof PolicyError && re.test(e.message) && !e.message.includes('\n'));
    });
  }

  it('turns SPEC lists into access: * means all, none means nothing', () => {
    assert.equal(readFromSpecs(['*']), 'all');
    assert.equal(readFromSpecs(['notes', '*']), 'all');
    assert.deepEqual(readFromSpecs(['none']), []);
    assert.equal(writeFromSpecs([]), 'none');
    assert.equal(writeFromSpecs(['none']), 'none');
    assert.equal(writeFromSpecs(['*']), 'all');
    assert.deepEqual(writeFromSpecs(['notes(title)']), [{ table: 'notes', columns: ['title'] }]);
  });

  it('checkExpression accepts parentheses and semicolons inside literals and quoted names', () => {
    checkExpression(`"we;ird)" = ';)(' AND [x)] = 1 AND owner = :peer`);
  });
});

describe('policy JSON', () => {
  it('round-trips and fills defaults', () => {
    assert.deepEqual(policyFromJson({}), DEFAULT_POLICY);
    const p = { read: [{ table: 'notes', where: 'owner = :peer' }], write: [{ table: 'notes', columns: ['title'] }] };
    assert.deepEqual(policyFromJson(JSON.parse(JSON.stringify(p))), p);
  });
  const bad: [unknown, RegExp][] = [
    [[], /policy: must be an object/],
    [{ read: 'some' }, /policy\.read: must be "all" or a list of rules/],
    [{ write: 'maybe' }, /policy\.write: must be "none", "all" or a list of rules/],
    [{ read: [{ table: '' }] }, /policy\.read\[0\]: "table" must be a table name/],
    [{ read: [{ table: 'notes', columns: [] }] }, /"columns" must be a non-empty list/],
    [{ read: [{ table: 'notes', where: 'a = :x' }] }, /unknown parameter :x/],
    [{ read: [{ table: 'notes', colums: ['a'] }] }, /policy\.read\[0\]: unknown field "colums"/],
    [{ reed: 'all' }, /policy: unknown field "reed"/],
  ];
  for (const [v, re] of bad) it(`refuses ${JSON.stringify(v)}`, () => assert.throws(() => policyFromJson(v), re));
});

describe('checkPolicy against a database', () => {
  const e = Engine.open(openDatabase(':memory:'));
  e.db.exec('CREATE TABLE notes (id INTEGER PRIMARY KEY NOT NULL, owner TEXT, title TEXT); CREATE TABLE plain (x)');
  e.asCrr('notes');
  const check = (read: string[], write: string[] = []) => checkPolicy({ read: readFromSpecs(read), write: writeFromSpecs(write) }, e.crrs(), e.db);
  it('accepts rules over CRR tables and their columns', () => {
    check(['notes(id,title) WHERE owner = :peer AND title IS NOT NULL'], ['notes(title) WHERE owner = :peer']);
    check(['notes WHERE owner IN (SELECT owner FROM notes WHERE title = :peer)']);
  });
  it('names what does not fit', () => {
    assert.throws(() => check(['plain']), /read rule "plain": table plain is not a CRR here/);
    assert.throws(() => check(['notes(body)']), /table notes has no column body/);
    assert.throws(() => check([], ['notes WHERE ownr = :peer']), /write rule "notes WHERE ownr = :peer": WHERE is not an expression over notes's columns: no such column: ownr/);
    assert.throws(() => check(['notes WHERE count(*) > 1']), /misuse of aggregate/);
    assert.throws(() => check(['notes WHERE 1) UNION SELECT (2']), /unbalanced/);
  });
});

describe('gate', () => {
  it('turns a policy into the engine’s filter and guard with :peer bound', () => {
    assert.equal(readFilterOf(DEFAULT_POLICY, ALICE), undefined);
    assert.deepEqual(writeGuardOf(DEFAULT_POLICY, ALICE), { rules: [], params: { peer: ALICE } }, 'write none: everything refused');
    assert.equal(writeGuardOf({ read: 'all', write: 'all' }, ALICE), undefined);
    assert.deepEqual(readFilterOf({ read: [{ table: 'notes', where: 'owner = :peer' }], write: 'none' }, ALICE), {
      rules: [{ table: 'notes', where: 'owner = :peer', label: 'notes WHERE owner = :peer' }],
      params: { peer: ALICE },
    });
    const gate = new Gate((p) => (p === ALICE ? { read: 'all', write: [{ table: 'notes' }] } : DEFAULT_POLICY));
    assert.equal(gate.mayWrite(ALICE), true);
    assert.equal(gate.mayWrite(BOB), false);
  });
});

describe('repository policies', () => {
  async function repo(): Promise<Repository> {
    const r = await Repository.init(tempDir());
    r.db.exec('CREATE TABLE notes (id INTEGER PRIMARY KEY NOT NULL, owner TEXT, title TEXT)');
    r.engine.asCrr('notes');
    return r;
  }

  it('reads a legacy allow list as the default policy and migrates it on write', async () => {
    const r = await repo();
    const path = r.layout.config;
    writeFileSync(path, JSON.stringify({ ...JSON.parse(readFileSync(path, 'utf8')), allow: [ALICE] }));
    r.reloadConfig();
    assert.deepEqual(r.policyFor(ALICE), DEFAULT_POLICY);
    assert.deepEqual(r.allowed(), [ALICE]);
    r.setPolicy(BOB, { read: [{ table: 'notes', where: 'owner = :peer' }], write: 'none' });
    const saved = JSON.parse(readFileSync(path, 'utf8'));
    assert.equal(saved.allow, undefined);
    assert.deepEqual(saved.peers, { [ALICE]: { read: 'all', write: 'none' }, [BOB]: { read: [{ table: 'notes', where: 'owner = :peer' }], write: 'none' } });
    r.deny(ALICE);
    assert.deepEqual(r.allowed(), [BOB]);
    r.close();
  });

  it('policyFor: own policy, default for remotes, nothing for strangers', async () => {
    const r = await repo();
    r.addRemote('origin', `/p2p/${ALICE}`);
    assert.deepEqual(r.policyFor(ALICE), DEFAULT_POLICY);
    assert.deepEqual(r.policyFor(BOB), { read: [], write: 'none' });
    r.setPolicy(ALICE, { read: 'all', write: [{ table: 'notes', columns: ['title'] }] });
    assert.deepEqual(r.policyFor(ALICE), { read: 'all', write: [{ table: 'notes', columns: ['title'] }] });
    r.close();
  });

  it('setPolicy checks against the database and changes nothing when it fails', async () => {
    const r = await repo();
    assert.throws(() => r.setPolicy(ALICE, { read: [{ table: 'nope' }], write: 'none' }), PolicyError);
    assert.throws(() => r.setPolicy('not-an-address', DEFAULT_POLICY), /not a database address/);
    assert.deepEqual(r.allowed(), []);
    r.close();
  });

  it('a damaged policy in config.json is a repository error naming it', async () => {
    const r = await repo();
    const path = r.layout.config;
    writeFileSync(path, JSON.stringify({ ...JSON.parse(readFileSync(path, 'utf8')), peers: { [ALICE]: { read: 'lots' } } }));
    assert.throws(() => r.reloadConfig(), (e: Error) => e.name === 'RepositoryError' && /peers\["12D3.*"\]\.read: must be "all"/.test(e.message));
    r.close();
  });
});
