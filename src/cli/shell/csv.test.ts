import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { csvField, csvRecord } from './csv.ts';

describe('csv (RFC 4180)', () => {
  it('leaves plain fields alone and quotes fields with commas, quotes, CR or LF', () => {
    assert.equal(csvField('plain text'), 'plain text');
    assert.equal(csvField(''), '');
    assert.equal(csvField('a,b'), '"a,b"');
    assert.equal(csvField('say "hi"'), '"say ""hi"""');
    assert.equal(csvField('two\nlines'), '"two\nlines"');
    assert.equal(csvField('cr\r'), '"cr\r"');
  });

  it('ends records with CRLF', () => {
    assert.equal(csvRecord(['1', 'a,"b"', '']), '1,"a,""b""",\r\n');
  });
});
