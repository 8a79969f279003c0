/** The hub server's errors. */
import { DdcpError } from '../base/errors.ts';
import type { RefusalReason } from './metrics.ts';

/** A hub refused a request: the HTTP status, a code (the metrics' reason) and a message for the client. */
export class HubRequestError extends DdcpError {
  override name = 'HubRequestError';
  readonly status: number;
  readonly code: RefusalReason;
  constructor(status: number, code: RefusalReason, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}
