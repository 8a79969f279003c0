/**
 * Optional protocol features, negotiated in the handshake without a protocol version bump: the
 * client's hello lists those it reads, the server's welcome those of them it takes up, and the
 * server uses only those. A peer from before features existed lists none (its frames have no
 * `features` field) and is sent exactly what it always was; a feature name either side does not
 * know is ignored, so new features need no version bump either.
 */

/**
 * The server may send a follower's batch and the caught-up after it as one `batch-caught-up` frame
 * (messages.ts) — one WebSocket message per change of the database instead of two.
 */
export const FEATURE_BATCH_CAUGHT_UP = 'batch-caught-up';

/** Every feature this implementation reads and sends: what a client announces and a server takes up by default. */
export const KNOWN_FEATURES: readonly string[] = Object.freeze([FEATURE_BATCH_CAUGHT_UP]);

/** At most this many feature names are read from a handshake, each at most this long (untrusted input). */
export const MAX_FEATURES = 64;
export const MAX_FEATURE_LENGTH = 64;

/** What the server takes up: the features the client announced that the server supports, in the client's order. */
export function negotiate(announced: readonly string[] | undefined, supported: readonly string[]): string[] {
  if (!announced || announced.length === 0) return [];
  return announced.filter((f, i) => supported.includes(f) && announced.indexOf(f) === i);
}
