/**
 * Hub authentication (issue 10, requirement 3): admin calls signed with HMAC (wrong, expired,
 * replayed signatures refused), user tokens (wrong, expired, revoked refused; refresh in place),
 * enrolled devices (challenge–response: wrong key, reused nonce), rate limits — each refusal the
 * same generic error, its reason logged.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, beforeEach, describe, it } from 'node:test';
import type { AdminPrincipal } from '../../src/hub/auth/authenticator.ts';
import { deviceAuthorization } from '../../src/hub/auth/device.ts';
import { AuthError } from '../../src/hub/auth/errors.ts';
import { signAdminRequest } from '../../src/hub/auth/hmac.ts';
import { SqliteAuthStore } from '../../src/hub/auth/sqlite-store.ts';
import { createIdentity } from '../../src/repo/identity.ts';
import { addressOf } from '../../src/repo/address.ts';
import { authFixture, bearer, request, type AuthFixture } from './auth-fixture.ts';

const dir = mkdtempSync(join(tmpdir(), 'ddcp-auth-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Asserts `p` is refused with the one generic error and the log's last reason matches `reason`. */
async function refused(f: AuthFixture, p: Promise<unknown>, reason: RegExp): Promise<void> {
  await assert.rejects(p, (err: Error) => {
    assert.ok(err instanceof AuthError, `${err.name}: ${err.message}`);
    assert.equal(err.message, 'authentication failed');
    return true;
  });
  assert.match(f.log.at(-1)?.reason ?? '(nothing logged)', reason);
}

let f: AuthFixture;
let app: { key: string; secret: string };
let n = 0;

beforeEach(async () => {
  f = authFixture(new SqliteAuthStore(join(dir, `auth-${n++}.db`), { pollMs: 20 }));
  app = await f.auth.credentials.create('notes');
});

/** An admin call's request for `email` over `body`, signed at the fixture's time (or `at`). */
function adminCall(email: string, body = '', opts: { at?: number; secret?: string; key?: string; remoteAddress?: string } = {}) {
  const headers = signAdminRequest({ apiKey: opts.key ?? app.key, secret: opts.secret ?? app.secret, email, body, now: opts.at ?? f.clock.now });
  return request(headers, opts.remoteAddress ?? '198.51.100.7', '/auth/token');
}

async function admin(email = 'ann@example.com'): Promise<AdminPrincipal> {
  f.clock.now += 1; // a backend's two calls with the same email and body differ by their timestamp
  return await f.auth.authenticateAdmin(adminCall(email), '');
}

describe('admin calls (HMAC-SHA256 over timestamp.email.api_key.body)', () => {
  it('accepts a right signature and names the app, key and user', async () => {
    const body = '{"ttl_seconds":60}';
    assert.deepEqual(await f.auth.authenticateAdmin(adminCall('ann@example.com', body), body), { app: 'notes', key: app.key, email: 'ann@example.com' });
  });

  it('refuses a wrong secret, a changed body, another email and an unknown key', async () => {
    const body = '{"ttl_seconds":60}';
    await refused(f, f.auth.authenticateAdmin(adminCall('ann@example.com', body, { secret: 'not-the-secret' }), body), /signature does not match/);
    await refused(f, f.auth.authenticateAdmin(adminCall('ann@example.com', body), '{"ttl_seconds":86400}'), /signature does not match/);
    const call = adminCall('ann@example.com', body);
    call.headers['x-ddcp-email'] = 'boss@example.com';
    await refused(f, f.auth.authenticateAdmin(call, body), /signature does not match/);
    await refused(f, f.auth.authenticateAdmin(adminCall('ann@example.com', body, { key: 'ddcpk_' + 'a'.repeat(32) }), body), /unknown or revoked API key/);
    const partial = adminCall('ann@example.com');
    delete partial.headers['x-ddcp-signature'];
    await refused(f, f.auth.authenticateAdmin(partial, ''), /without one x-ddcp-signature/);
    assert.equal(f.log.length, 5);
    assert.ok(f.log.every((e) => e.method === 'hmac' && e.remoteAddress === '198.51.100.7'));
  });

  it('refuses a signature older or newer than 5 minutes, accepts one just inside', async () => {
    await refused(f, f.auth.authenticateAdmin(adminCall('ann@example.com', '', { at: f.clock.now - 5 * 60_000 - 1 }), ''), /outside the 5-minute window/);
    await refused(f, f.auth.authenticateAdmin(adminCall('ann@example.com', '', { at: f.clock.now + 5 * 60_000 + 1 }), ''), /outside the 5-minute window/);
    assert.equal((await f.auth.authenticateAdmin(adminCall('ann@example.com', '', { at: f.clock.now - 5 * 60_000 + 1 }), '')).app, 'notes');
  });

  it('accepts each signature once (replay refused, also by another hub on the same storage)', async () => {
    const call = adminCall('ann@example.com');
    await f.auth.authenticateAdmin(call, '');
    await refused(f, f.auth.authenticateAdmin(call, ''), /already used \(replay\)/);
    const other = authFixture(new SqliteAuthStore(join(dir, `auth-${n - 1}.db`)), { masterKey: f.masterKey, clock: f.clock });
    await refused(other, other.auth.authenticateAdmin(call, ''), /already used \(replay\)/);
    f.clock.now += 1; // a new signature (another timestamp) is fine
    assert.equal((await f.auth.authenticateAdmin(adminCall('ann@example.com'), '')).email, 'ann@example.com');
    await other.store.close();
  });

  it('refuses a revoked key', async () => {
    await f.auth.credentials.revoke(app.key);
    await refused(f, f.auth.authenticateAdmin(adminCall('ann@example.com'), ''), /unknown or revoked API key/);
  });
});

describe('user tokens', () => {
  it('lets a client in with a token its backend minted, by header or URL, until it expires', async () => {
    const { token, expiresAt } = await f.auth.mintUserToken(await admin(), 60_000);
    assert.equal(expiresAt, Math.floor((f.clock.now + 60_000) / 1000) * 1000, 'JWT time is in whole seconds, rounded down');
    assert.deepEqual(await f.auth.authenticate(bearer(token)), { app: 'notes', user: 'ann@example.com', method: 'token', expiresAt, credential: app.key });
    assert.equal((await f.auth.authenticate(request({}, '192.0.2.1', `/notes?access_token=${token}`))).user, 'ann@example.com');
    f.clock.now = expiresAt;
    await refused(f, f.auth.authenticate(bearer(token)), /"exp" claim timestamp check failed/);
    assert.equal(f.log.at(-1)?.method, 'token');
    assert.equal(f.log.at(-1)?.key, app.key, 'the key the token names, for the log and the per-key limit');
  });

  it('refuses a changed token, one signed by another hub\'s master key, garbage and no credentials', async () => {
    const { token } = await f.auth.mintUserToken(await admin());
    const [h, p, s] = token.split('.');
    const claims = JSON.parse(Buffer.from(p!, 'base64url').toString()) as Record<string, unknown>;
    const forged = `${h}.${Buffer.from(JSON.stringify({ ...claims, sub: 'boss@example.com' })).toString('base64url')}.${s}`;
    await refused(f, f.auth.authenticate(bearer(forged)), /signature verification failed/);
    const elsewhere = authFixture(new SqliteAuthStore(':memory:'), { clock: f.clock });
    const theirs = await elsewhere.auth.mintUserToken({ app: 'notes', key: app.key, email: 'ann@example.com' });
    await refused(f, f.auth.authenticate(bearer(theirs.token)), /signature verification failed/);
    await refused(f, f.auth.authenticate(bearer('not-a-token')), /not a JWT/);
    await refused(f, f.auth.authenticate(request({})), /no credentials/);
    await refused(f, f.auth.authenticate(request({ authorization: 'Basic YTpi' })), /unknown scheme/);
    await elsewhere.store.close();
  });

  it('refresh in place: the same user\'s new token extends the session; another user\'s is refused', async () => {
    const first = await f.auth.mintUserToken(await admin(), 60_000);
    const p = await f.auth.authenticate(bearer(first.token));
    f.clock.now += 50_000;
    const second = await f.auth.mintUserToken(await admin(), 60_000);
    const q = await f.auth.refresh(p, second.token);
    assert.equal(q.expiresAt, second.expiresAt);
    assert.ok(q.expiresAt! > p.expiresAt!);
    assert.equal(await f.auth.refresh(q, ''), q, 'an empty token re-validates');
    const bobs = await f.auth.mintUserToken(await admin('bob@example.com'), 60_000);
    await refused(f, f.auth.refresh(q, bobs.token), /refresh names another user/);
    f.clock.now = q.expiresAt!;
    assert.equal(await f.auth.valid(q), false, 'expired');
    await refused(f, f.auth.refresh(q, ''), /no longer valid/);
  });

  it('revoking the minting key fires onRevoked, makes open sessions invalid and refuses the token', async () => {
    const other = await f.auth.credentials.create('tasks');
    const { token } = await f.auth.mintUserToken(await admin());
    const p = await f.auth.authenticate(bearer(token));
    const tasks = await f.auth.mintUserToken({ app: 'tasks', key: other.key, email: 'ann@example.com' });
    const q = await f.auth.authenticate(bearer(tasks.token));
    const told: string[] = [];
    const fired = new Promise<void>((resolve) => f.auth.onRevoked((a) => (told.push(a), resolve())));
    assert.equal(await f.auth.valid(p), true);
    assert.deepEqual(await f.auth.credentials.revoke('notes'), [app.key]);
    await fired;
    assert.deepEqual(told, ['notes']);
    assert.equal(await f.auth.valid(p), false);
    assert.equal(await f.auth.valid(q), true, 'another app\'s sessions stay');
    await refused(f, f.auth.authenticate(bearer(token)), /revoked or unknown API key/);
  });

  it('a revocation made by another process (another connection on the data folder) reaches onRevoked', async () => {
    const cli = new SqliteAuthStore(join(dir, `auth-${n - 1}.db`));
    const fired = new Promise<string>((resolve) => f.auth.onRevoked(resolve));
    assert.ok(await cli.revokeCredential(app.key, f.clock.now));
    assert.equal(await fired, 'notes');
    await cli.close();
  });

  it('bounds the lifetime a backend may ask for', async () => {
    const a = await admin();
    await assert.rejects(f.auth.mintUserToken(a, 25 * 3_600_000), { name: 'CredentialError', message: /1 s to 24 h/ });
    await assert.rejects(f.auth.mintUserToken(a, 10), { name: 'CredentialError' });
  });
});

describe('enrolled devices (Ed25519 challenge–response)', () => {
  const device = (): { key: KeyObject; address: string } => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    return { key: privateKey, address: addressOf(Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url')) };
  };
  const HOST = 'hub.example:7420';
  const signIn = async (d: { key: KeyObject; address: string }, nonce?: string, host = HOST) => {
    nonce ??= (await f.auth.issueChallenge('192.0.2.9')).nonce;
    return request({ authorization: await deviceAuthorization(d.address, nonce, d.key, host), host: HOST }, '192.0.2.9');
  };

  it('lets an enrolled repository identity in (libp2p key of `ddcp init`), once per nonce', async () => {
    const identity = await createIdentity(join(dir, `identity-${n}.key`));
    await f.auth.enrollDevice(await admin(), identity.address);
    const { nonce } = await f.auth.issueChallenge('192.0.2.9');
    const req = request({ authorization: await deviceAuthorization(identity.address, nonce, identity.privateKey, HOST), host: HOST }, '192.0.2.9');
    assert.deepEqual(await f.auth.authenticate(req), { app: 'notes', user: 'ann@example.com', method: 'device', address: identity.address, host: HOST });
    await refused(f, f.auth.authenticate(req), /challenge unknown, used or expired/);
  });

  it('refuses a wrong key, an unenrolled device, an expired or made-up nonce', async () => {
    const ann = device();
    const eve = device();
    await f.auth.enrollDevice(await admin(), ann.address);
    await refused(f, f.auth.authenticate(await signIn({ address: ann.address, key: eve.key })), /signature does not match/);
    await refused(f, f.auth.authenticate(await signIn(eve)), /not enrolled/);
    await refused(f, f.auth.authenticate(await signIn(ann, undefined, 'other-hub.example:7420')), /signature does not match its address and this hub/);
    const { headers } = await signIn(ann);
    await refused(f, f.auth.authenticate(request({ authorization: headers.authorization }, '192.0.2.9')), /without a Host header/);
    const { nonce } = await f.auth.issueChallenge('192.0.2.9');
    f.clock.now += 60_001;
    await refused(f, f.auth.authenticate(await signIn(ann, nonce)), /challenge unknown, used or expired/);
    await refused(f, f.auth.authenticate(await signIn(ann, 'A'.repeat(43))), /challenge unknown, used or expired/);
    await refused(f, f.auth.authenticate(request({ authorization: 'DDCP-Device x y z' })), /malformed/);
    assert.equal(f.log.at(-2)?.key, ann.address);
  });

  it('removing an enrollment fires onRevoked and ends the device\'s sessions', async () => {
    const ann = device();
    await f.auth.enrollDevice(await admin(), ann.address);
    const p = await f.auth.authenticate(await signIn(ann));
    assert.equal(await f.auth.valid(p), true);
    const fired = new Promise<string>((resolve) => f.auth.onRevoked(resolve));
    assert.equal(await f.auth.removeDevice(await admin(), ann.address), true);
    assert.equal(await fired, 'notes');
    assert.equal(await f.auth.valid(p), false);
    await refused(f, f.auth.authenticate(await signIn(ann)), /not enrolled/);
  });

  it("enrolling a device to another user fires onRevoked, so its sessions as the former user end", async () => {
    const d = device();
    await f.auth.enrollDevice(await admin('ann@example.com'), d.address);
    const p = await f.auth.authenticate(await signIn(d));
    let fired = 0;
    f.auth.onRevoked(() => fired++);
    await f.auth.enrollDevice(await admin('ann@example.com'), d.address); // the same user again: nothing to end
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(fired, 0);
    await f.auth.enrollDevice(await admin('bob@example.com'), d.address);
    for (const deadline = Date.now() + 2_000; fired === 0 && Date.now() < deadline; ) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(fired, 1, 'the open sessions are checked again');
    assert.equal(await f.auth.valid(p), false);
    assert.equal((await f.auth.authenticate(await signIn(d))).user, 'bob@example.com');
  });

  it('refuses to enroll what is not an address, or a device of another app', async () => {
    await assert.rejects(f.auth.enrollDevice(await admin(), 'not-an-address'), { name: 'CredentialError', message: /not a repository address/ });
    const d = device();
    await f.auth.enrollDevice(await admin(), d.address);
    const tasks = await f.auth.credentials.create('tasks');
    await assert.rejects(f.auth.enrollDevice({ app: 'tasks', key: tasks.key, email: 'eve@example.com' }, d.address), { message: /enrolled to another app/ });
  });
});

describe('rate limits', () => {
  it('blocks an address after its failures, right credentials included, until the window ends; other addresses go on', async () => {
    f = authFixture(new SqliteAuthStore(':memory:'), { rateLimit: { maxFailures: 3, windowMs: 60_000 } });
    app = await f.auth.credentials.create('notes');
    const { token } = await f.auth.mintUserToken(await admin());
    for (let i = 0; i < 3; i++) await refused(f, f.auth.authenticate(bearer('junk', '203.0.113.5')), /not a JWT/);
    await refused(f, f.auth.authenticate(bearer(token, '203.0.113.5')), /rate limited/);
    assert.equal((await f.auth.authenticate(bearer(token, '203.0.113.6'))).user, 'ann@example.com');
    f.clock.now += 60_000;
    assert.equal((await f.auth.authenticate(bearer(token, '203.0.113.5'))).user, 'ann@example.com');
  });

  it('blocks a key after failures from many addresses: each guessing address gets one try, the app\'s own backend is not locked out', async () => {
    f = authFixture(new SqliteAuthStore(':memory:'), { rateLimit: { maxFailures: 3 } });
    app = await f.auth.credentials.create('notes');
    const guess = (i: number) => f.auth.authenticateAdmin(adminCall('ann@example.com', '', { secret: `guess${i}`, remoteAddress: `203.0.113.${i}` }), '');
    for (let i = 0; i < 3; i++) await refused(f, guess(i), /does not match/);
    await refused(f, guess(0), /rate limited/);
    assert.equal(f.log.at(-1)?.key, app.key);
    await refused(f, guess(50), /does not match/); // a new address: one try …
    f.clock.now += 1;
    await refused(f, f.auth.authenticateAdmin(adminCall('ann@example.com', '', { remoteAddress: '203.0.113.50' }), ''), /rate limited/); // … then even a right signature is refused
    f.clock.now += 1;
    const backend = await f.auth.authenticateAdmin(adminCall('ann@example.com', '', { remoteAddress: '198.51.100.7' }), '');
    assert.equal(backend.app, 'notes', 'an address that never failed goes on');
  });

  it('limits the challenges one address may ask for (each one is stored)', async () => {
    f = authFixture(new SqliteAuthStore(':memory:'), { challengeLimit: { maxFailures: 2 } });
    await f.auth.issueChallenge('203.0.113.1');
    await f.auth.issueChallenge('203.0.113.1');
    await refused(f, f.auth.issueChallenge('203.0.113.1'), /too many challenges/);
    await f.auth.issueChallenge('203.0.113.2');
  });
});

describe('the failure limiter', () => {
  it('remembers at most maxKeys keys, dropping the oldest windows first', async () => {
    const { FailureLimiter } = await import('../../src/hub/auth/ratelimit.ts');
    const limiter = new FailureLimiter({ maxFailures: 1, windowMs: 1000, maxKeys: 3 });
    for (const k of ['a', 'b', 'c', 'd']) limiter.fail([k], 0);
    assert.equal(limiter.blocked(['a'], 1), false, 'the oldest was dropped');
    assert.equal(limiter.blocked(['b'], 1) && limiter.blocked(['d'], 1), true);
    assert.equal(limiter.blocked(['d'], 1000), false, 'the window is over');
  });
});
