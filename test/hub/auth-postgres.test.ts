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

describe('a hub whose revocation channel dropped', () => {
  it("checks every app's sessions again once it listens again (a revocation made while it was not listening was never heard)", async () => {
    await one.auth.credentials.create('tasks');
    const heard = new Set<string>();
    two.auth.onRevoked((app) => heard.add(app));
    const sql = postgres(PG_URL, { max: 1, onnotice: () => {} });
    try {
      // the listening connections go away (a network blip, a PostgreSQL restart), and come back
      const listen = `listen "ddcp_auth_revoked_${schema}"`;
      const before = (await sql<{ pid: number }[]>`SELECT pid FROM pg_stat_activity WHERE query = ${listen}`).map((r) => r.pid);
      assert.equal(before.length, 2, 'both stores listen');
      await sql`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid IN ${sql(before)}`;
      let back = false;
      for (const deadline = Date.now() + 5_000; !back && Date.now() < deadline; await new Promise((r) => setTimeout(r, 20))) {
        const now = (await sql<{ pid: number }[]>`SELECT pid FROM pg_stat_activity WHERE query = ${listen}`).map((r) => r.pid);
        back = now.length === 2 && now.every((p) => !before.includes(p));
      }
      assert.ok(back, 'both listen again');
      for (const deadline = Date.now() + 2_000; heard.size < 2 && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual([...heard].sort(), ['notes', 'tasks']);
    } finally {
      await sql.end();
    }
  });
});
