/**
 * The JSON document API's requests: parsing and checking one text message, and what each request
 * does to a replica's `Documents`. Pure of I/O: the socket (socket.ts) reads, waits and sends.
 *
 * A request is a JSON object `{"id": ID, "type": TYPE, …}`: top-level `id` is always the request's
 * id (a string or a number, echoed in the reply); a document's id is `doc` at the top level (and
 * `id` inside a document object in replies).
 */
import { DocumentError, DocumentExistsError, DocumentNotFoundError, InvalidDocumentError, NothingToUndoError, PatchError, type Document, type DocumentHistoryEntry, type Documents, type Json } from '../../docs/index.ts';
import { DocsApiError } from './errors.ts';

export type RequestId = string | number;

export type Request =
  | { id: RequestId; type: 'create_document'; collection: string; doc?: string; content: unknown }
  | { id: RequestId; type: 'update_document'; collection: string; doc: string; patch?: unknown; merge_patch?: unknown }
  | { id: RequestId; type: 'delete_document'; collection: string; doc: string }
  | { id: RequestId; type: 'get_document'; collection: string; doc: string; version?: number }
  | { id: RequestId; type: 'list_documents'; collection: string; where?: Record<string, Json> }
  | { id: RequestId; type: 'history'; collection: string; doc: string }
  | { id: RequestId; type: 'undo'; collection: string; doc: string }
  | { id: RequestId; type: 'subscribe'; collection?: string; doc?: string }
  | { id: RequestId; type: 'unsubscribe'; subscription: string }
  | { id: RequestId; type: 'refresh_token'; token: string };

export type RequestType = Request['type'];

/** Requests that change documents (refused up front for a user who may write nothing). */
export const WRITES: ReadonlySet<RequestType> = new Set(['create_document', 'update_document', 'delete_document', 'undo']);

const TYPES: ReadonlySet<string> = new Set<RequestType>([
  'create_document', 'update_document', 'delete_document', 'get_document', 'list_documents', 'history', 'undo', 'subscribe', 'unsubscribe', 'refresh_token',
]);

/** The longest request id echoed back (characters, or a safe integer). */
const MAX_ID_LENGTH = 256;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The request id of a parsed message, if it has a usable one (for replying to a bad request). */
export function requestIdOf(message: unknown): RequestId | null {
  if (!isObject(message)) return null;
  const id = message.id;
  if (typeof id === 'string' && id.length <= MAX_ID_LENGTH) return id;
  if (typeof id === 'number' && Number.isSafeInteger(id)) return id;
  return null;
}

/** Parses a text frame as JSON; throws {@link DocsApiError} `malformed`. */
export function parseMessage(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new DocsApiError('malformed', `the message is not JSON: ${(err as Error).message}`);
  }
}

/** Checks a parsed message as a request; throws {@link DocsApiError} `bad-request` naming the field. */
export function checkRequest(message: unknown): Request {
  if (!isObject(message)) throw new DocsApiError('bad-request', 'a request is a JSON object {"id": …, "type": …}');
  const id = requestIdOf(message);
  if (id === null) throw new DocsApiError('bad-request', `"id" must be a string (up to ${MAX_ID_LENGTH} characters) or an integer`);
  const type = message.type;
  if (typeof type !== 'string' || !TYPES.has(type)) throw new DocsApiError('bad-request', `unknown request type ${JSON.stringify(type)} (one of ${[...TYPES].join(', ')})`);
  const name = (field: string, optional = false): void => {
    const v = message[field];
    if (v === undefined && optional) return;
    if (typeof v !== 'string' || v.length === 0) throw new DocsApiError('bad-request', `${type}: "${field}" must be a non-empty string`);
  };
  switch (type as RequestType) {
    case 'create_document':
      name('collection');
      name('doc', true);
      if (!Object.hasOwn(message, 'content')) throw new DocsApiError('bad-request', 'create_document: "content" (a JSON object) is missing');
      break;
    case 'update_document': {
      name('collection');
      name('doc');
      const n = Number(message.patch !== undefined) + Number(message.merge_patch !== undefined);
      if (n !== 1) throw new DocsApiError('bad-request', 'update_document: give exactly one of "patch" (RFC 6902) and "merge_patch" (RFC 7396)');
      break;
    }
    case 'delete_document':
    case 'history':
    case 'undo':
      name('collection');
      name('doc');
      break;
    case 'get_document':
      name('collection');
      name('doc');
      if (message.version !== undefined && (!Number.isSafeInteger(message.version) || (message.version as number) < 1)) {
        throw new DocsApiError('bad-request', 'get_document: "version" must be a positive integer');
      }
      break;
    case 'list_documents':
      name('collection');
      if (message.where !== undefined && !isObject(message.where)) throw new DocsApiError('bad-request', 'list_documents: "where" must be an object of JSON Pointer → value');
      break;
    case 'subscribe':
      name('collection', true);
      name('doc', true);
      if (message.doc !== undefined && message.collection === undefined) throw new DocsApiError('bad-request', 'subscribe: "doc" needs "collection"');
      break;
    case 'unsubscribe':
      name('subscription');
      break;
    case 'refresh_token':
      name('token');
      break;
  }
  return message as Request;
}

/** A document as replies carry it. */
export const documentJson = (d: Document): Record<string, unknown> => ({ collection: d.collection, id: d.id, version: d.version, revision: d.revision, content: d.content });

/** A history entry as replies carry it (the change, not the document's state after it). */
export function historyJson(e: DocumentHistoryEntry): Record<string, unknown> {
  return {
    change: e.id,
    seq: e.seq,
    at: e.at,
    site: e.site,
    ...(e.author !== undefined ? { author: e.author } : {}),
    op: e.op,
    forward: e.forward,
    reverse: e.reverse,
    ...(e.undoes !== undefined ? { undoes: e.undoes } : {}),
  };
}

/** A document error as the API's error: its code, and the library's message. */
export function apiError(err: unknown): DocsApiError {
  if (err instanceof DocsApiError) return err;
  const e = err as Error;
  if (err instanceof PatchError) return new DocsApiError('invalid-patch', e.message, { cause: err });
  if (err instanceof InvalidDocumentError) return new DocsApiError('invalid-document', e.message, { cause: err });
  if (err instanceof DocumentNotFoundError) return new DocsApiError('not-found', e.message, { cause: err });
  if (err instanceof DocumentExistsError) return new DocsApiError('exists', e.message, { cause: err });
  if (err instanceof NothingToUndoError) return new DocsApiError('nothing-to-undo', e.message, { cause: err });
  if (err instanceof DocumentError) return new DocsApiError('bad-request', e.message, { cause: err });
  return new DocsApiError('internal', 'internal error', { cause: err });
}

/** Carries out a document request on `docs` (subscriptions and tokens are the socket's); the reply's fields. */
export function perform(docs: Documents, r: Exclude<Request, { type: 'subscribe' | 'unsubscribe' | 'refresh_token' }>): Record<string, unknown> {
  switch (r.type) {
    case 'create_document':
      return { document: documentJson(docs.create(r.collection, r.content, r.doc === undefined ? {} : { id: r.doc })) };
    case 'update_document':
      return { document: documentJson(r.patch !== undefined ? docs.update(r.collection, r.doc, r.patch) : docs.mergePatch(r.collection, r.doc, r.merge_patch)) };
    case 'delete_document':
      docs.delete(r.collection, r.doc);
      return {};
    case 'get_document': {
      const d = docs.get(r.collection, r.doc, r.version === undefined ? {} : { version: r.version });
      if (!d) throw new DocsApiError('not-found', r.version === undefined ? `no document ${r.doc} in collection ${r.collection}` : `document ${r.doc} in collection ${r.collection} has no version ${r.version} (or was deleted then)`);
      return { document: documentJson(d) };
    }
    case 'list_documents':
      return { documents: docs.list(r.collection, r.where === undefined ? {} : { where: r.where }).map(documentJson) };
    case 'history':
      return { history: docs.history(r.collection, r.doc).map(historyJson) };
    case 'undo': {
      const u = docs.undo(r.collection, r.doc);
      return {
        undone: u.undone.id,
        ...(u.change ? { change: u.change.id } : {}),
        skipped: u.skipped,
        ...(u.document ? { document: documentJson(u.document) } : {}),
      };
    }
  }
}
