import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renderTable } from './table.ts';

const t = (text: string) => ({ text, numeric: false });
const n = (text: string) => ({ text, numeric: true });

describe('renderTable (.mode table)', () => {
  it('draws a box with centred headers, left-aligned text and right-aligned numbers', () => {
    assert.deepEqual(renderTable(['id', 'body', 'n'], [[t('a'), t('hello'), n('7')], [t('bb'), t(''), n('1234')]]), [
      '+----+-------+------+',
      '| id | body  |  n   |',
      '+----+-------+------+',
      '| a  | hello |    7 |',
      '| bb |       | 1234 |',
      '+----+-------+------+',
    ]);
  });

  it('counts characters, not bytes, and escapes line breaks so rows stay one line', () => {
    assert.deepEqual(renderTable(['x'], [[t('é€')], [t('a\nb')]]), ['+------+', '|  x   |', '+------+', '| é€   |', '| a\\nb |', '+------+']);
  });
});
