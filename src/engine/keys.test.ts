/** Canonical keys: KeyCheck says "fits" exactly when SQLite would store a key value unchanged. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { KeyCheck, keyColumns } from './keys.ts';
import { affinityOf, type Affinity } from './affinity.ts';
import { Engine } from './engine.ts';
import { openDatabase, type SqlValue } from './sqlite.ts';
import { valuesKey } from './bulk.ts';

describe('affinityOf', () => {
  it("follows SQLite's rules for declared types", () => {
    const cases: [string, Affinity][] = [
      ['INTEGER', 'INTEGER'], ['BIGINT', 'INTEGER'], ['int8', 'INTEGER'], ['TEXT', 'TEXT'], ['VARCHAR(20)', 'TEXT'],
      ['CLOB', 'TEXT'], ['', 'BLOB'], ['BLOB', 'BLOB'], ['REAL', 'REAL'], ['DOUBLE PRECISION', 'REAL'], ['FLOAT', 'REAL'],
      ['NUMERIC', 'NUMERIC'], ['DECIMAL(10,5)', 'NUMERIC'], ['BOOLEAN', 'NUMERIC'], ['DATETIME', 'NUMERIC'], ['CHARINT', 'INTEGER'],
    ];
    for (const [t, a] of cases) assert.equal(affinityOf(t), a, t);
  });
});

describe('KeyCheck', () => {
  const AFFINITIES: Affinity[] = ['INTEGER', 'TEXT', 'BLOB', 'REAL', 'NUMERIC'];
  const value: fc.Arbitrary<SqlValue> = fc.oneof(
    fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
    fc.double({ noNaN: true }),
    fc.constantFrom(1, -0, 1.5, 1e20, 2 ** 63, Infinity),
    fc.string({ maxLength: 8 }),
    fc.constantFrom('1', ' 12 ', '1e3', '3.0e+5', '0x10', '12abc', '99999999999999999999', '-7', '.5', '1.', 'abc', ''),
    fc.uint8Array({ maxLength: 4 }),
  );

  it('accepts a value exactly when a column of that affinity stores it unchanged (checked against real tables)', () => {
    const db = openDatabase(':memory:');
    db.exec(`CREATE TABLE truth (i INTEGER, t TEXT, b BLOB, r REAL, n NUMERIC)`);
    const col: Record<Affinity, string> = { INTEGER: 'i', TEXT: 't', BLOB: 'b', REAL: 'r', NUMERIC: 'n' };
    const checks = new Map(AFFINITIES.map((a) => [a, new KeyCheck(db, [{ name: 'k', affinity: a, rowid: false }])]));
    fc.assert(
      fc.property(value, fc.constantFrom(...AFFINITIES), (v, a) => {
        const s = db.prepare(`INSERT INTO truth (${col[a]}) VALUES (?) RETURNING ${col[a]}`);
        s.setReadBigInts(true);
        s.setReturnArrays(true);
        const stored = (s.get(v) as unknown as [SqlValue])[0];
        db.exec('DELETE FROM truth');
        const same = valuesKey([stored]) === valuesKey([v]);
        assert.equal(checks.get(a)!.problem([v]) === undefined, same, `${a} ${String(v)}`);
      }),
      { numRuns: 400 },
    );
  });

  it('an INTEGER PRIMARY KEY takes integers only', () => {
    const check = new KeyCheck(openDatabase(':memory:'), [{ name: 'id', affinity: 'INTEGER', rowid: true }]);
    assert.equal(check.problem([5n]), undefined);
    for (const v of [1, 1.5, '1', new Uint8Array([1])]) assert.match(check.problem([v]) ?? '', /INTEGER PRIMARY KEY/);
  });

  it('keeps working after a savepoint that created its scratch table is rolled back', () => {
    const db = openDatabase(':memory:');
    const check = new KeyCheck(db, [{ name: 'k', affinity: 'INTEGER', rowid: false }]);
    db.exec('BEGIN; SAVEPOINT refused');
    assert.match(check.problem(['1']) ?? '', /would store TEXT 1 as INTEGER/);
    db.exec('ROLLBACK TO refused; RELEASE refused');
    assert.match(check.problem(['2']) ?? '', /would store TEXT 2 as INTEGER/);
    assert.equal(check.problem(['x']), undefined);
    db.exec('COMMIT');
  });
});

describe('keys of a STRICT table', () => {
  // ANY in a STRICT table has no affinity ('1', 1 and 1.5 are three keys); outside STRICT the same
  // declared type has NUMERIC affinity. The key map declared NUMERIC turned '1' into 1 (peers got an
  // INTEGER key for a TEXT one) and made '1' and 1 one key (the seal failed: UNIQUE constraint).
  const SCHEMA = 'CREATE TABLE t (id ANY PRIMARY KEY NOT NULL, v TEXT) STRICT';
  const open = (): Engine => {
    const e = Engine.open(openDatabase(':memory:'));
    e.db.exec(SCHEMA);
    e.asCrr('t');
    return e;
  };
  const rows = (e: Engine): unknown[] => e.db.prepare('SELECT typeof(id), id, v FROM t ORDER BY typeof(id), id').all().map((r) => ({ ...(r as object) }));

  it('an ANY key keeps its storage class: keys equal as numbers but of other classes are other rows, here and on a peer', () => {
    const a = open();
    const b = open();
    a.db.exec("INSERT INTO t VALUES ('1', 'text'), (1, 'integer'), (1.5, 'real'), (2.0, 'real two'), (X'01', 'blob')");
    const changes = [...a.changesSince(0)];
    b.applyChanges(changes);
    assert.deepEqual(rows(b), rows(a));
    assert.equal(rows(b).length, 5);
    // A key from a peer of any class fits (nothing for SQLite to convert).
    assert.equal(keyColumns(a.db, 't')[0]!.affinity, 'BLOB');
  });
});
