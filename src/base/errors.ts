/**
 * The error base every layer extends: named classes (callers and tests match on `name`), a message
 * that names the cause, and the underlying error as `cause` where there is one. Also the errors of
 * the byte formats in this base (packed values and hex, varints and codecs).
 */

export class DdcpError extends Error {
  override name = 'DdcpError';
}

/** A packed value or key is malformed: truncated, unknown type tag, trailing bytes. */
export class PackError extends DdcpError {
  override name = 'PackError';
}

/** Bytes that are not a valid encoding (truncated, malformed, over a limit). */
export class CodecError extends DdcpError {
  override name = 'CodecError';
}
