/** Errors of the sync layer's formats. */
import { DdcpError } from '../engine/errors.ts';

/** Bytes that are not a valid encoding (truncated, malformed, over a limit). */
export class CodecError extends DdcpError {
  override name = 'CodecError';
}
