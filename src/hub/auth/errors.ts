/**
 * The errors of hub authentication. A refused client sees only {@link AuthError}'s one generic
 * message (no hint which part was wrong); the reason travels inside the hub as {@link AuthFailure},
 * which the authenticator logs and counts against the rate limit before it answers generically.
 */
import { DdcpError } from '../../base/errors.ts';

/** The one answer a refused client gets: never says which part (key, signature, time, token) was wrong. */
export class AuthError extends DdcpError {
  override name = 'AuthError';
  /** Stable code for the wire (HTTP 401, a WebSocket close reason). */
  readonly code = 'ERR_DDCP_AUTH';
  constructor() {
    super('authentication failed');
  }
}

/** Why an attempt was refused: for the hub's log only, never for the client. */
export class AuthFailure extends DdcpError {
  override name = 'AuthFailure';
}

/** Bad input to a credentials operation (an unknown key, a malformed setting): a clear one-line cause. */
export class CredentialError extends DdcpError {
  override name = 'CredentialError';
}

/** The hub's master key is missing, unreadable, malformed or readable by others. */
export class MasterKeyError extends DdcpError {
  override name = 'MasterKeyError';
}

