/**
 * The hub's authentication endpoints over HTTP, for the server to mount (`handle` answers the
 * requests under `/auth/` and says whether it did):
 *
 * - `GET /auth/challenge` → `{ nonce, expires_at }`: a single-use nonce for a device to sign.
 * - `POST /auth/token` (admin call) `{ ttl_seconds? }` → `{ token, expires_at }`: a user token for
 *   the user the call names (`x-ddcp-email`).
 * - `POST /auth/devices` (admin call) `{ address }` → `{ address, user }`: enrolls a repository's
 *   identity to that user.
 * - `DELETE /auth/devices/<address>` (admin call) → 204, or 404 if it was not enrolled: ends its
 *   sessions.
 *
 * Errors have the hub's one JSON shape `{code, message}` (as the WebSocket upgrade and the /v1
 * routes): an authentication refusal is `401 {"code":"unauthenticated","message":"authentication
 * failed"}`, whatever the reason.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AdminPrincipal, HubAuthenticator } from './authenticator.ts';
import { DdcpError } from '../../base/errors.ts';
import { AuthError, CredentialError } from './errors.ts';

/** The largest admin call body read (bytes). */
export const MAX_ADMIN_BODY = 16 * 1024;

/** A request the endpoints cannot serve (status, code and message go to the caller as they are). */
class BadRequest extends DdcpError {
  override name = 'BadRequest';
  readonly status: number;
  readonly code: string;
  constructor(status: number, message: string, code = status === 404 ? 'not-found' : 'bad-request') {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Handles `req` if it is one of the auth endpoints; false (nothing written) if it is not. */
export async function handleAuthRequest(auth: HubAuthenticator, req: IncomingMessage, res: ServerResponse): Promise<boolean> {
  const url = new URL(req.url ?? '/', 'http://hub.invalid');
  if (!url.pathname.startsWith('/auth/')) return false;
  const remoteAddress = req.socket.remoteAddress ?? 'unknown';
  try {
    if (url.pathname === '/auth/challenge' && req.method === 'GET') {
      const { nonce, expiresAt } = await auth.issueChallenge(remoteAddress);
      return reply(res, 200, { nonce, expires_at: expiresAt });
    }
    if (url.pathname === '/auth/token' && req.method === 'POST') {
      const { admin, json } = await admitted(auth, req, remoteAddress);
      const ttl = json.ttl_seconds;
      if (ttl !== undefined && typeof ttl !== 'number') throw new BadRequest(400, 'ttl_seconds must be a number');
      const { token, expiresAt } = await auth.mintUserToken(admin, ttl === undefined ? undefined : ttl * 1000);
      return reply(res, 200, { token, expires_at: expiresAt, app: admin.app, user: admin.email });
    }
    if (url.pathname === '/auth/devices' && req.method === 'POST') {
      const { admin, json } = await admitted(auth, req, remoteAddress);
      if (typeof json.address !== 'string') throw new BadRequest(400, 'address (a repository address, 12D3KooW…) is required');
      await auth.enrollDevice(admin, json.address);
      return reply(res, 200, { address: json.address, user: admin.email });
    }
    const device = /^\/auth\/devices\/([^/]+)$/.exec(url.pathname);
    if (device && req.method === 'DELETE') {
      const { admin } = await admitted(auth, req, remoteAddress);
      const removed = await auth.removeDevice(admin, decodedSegment(device[1]!));
      if (!removed) throw new BadRequest(404, 'no such device enrolled to this app');
      res.writeHead(204).end();
      return true;
    }
    throw new BadRequest(404, `no ${req.method} ${url.pathname}`);
  } catch (err) {
    if (err instanceof AuthError) return reply(res, 401, { code: 'unauthenticated', message: err.message });
    if (err instanceof BadRequest) return reply(res, err.status, { code: err.code, message: err.message });
    if (err instanceof CredentialError) return reply(res, 400, { code: 'bad-request', message: err.message });
    reply(res, 500, { code: 'internal', message: 'internal error' });
    throw err;
  }
}

/** Reads the body and authenticates the admin call over it; the body as a JSON object. */
async function admitted(auth: HubAuthenticator, req: IncomingMessage, remoteAddress: string): Promise<{ admin: AdminPrincipal; json: Record<string, unknown> }> {
  const body = await readBody(req);
  const admin = await auth.authenticateAdmin({ headers: req.headers, remoteAddress, url: req.url ?? '/' }, body);
  if (body.length === 0) return { admin, json: {} };
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch {
    throw new BadRequest(400, 'the body is not JSON');
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new BadRequest(400, 'the body is not a JSON object');
  return { admin, json: json as Record<string, unknown> };
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_ADMIN_BODY) throw new BadRequest(413, `the body is over ${MAX_ADMIN_BODY} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** A path segment percent-decoded; a 400 if its encoding is malformed (not the hub's own 500). */
function decodedSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new BadRequest(400, `the request path has malformed percent-encoding: ${JSON.stringify(segment.slice(0, 100))}`);
  }
}

function reply(res: ServerResponse, status: number, body: unknown): true {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
  return true;
}
