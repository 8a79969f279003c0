import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DocumentExistsError, DocumentNotFoundError, InvalidDocumentError, NothingToUndoError, PatchError, DocumentError } from '../../docs/index.ts';
import { apiError, checkRequest, parseMessage, requestIdOf } from './requests.ts';

const code = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    return (err as { code: string }).code;
  }
  return 'none';
};

describe('JSON document API requests', () => {
  it('takes well-formed requests of every type', () => {
    const ok = [
      { id: 1, type: 'create_document', collection: 'c', content: {} },
      { id: 'a', type: 'create_document', collection: 'c', doc: 'd', content: { x: 1 } },
      { id: 2, type: 'update_document', collection: 'c', doc: 'd', patch: [] },
      { id: 3, type: 'update_document', collection: 'c', doc: 'd', merge_patch: { a: null } },
      { id: 4, type: 'delete_document', collection: 'c', doc: 'd' },
      { id: 5, type: 'get_document', collection: 'c', doc: 'd', version: 2 },
      { id: 6, type: 'list_documents', collection: 'c', where: { '/a': 1 } },
      { id: 7, type: 'history', collection: 'c', doc: 'd' },
      { id: 8, type: 'undo', collection: 'c', doc: 'd' },
      { id: 9, type: 'subscribe' },
      { id: 10, type: 'subscribe', collection: 'c', doc: 'd' },
      { id: 11, type: 'unsubscribe', subscription: 's1' },
      { id: 12, type: 'refresh_token', token: 't' },
    ];
    for (const r of ok) assert.deepEqual(checkRequest(r), r);
  });

  it('refuses bad requests with bad-request, naming the field', () => {
    const bad: [unknown, RegExp][] = [
      [[1], /JSON object/],
      [{ type: 'get_document' }, /"id"/],
      [{ id: 1.5, type: 'get_document' }, /"id"/],
      [{ id: 'x'.repeat(300), type: 'get_document' }, /"id"/],
      [{ id: 1, type: 'drop_everything' }, /unknown request type/],
      [{ id: 1, type: 'create_document', collection: 'c' }, /"content"/],
      [{ id: 1, type: 'create_document', collection: '', content: {} }, /"collection"/],
      [{ id: 1, type: 'create_document', collection: 'c', doc: 7, content: {} }, /"doc"/],
      [{ id: 1, type: 'update_document', collection: 'c', doc: 'd' }, /exactly one/],
      [{ id: 1, type: 'update_document', collection: 'c', doc: 'd', patch: [], merge_patch: {} }, /exactly one/],
      [{ id: 1, type: 'get_document', collection: 'c', doc: 'd', version: 0 }, /"version"/],
      [{ id: 1, type: 'list_documents', collection: 'c', where: [] }, /"where"/],
      [{ id: 1, type: 'subscribe', doc: 'd' }, /needs "collection"/],
      [{ id: 1, type: 'unsubscribe' }, /"subscription"/],
    ];
    for (const [m, re] of bad) {
      assert.throws(() => checkRequest(m), (err: Error & { code: string }) => err.code === 'bad-request' && re.test(err.message), JSON.stringify(m));
    }
  });

  it('says malformed for what is not JSON, and finds a usable request id', () => {
    assert.equal(code(() => parseMessage('{nope')), 'malformed');
    assert.equal(requestIdOf({ id: 'r1' }), 'r1');
    assert.equal(requestIdOf({ id: 3 }), 3);
    assert.equal(requestIdOf({ id: { x: 1 } }), null);
    assert.equal(requestIdOf('text'), null);
  });

  it('maps document errors to their codes', () => {
    assert.equal(apiError(new PatchError('x', 0)).code, 'invalid-patch');
    assert.equal(apiError(new InvalidDocumentError('x')).code, 'invalid-document');
    assert.equal(apiError(new DocumentNotFoundError('c', 'd')).code, 'not-found');
    assert.equal(apiError(new DocumentExistsError('c', 'd')).code, 'exists');
    assert.equal(apiError(new NothingToUndoError('c', 'd')).code, 'nothing-to-undo');
    assert.equal(apiError(new DocumentError('x')).code, 'bad-request');
    const internal = apiError(new Error('disk on fire'));
    assert.equal(internal.code, 'internal');
    assert.equal(internal.message, 'internal error', 'internal details stay in the log');
  });
});
