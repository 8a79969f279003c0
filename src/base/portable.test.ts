/** portable.ts' SHA-256: the one-shot Node path gives the standard digests, of strings (UTF-8) and bytes alike. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { sha256, sha256Hex } from './portable.ts';

describe('sha256Hex', () => {
  it('gives the FIPS 180-2 test vectors, for a string and its bytes', () => {
    const abc = 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad';
    assert.equal(sha256Hex('abc'), abc);
    assert.equal(sha256Hex(new TextEncoder().encode('abc')), abc);
    assert.equal(sha256Hex(''), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    assert.equal(Buffer.from(sha256('abc')).toString('hex'), abc);
  });

  it('hashes a string as UTF-8 (non-ASCII, astral)', () => {
    assert.equal(sha256Hex('é😀'), Buffer.from(sha256(new TextEncoder().encode('é😀'))).toString('hex'));
    assert.equal(sha256Hex(new Uint8Array([1, 2, 3]).subarray(1)), Buffer.from(sha256(new Uint8Array([2, 3]))).toString('hex'));
  });
});
