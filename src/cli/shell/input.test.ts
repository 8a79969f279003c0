import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InputBuffer } from './input.ts';

describe('InputBuffer', () => {
  it('returns statements as their ; arrives and keeps an unfinished one pending', () => {
    const b = new InputBuffer();
    assert.deepEqual(b.push('SELECT 1,'), []);
    assert.equal(b.pending, true);
    assert.deepEqual(b.push('2; SELECT'), [{ kind: 'sql', sql: 'SELECT 1,\n2' }]);
    assert.equal(b.pending, true);
    assert.deepEqual(b.push('3;'), [{ kind: 'sql', sql: 'SELECT\n3' }]);
    assert.equal(b.pending, false);
  });

  it('reads a dot command only when no statement is pending', () => {
    const b = new InputBuffer();
    assert.deepEqual(b.push('  .mode csv  '), [{ kind: 'dot', line: '.mode csv' }]);
    b.push('SELECT');
    assert.deepEqual(b.push('.5;'), [{ kind: 'sql', sql: 'SELECT\n.5' }]);
  });

  it('clear forgets the pending statement; finish returns it, unless it is only a comment', () => {
    const b = new InputBuffer();
    b.push('SELECT 1');
    b.clear();
    assert.equal(b.pending, false);
    assert.deepEqual(b.finish(), []);
    b.push('SELECT 2');
    assert.deepEqual(b.finish(), [{ kind: 'sql', sql: 'SELECT 2' }]);
    b.push('-- only a comment');
    assert.deepEqual(b.finish(), []);
  });
});
