import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { excerpt, splitStatements } from './statements.ts';

describe('splitStatements', () => {
  it('splits at semicolons and keeps the unfinished rest', () => {
    assert.deepEqual(splitStatements('SELECT 1; SELECT 2;\nSELECT'), { statements: ['SELECT 1', 'SELECT 2'], rest: '\nSELECT', restHasSql: true });
  });

  it('ignores semicolons in strings, identifiers, comments and trigger bodies', () => {
    const sql = `INSERT INTO "a;b" VALUES ('x;''y', [c;d], \`e;f\`); -- c;
/* d; */ CREATE TRIGGER t AFTER INSERT ON x BEGIN INSERT INTO y VALUES (CASE WHEN 1 THEN 'a;' END); DELETE FROM z; END; SELECT 1;`;
    const { statements, restHasSql } = splitStatements(sql);
    assert.equal(statements.length, 3);
    assert.equal(statements[0], `INSERT INTO "a;b" VALUES ('x;''y', [c;d], \`e;f\`)`);
    assert.match(statements[1]!, /^-- c;\n\/\* d; \*\/ CREATE TRIGGER t .* END$/s);
    assert.equal(statements[2], 'SELECT 1');
    assert.equal(restHasSql, false);
  });

  it('drops empty and comment-only statements (SQLite refuses to prepare them)', () => {
    assert.deepEqual(splitStatements(';; -- just a comment;\n/* and; this */ ;SELECT 1;  -- trailing'), {
      statements: ['SELECT 1'],
      rest: '  -- trailing',
      restHasSql: false,
    });
  });

  it('treats an unclosed string as unfinished', () => {
    const r = splitStatements("SELECT 'abc;\n");
    assert.deepEqual(r.statements, []);
    assert.equal(r.restHasSql, true);
  });
});

describe('excerpt', () => {
  it('collapses whitespace and shortens long statements with an ellipsis', () => {
    assert.equal(excerpt('INSERT INTO t\n   VALUES (1)'), 'INSERT INTO t VALUES (1)');
    const long = excerpt(`INSERT INTO t VALUES ('${'x'.repeat(100)}')`);
    assert.equal([...long].length, 40);
    assert.ok(long.endsWith('…'));
  });
});
