/**
 * A revocation that lands while a connection is being admitted — after its credentials were checked,
 * before its session is registered for revocations — still ends it: a sync session and a JSON
 * document connection alike.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import type { AuthRequest, Principal } from '../src/hub/auth/port.ts';
import type { HubServer } from '../src/hub/server.ts';
import { tempDir } from './support/cli.ts';
import { startHub, TokenAuthenticator } from './support/hub.ts';

/** An authenticator on which `during` runs once a check has passed, before the hub gets its answer. */
class RacingAuthenticator extends TokenAuthenticator {
  during: (() => void | Promise<void>) | undefined;
  override async authenticate(req: AuthRequest): Promise<Principal> {
    const p = await super.authenticate(req);
    const during = this.during;
    this.during = undefined;
    await during?.();
    return p;
  }
}

/** Resolves with the close code of `ws` (or 0 if it is still open after `ms`). */
async function closeCode(ws: WebSocket, ms = 3_000): Promise<number> {
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  return await Promise.race([closed, sleep(ms).then(() => 0)]);
}

describe('a revocation racing a connection being admitted', () => {
  const auth = new RacingAuthenticator();
  const dir = tempDir();
  let hub: HubServer;

  before(async () => {
    hub = await startHub(`${dir}/hub`, auth);
  });
  after(async () => {
    await hub.stop();
  });

  it('a sync session whose token is revoked meanwhile is ended', async () => {
    const token = auth.issue('mallory-1', 'mallory');
    auth.during = () => auth.revoke(token);
    const ws = new WebSocket(`${hub.url}/mallorys`, { headers: { authorization: `Bearer ${token}` } });
    ws.on('error', () => {});
    assert.equal(await closeCode(ws), 4401);
  });

  it('a JSON document connection whose token is revoked meanwhile is closed', async () => {
    const token = auth.issue('mallory-2', 'mallory');
    auth.during = () => auth.revoke(token);
    const ws = new WebSocket(`${hub.url}/v1/docs/mallorys-docs`, { headers: { authorization: `Bearer ${token}` } });
    ws.on('error', () => {});
    assert.equal(await closeCode(ws), 4401);
  });
});
