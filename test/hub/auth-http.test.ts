/**
 * The auth endpoints over real HTTP on 127.0.0.1, driven as an app backend would: signAdminRequest
 * and fetch. Refusals are one generic 401 body, whatever went wrong.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { deviceAuthorization, fetchDeviceAuthorization } from '../../src/hub/auth/device.ts';
import { signAdminRequest } from '../../src/hub/auth/hmac.ts';
import { handleAuthRequest } from '../../src/hub/auth/http.ts';
import { SqliteAuthStore } from '../../src/hub/auth/sqlite-store.ts';
import { addressOf } from '../../src/repo/address.ts';
import { authFixture, bearer, request, type AuthFixture } from './auth-fixture.ts';

let f: AuthFixture;
let server: Server;
let base: string;
let app: { key: string; secret: string };

before(async () => {
  f = authFixture(new SqliteAuthStore(':memory:'));
  f.clock.now = Date.now(); // the backend signs with the real clock
  app = await f.auth.credentials.create('notes');
  server = createServer((req, res) => {
    void handleAuthRequest(f.auth, req, res).then((handled) => handled || res.writeHead(404).end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await f.store.close();
});

/** A signed admin call as a backend makes it. */
async function call(method: string, path: string, email: string, payload?: unknown, sign = signAdminRequest): Promise<Response> {
  const body = payload === undefined ? '' : JSON.stringify(payload);
  const headers = { 'content-type': 'application/json', ...sign({ apiKey: app.key, secret: app.secret, email, body }) };
  return await fetch(base + path, { method, headers, ...(body && { body }) });
}

describe('auth endpoints', () => {
  it('POST /auth/token mints a user token the hub then accepts', async () => {
    const res = await call('POST', '/auth/token', 'ann@example.com', { ttl_seconds: 120 });
    assert.equal(res.status, 200);
    const { token, expires_at, user } = (await res.json()) as { token: string; expires_at: number; user: string };
    assert.equal(user, 'ann@example.com');
    assert.ok(expires_at > Date.now() && expires_at <= Date.now() + 120_000);
    assert.equal((await f.auth.authenticate(bearer(token))).user, 'ann@example.com');
  });

  it('answers a replayed or badly signed call with the same generic 401', async () => {
    const body = JSON.stringify({ ttl_seconds: 60 });
    const headers = { 'content-type': 'application/json', ...signAdminRequest({ apiKey: app.key, secret: app.secret, email: 'ann@example.com', body }) };
    assert.equal((await fetch(`${base}/auth/token`, { method: 'POST', headers, body })).status, 200);
    const replay = await fetch(`${base}/auth/token`, { method: 'POST', headers, body });
    const wrong = await call('POST', '/auth/token', 'ann@example.com', {}, (init) => signAdminRequest({ ...init, secret: 'guessed' }));
    for (const res of [replay, wrong]) {
      assert.equal(res.status, 401);
      assert.deepEqual(await res.json(), { code: 'unauthenticated', message: 'authentication failed' });
    }
    assert.match(f.log.at(-2)!.reason, /replay/);
    assert.match(f.log.at(-1)!.reason, /does not match/);
  });

  it('enrolls a device, which then signs a challenge from GET /auth/challenge; DELETE ends it', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const address = addressOf(Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url'));
    const enrolled = await call('POST', '/auth/devices', 'bob@example.com', { address });
    assert.deepEqual(await enrolled.json(), { address, user: 'bob@example.com' });
    const { nonce } = (await (await fetch(`${base}/auth/challenge`)).json()) as { nonce: string };
    const host = new URL(base).host;
    const p = await f.auth.authenticate(request({ authorization: await deviceAuthorization(address, nonce, privateKey, host), host }));
    assert.equal(p.user, 'bob@example.com');
    const again = await fetchDeviceAuthorization(base.replace('http:', 'ws:') + '/notes', address, privateKey); // what a client calls
    assert.equal((await f.auth.authenticate(request({ authorization: again, host }))).user, 'bob@example.com');
    assert.equal((await call('DELETE', `/auth/devices/${address}`, 'bob@example.com')).status, 204);
    assert.equal(await f.auth.valid(p), false);
    assert.equal((await call('DELETE', `/auth/devices/${address}`, 'bob@example.com')).status, 404);
  });

  it('says what is wrong with a well-signed call\'s request, and leaves other paths alone', async () => {
    const bad = await call('POST', '/auth/devices', 'bob@example.com', { address: 'nope' });
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { message: string }).message, /not a repository address/);
    assert.equal((await call('POST', '/auth/token', 'ann@example.com', { ttl_seconds: 'long' })).status, 400);
    const broken = await call('DELETE', '/auth/devices/%E0%A4%A', 'bob@example.com');
    assert.equal(broken.status, 400);
    assert.match(((await broken.json()) as { message: string }).message, /malformed percent-encoding/);
    assert.equal((await fetch(`${base}/auth/token`, { method: 'POST', body: 'x'.repeat(20_000) })).status, 413);
    assert.equal((await fetch(`${base}/healthz`)).status, 404, 'not an auth path: the server\'s');
  });
});
