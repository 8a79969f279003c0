/** A request path's segments as names: percent-decoded, or a clear 400 when the encoding is broken. */
import { HubRequestError } from './errors.ts';

/** `segment` percent-decoded; a {@link HubRequestError} (400 bad-request) if its percent-encoding is malformed. */
export function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    // (decodeURIComponent's URIError would otherwise surface as the hub's own 500)
    throw new HubRequestError(400, 'bad-request', `the request path has malformed percent-encoding: ${JSON.stringify(segment.slice(0, 100))}`);
  }
}
