/** The inspector's errors: bad input to an admin-token command, and a refused login or session. */
import { DdcpError } from '../../base/errors.ts';

/** Bad input to an admin-token operation (an unknown id, a malformed name): a clear one-line cause. */
export class AdminTokenError extends DdcpError {
  override name = 'AdminTokenError';
}

/**
 * A refused login: the operator sees one generic message (no hint which part was wrong); `reason`
 * is for the hub's log only.
 */
export class AdminLoginError extends DdcpError {
  override name = 'AdminLoginError';
  readonly reason: string;
  constructor(reason: string) {
    super('admin login failed');
    this.reason = reason;
  }
}
