/**
 * Admin calls from an app's trusted backend: HMAC-SHA256 with the app's secret over
 * `timestamp.email.api_key.body` (the scheme ddcp's predecessor used), sent in four headers. The hub
 * accepts a signature within {@link SIGNATURE_WINDOW_MS} of its timestamp, and once (replay.ts).
 * {@link signAdminRequest} is what a backend calls; the rest is the hub's side.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { AuthFailure } from './errors.ts';

/** The headers of a signed admin call (lower case, as Node gives them). */
export const ADMIN_HEADERS = {
  key: 'x-ddcp-key',
  timestamp: 'x-ddcp-timestamp',
  email: 'x-ddcp-email',
  signature: 'x-ddcp-signature',
} as const;

/** How far a signed call's timestamp may be from the hub's clock, either way (ms). */
export const SIGNATURE_WINDOW_MS = 5 * 60_000;

/** What a backend needs to sign an admin call. */
export interface AdminRequestInit {
  /** The app's API key (`ddcpk_…`). */
  apiKey: string;
  /** The app's secret, as `ddcp hub credentials create` printed it. */
  secret: string;
  /** The user the call acts for (a token minted for them, a device enrolled to them). */
  email: string;
  /** The exact request body sent (empty for none). */
  body?: string | Uint8Array;
  /** The time to sign at, ms since the epoch (default: now). */
  now?: number;
}

/**
 * The headers that authenticate one admin call to a ddcp hub: send them with exactly `body`. Each
 * call needs fresh headers (a signature is accepted once).
 *
 * @example
 * ```ts
 * import { signAdminRequest } from 'ddcp/hub';
 * const body = JSON.stringify({ ttl_seconds: 900 });
 * const res = await fetch('http://hub.example:8080/auth/token', {
 *   method: 'POST', body,
 *   headers: { 'content-type': 'application/json', ...signAdminRequest({ apiKey, secret, email: 'ann@example.com', body }) },
 * });
 * const { token } = await res.json(); // hand it to ann's client
 * ```
 */
export function signAdminRequest(init: AdminRequestInit): Record<string, string> {
  const timestamp = String(init.now !== undefined ? Math.trunc(init.now) : uniqueNow());
  return {
    [ADMIN_HEADERS.key]: init.apiKey,
    [ADMIN_HEADERS.timestamp]: timestamp,
    [ADMIN_HEADERS.email]: init.email,
    [ADMIN_HEADERS.signature]: adminSignature(init.secret, timestamp, init.email, init.apiKey, init.body ?? ''),
  };
}

let lastTimestamp = 0;

/**
 * The clock in ms, but never the same value twice in this process: two identical calls (same email
 * and body) in one millisecond would otherwise carry the same signature, and the hub accepts a
 * signature once. A few ms ahead of the clock at most, well inside the window.
 */
function uniqueNow(): number {
  lastTimestamp = Math.max(Date.now(), lastTimestamp + 1);
  return lastTimestamp;
}

/** HMAC-SHA256 (hex) of `timestamp.email.api_key.body` under `secret`. */
export function adminSignature(secret: string | Uint8Array, timestamp: string, email: string, apiKey: string, body: string | Uint8Array): string {
  return createHmac('sha256', secret).update(`${timestamp}.${email}.${apiKey}.`, 'utf8').update(body).digest('hex');
}

/** The signed parts of an admin call as received. */
export interface AdminClaims {
  key: string;
  timestamp: number;
  timestampText: string;
  email: string;
  signature: string;
}

/** Reads the admin headers; an {@link AuthFailure} naming what is missing or malformed. */
export function readAdminHeaders(headers: Record<string, string | string[] | undefined>): AdminClaims {
  const one = (name: string): string => {
    const v = headers[name];
    if (typeof v !== 'string' || v === '') throw new AuthFailure(`admin call without one ${name} header`);
    return v;
  };
  const key = one(ADMIN_HEADERS.key);
  const timestampText = one(ADMIN_HEADERS.timestamp);
  const email = one(ADMIN_HEADERS.email);
  const signature = one(ADMIN_HEADERS.signature);
  if (!/^\d{1,16}$/.test(timestampText)) throw new AuthFailure('admin call timestamp is not milliseconds since the epoch');
  if (!/^[0-9a-f]{64}$/.test(signature)) throw new AuthFailure('admin call signature is not 64 hex digits');
  if (email.length > 254 || /[\u0000-\u001f\u007f]/.test(email)) throw new AuthFailure('admin call email is malformed');
  return { key, timestamp: Number(timestampText), timestampText, email, signature };
}

/** Whether `timestamp` is within the window around `now`. */
export function inWindow(timestamp: number, now: number, windowMs: number = SIGNATURE_WINDOW_MS): boolean {
  return Math.abs(now - timestamp) <= windowMs;
}

/** Whether the claims carry the right signature of `body` under `secret` (constant time). */
export function signatureMatches(secret: Uint8Array, claims: AdminClaims, body: string | Uint8Array): boolean {
  const expected = Buffer.from(adminSignature(secret, claims.timestampText, claims.email, claims.key, body), 'hex');
  return timingSafeEqual(expected, Buffer.from(claims.signature, 'hex'));
}
