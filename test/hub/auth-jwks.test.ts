/**
 * JWTs from an app's own identity provider: verified against its JWKS (served here by a local HTTP
 * server on 127.0.0.1) or a configured PEM public key; wrong issuer, audience, key or an expired
 * token refused with the generic error, the reason logged.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { SqliteAuthStore } from '../../src/hub/auth/sqlite-store.ts';
import { authFixture, bearer, type AuthFixture } from './auth-fixture.ts';

const ISSUER = 'https://id.notes.example';

let server: Server;
let jwksUrl: string;
let signing: { privateKey: CryptoKey; publicKey: CryptoKey };
let stranger: { privateKey: CryptoKey; publicKey: CryptoKey };
let fetches = 0;

before(async () => {
  signing = await generateKeyPair('ES256');
  stranger = await generateKeyPair('ES256');
  const jwks = { keys: [{ ...(await exportJWK(signing.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }] };
  server = createServer((req, res) => {
    fetches++;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(jwks));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;
});
after(() => new Promise<void>((resolve) => server.close(() => resolve())));

async function jwt(f: AuthFixture, claims: { sub?: string; iss?: string; aud?: string; ttl?: number; key?: CryptoKey; kid?: string } = {}): Promise<string> {
  const now = Math.floor(f.clock.now / 1000);
  const t = new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: claims.kid ?? 'k1' }).setIssuer(claims.iss ?? ISSUER).setAudience(claims.aud ?? 'notes-hub').setIssuedAt(now).setExpirationTime(now + (claims.ttl ?? 300));
  if (claims.sub !== '') t.setSubject(claims.sub ?? 'ann@example.com');
  return await t.sign(claims.key ?? signing.privateKey);
}

async function refused(f: AuthFixture, p: Promise<unknown>, reason: RegExp): Promise<void> {
  await assert.rejects(p, { name: 'AuthError', message: 'authentication failed' });
  assert.match(f.log.at(-1)?.reason ?? '', reason);
  assert.equal(f.log.at(-1)?.method, 'jwt');
}

describe('identity-provider JWTs (JWKS)', () => {
  let f: AuthFixture;
  before(async () => {
    f = authFixture(new SqliteAuthStore(':memory:'));
    f.clock.now = Date.now(); // jose's JWKS cache runs on the real clock
    await f.auth.credentials.create('notes', { idp: { issuer: ISSUER, audience: 'notes-hub', jwksUrl } });
  });

  it('lets a user in with the provider\'s token: the subject is the user, the expiry ends the session', async () => {
    const token = await jwt(f);
    const p = await f.auth.authenticate(bearer(token));
    assert.deepEqual(p, { app: 'notes', user: 'ann@example.com', method: 'jwt', expiresAt: (Math.floor(f.clock.now / 1000) + 300) * 1000, issuer: ISSUER });
    assert.ok(fetches >= 1, 'the key set came from the JWKS URL');
    assert.equal(await f.auth.valid(p), true);
  });

  it('refuses another key, audience or issuer, an expired token and one without a subject', async () => {
    await refused(f, f.auth.authenticate(bearer(await jwt(f, { key: stranger.privateKey }))), /signature verification failed/);
    await refused(f, f.auth.authenticate(bearer(await jwt(f, { aud: 'another-service' }))), /unexpected "aud" claim value/);
    await refused(f, f.auth.authenticate(bearer(await jwt(f, { ttl: -1 }))), /"exp" claim timestamp check failed/);
    await refused(f, f.auth.authenticate(bearer(await jwt(f, { sub: '' }))), /missing required "sub" claim/);
    await refused(f, f.auth.authenticate(bearer(await jwt(f, { iss: 'https://evil.example' }))), /which no active app trusts/);
  });

  it('a refresh with a later token extends the session; revoking the app ends it', async () => {
    const p = await f.auth.authenticate(bearer(await jwt(f, { ttl: 60 })));
    const q = await f.auth.refresh(p, await jwt(f, { ttl: 600 }));
    assert.ok(q.expiresAt! > p.expiresAt!);
    await f.auth.credentials.revoke('notes');
    assert.equal(await f.auth.valid(q), false);
    await refused(f, f.auth.authenticate(bearer(await jwt(f))), /which no active app trusts/);
  });
});

describe('identity-provider JWTs (a configured PEM public key)', () => {
  it('verifies against the key, refuses another', async () => {
    const f = authFixture(new SqliteAuthStore(':memory:'));
    await f.auth.credentials.create('notes', { idp: { issuer: ISSUER, publicKey: await exportSPKI(signing.publicKey) } });
    assert.equal((await f.auth.authenticate(bearer(await jwt(f, { aud: 'anything' })))).user, 'ann@example.com', 'no audience configured: any');
    await refused(f, f.auth.authenticate(bearer(await jwt(f, { key: stranger.privateKey }))), /signature verification failed/);
  });

  it('refuses a setting that cannot work, with the cause', async () => {
    const f = authFixture(new SqliteAuthStore(':memory:'));
    await assert.rejects(f.auth.credentials.create('notes', { idp: { issuer: ISSUER, publicKey: 'not a key' } }), { name: 'CredentialError', message: /not a PEM public key/ });
    await assert.rejects(f.auth.credentials.create('notes', { idp: { issuer: ISSUER } }), { message: /exactly one of a JWKS URL and a public key/ });
    await assert.rejects(f.auth.credentials.create('notes', { idp: { issuer: ISSUER, jwksUrl: 'ftp://x/jwks' } }), { message: /must be http\(s\)/ });
    // keys fetched in the clear could be anyone's: plain http only on this machine's loopback
    await assert.rejects(f.auth.credentials.create('notes', { idp: { issuer: ISSUER, jwksUrl: 'http://id.notes.example/jwks.json' } }), { name: 'CredentialError', message: /must be https .*loopback/ });
    for (const local of ['http://127.0.0.1:9/jwks', 'http://localhost:9/jwks', 'http://[::1]:9/jwks']) await f.auth.credentials.create('notes', { idp: { issuer: ISSUER, jwksUrl: local } });
  });
});

describe('identity-provider JWTs: one issuer trusted by several keys or apps', () => {
  it('each app trusting the issuer under its own audience gets its own users; an app rotating its provider key accepts both', async () => {
    const f = authFixture(new SqliteAuthStore(':memory:'));
    const pem = await exportSPKI(signing.publicKey);
    await f.auth.credentials.create('notes', { idp: { issuer: ISSUER, audience: 'notes-hub', publicKey: pem } });
    await f.auth.credentials.create('tasks', { idp: { issuer: ISSUER, audience: 'tasks-hub', publicKey: pem } });
    assert.equal((await f.auth.authenticate(bearer(await jwt(f, { aud: 'notes-hub' })))).app, 'notes');
    assert.equal((await f.auth.authenticate(bearer(await jwt(f, { aud: 'tasks-hub' })))).app, 'tasks');
    // notes moves to a new provider key: a second credential with it, the old one kept while tokens of both are about
    await f.auth.credentials.create('notes', { idp: { issuer: ISSUER, audience: 'notes-hub', publicKey: await exportSPKI(stranger.publicKey) } });
    assert.equal((await f.auth.authenticate(bearer(await jwt(f, { aud: 'notes-hub', key: stranger.privateKey })))).app, 'notes');
    assert.equal((await f.auth.authenticate(bearer(await jwt(f, { aud: 'notes-hub' })))).app, 'notes');
  });

  it('refuses a token that is valid for two apps rather than pick one; an app naming the audience wins over one taking any', async () => {
    const f = authFixture(new SqliteAuthStore(':memory:'));
    const pem = await exportSPKI(signing.publicKey);
    await f.auth.credentials.create('notes', { idp: { issuer: ISSUER, publicKey: pem } });
    await f.auth.credentials.create('tasks', { idp: { issuer: ISSUER, publicKey: pem } });
    await refused(f, f.auth.authenticate(bearer(await jwt(f, { aud: 'tasks-hub' }))), /valid for several apps \(notes, tasks\)/);
    await f.auth.credentials.create('tasks', { idp: { issuer: ISSUER, audience: 'tasks-hub', publicKey: pem } });
    assert.equal((await f.auth.authenticate(bearer(await jwt(f, { aud: 'tasks-hub' })))).app, 'tasks');
  });

  it("revoking the key that trusts the provider ends its users' sessions, though the app keeps another key", async () => {
    const f = authFixture(new SqliteAuthStore(':memory:'));
    const trusting = await f.auth.credentials.create('notes', { idp: { issuer: ISSUER, publicKey: await exportSPKI(signing.publicKey) } });
    await f.auth.credentials.create('notes'); // the backend's key for admin calls
    const p = await f.auth.authenticate(bearer(await jwt(f)));
    assert.equal(await f.auth.valid(p), true);
    await f.auth.credentials.revoke(trusting.key);
    assert.equal(await f.auth.valid(p), false, 'no active key of the app trusts the issuer any more');
  });
});
