/** A hub authenticator over a fresh store with a clock the test moves and a log it reads. */
import { randomBytes } from 'node:crypto';
import { HubAuthenticator, type AuthEvent, type HubAuthOptions } from '../../src/hub/auth/authenticator.ts';
import type { AuthRequest } from '../../src/hub/auth/port.ts';
import type { AuthStore } from '../../src/hub/auth/store.ts';

export interface AuthFixture {
  auth: HubAuthenticator;
  store: AuthStore;
  masterKey: Buffer;
  log: AuthEvent[];
  clock: { now: number };
}

/** An authenticator on `store` (the master key is shared by fixtures given the same one). */
export function authFixture(store: AuthStore, options: Partial<HubAuthOptions> & { masterKey?: Buffer; clock?: { now: number } } = {}): AuthFixture {
  const log: AuthEvent[] = [];
  const clock = options.clock ?? { now: Date.UTC(2026, 0, 1) };
  const masterKey = options.masterKey ?? randomBytes(32);
  const auth = new HubAuthenticator({ ...options, store, masterKey, now: () => clock.now, log: (e) => log.push(e) });
  return { auth, store, masterKey, log, clock };
}

/** A request from `remoteAddress` with these headers. */
export const request = (headers: AuthRequest['headers'], remoteAddress = '192.0.2.1', url = '/notes'): AuthRequest => ({ headers, remoteAddress, url });

/** A bearer request. */
export const bearer = (token: string, remoteAddress?: string): AuthRequest => request({ authorization: `Bearer ${token}` }, remoteAddress);
