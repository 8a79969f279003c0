import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SqlValue } from '../../index.ts';
import type { OutputSettings } from './modes.ts';
import { createPrinter } from './printer.ts';

function print(settings: OutputSettings, rows: SqlValue[][], columns = ['id', 'v']): string {
  let text = '';
  const p = createPrinter(columns, settings, (t) => (text += t));
  for (const r of rows) p.row(r);
  p.end();
  return text;
}

const rows: SqlValue[][] = [
  [1n, 'a,b'],
  [2n, null],
];

describe('createPrinter', () => {
  it('list: values joined by |, headers only when asked and only with rows', () => {
    assert.equal(print({ mode: 'list', headers: false }, rows), '1|a,b\n2|\n');
    assert.equal(print({ mode: 'list', headers: true }, rows), 'id|v\n1|a,b\n2|\n');
    assert.equal(print({ mode: 'list', headers: true }, []), '');
  });

  it('csv: RFC 4180 records', () => {
    assert.equal(print({ mode: 'csv', headers: true }, rows), 'id,v\r\n1,"a,b"\r\n2,\r\n');
  });

  it('json: one array like sqlite3 -json, nothing for no rows; jsonl: one object per line', () => {
    const json = print({ mode: 'json', headers: false }, rows);
    assert.equal(json, '[{"id":1,"v":"a,b"},\n{"id":2,"v":null}]\n');
    assert.deepEqual(JSON.parse(json), [
      { id: 1, v: 'a,b' },
      { id: 2, v: null },
    ]);
    assert.equal(print({ mode: 'json', headers: false }, []), '');
    assert.equal(print({ mode: 'jsonl', headers: false }, rows), '{"id":1,"v":"a,b"}\n{"id":2,"v":null}\n');
  });

  it('table: a box drawn after the last row', () => {
    assert.equal(print({ mode: 'table', headers: false }, rows), ['+----+-----+', '| id |  v  |', '+----+-----+', '|  1 | a,b |', '|  2 |     |', '+----+-----+', ''].join('\n'));
  });
});
