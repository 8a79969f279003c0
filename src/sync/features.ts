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

/**
 * The other direction: a pushing client may send its last batch before a caught-up and that caught-up
 * as one `batch-caught-up` frame, and the server answers it with one ack (after any refusals) instead
 * of an ack for the batch and one for the caught-up — one message each way per pushed commit. A name
 * of its own, not part of {@link FEATURE_BATCH_CAUGHT_UP}: a server that took that one up before this
 * existed refuses the frame from a client, so a client may send it only to a server that says it reads it.
 */
export const FEATURE_PUSH_BATCH_CAUGHT_UP = 'push-batch-caught-up';

/** Every feature this implementation reads and sends: what a client announces and a server takes up by default. */
export const KNOWN_FEATURES: readonly string[] = Object.freeze([FEATURE_BATCH_CAUGHT_UP, FEATURE_PUSH_BATCH_CAUGHT_UP]);

/** Whether `feature` is in force for a session: the client announced it (`announced`) and the server took it up (`taken`). */
export function inForce(feature: string, announced: readonly string[], taken: readonly string[] | undefined): boolean {
  return announced.includes(feature) && taken?.includes(feature) === true;
}

/** At most this many feature names are read from a handshake, each at most this long (untrusted input). */
export const MAX_FEATURES = 64;
export const MAX_FEATURE_LENGTH = 64;

/** What the server takes up: the features the client announced that the server supports, in the client's order. */
export function negotiate(announced: readonly string[] | undefined, supported: readonly string[]): string[] {
  if (!announced || announced.length === 0) return [];
  return announced.filter((f, i) => supported.includes(f) && announced.indexOf(f) === i);
}
