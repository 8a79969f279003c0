/** Errors of the hub's JSON document API, each with the `code` its error reply carries. */
import { DdcpError } from '../../base/errors.ts';

/** The codes of error replies (`{id, ok: false, error: {code, message}}`), documented in the README. */
export type DocsErrorCode =
  | 'malformed'
  | 'bad-request'
  | 'invalid-patch'
  | 'invalid-document'
  | 'not-found'
  | 'exists'
  | 'nothing-to-undo'
  | 'forbidden'
  | 'refused'
  | 'busy'
  | 'unavailable'
  | 'internal';

/** A request the JSON document API could not carry out; nothing was changed. */
export class DocsApiError extends DdcpError {
  override name = 'DocsApiError';
  readonly code: DocsErrorCode;
  constructor(code: DocsErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}
