/**
 * Two hubs on one PostgreSQL (two authenticators, two stores, one schema, the same master key): a
 * token minted by one is accepted by the other, a signature accepted by one is a replay for the
 * other, and a revocation made on one reaches the other's onRevoked (LISTEN/NOTIFY) and ends the
 * sessions it admitted.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import postgres from 'postgres';
import { signAdminRequest } from '../../src/hub/auth/hmac.ts';
import { PostgresAuthStore } from '../../src/hub/auth/postgres-store.ts';
import { authFixture, bearer, request, type AuthFixture } from './auth-fixture.ts';
import { PG_URL, pgSchemaName } from './pg.ts';

const schema = pgSchemaName('hubs');
let one: AuthFixture;
let two: AuthFixture;

before(async () => {
  const masterKey = randomBytes(32);
  const clock = { now: Date.now() };
  one = authFixture(await PostgresAuthStore.open(PG_URL, { schema, max: 2 }), { masterKey, clock });
  two = authFixture(await PostgresAuthStore.open(PG_URL, { schema, max: 2 }), { masterKey, clock });
});
after(async () => {
  await one?.store.close();
  await two?.store.close();
  const sql = postgres(PG_URL, { max: 1, onnotice: () => {} });
  await sql.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await sql.end();
});

describe('two hubs on one PostgreSQL', () => {
  it('share tokens and the replay cache; a revocation on one ends the other\'s sessions', async () => {
    const app = await one.auth.credentials.create('notes');
    const call = request(signAdminRequest({ apiKey: app.key, secret: app.secret, email: 'ann@example.com', now: one.clock.now }));
    const admin = await one.auth.authenticateAdmin(call, '');
    await assert.rejects(two.auth.authenticateAdmin(call, ''), { name: 'AuthError', message: 'authentication failed' });
    assert.match(two.log.at(-1)!.reason, /replay/);

    const { token } = await one.auth.mintUserToken(admin);
    const session = await two.auth.authenticate(bearer(token));
    assert.equal(session.user, 'ann@example.com');

    const told = new Promise<string>((resolve) => two.auth.onRevoked(resolve));
    await one.auth.credentials.revoke(app.key);
    assert.equal(await told, 'notes');
    assert.equal(await two.auth.valid(session), false);
    await assert.rejects(two.auth.authenticate(bearer(token)), { name: 'AuthError' });
    assert.match(two.log.at(-1)!.reason, /revoked or unknown API key/);
  });
});
