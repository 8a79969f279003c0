/**
 * The inspector's admin credential: a token is stored only as a hash, checked in constant time,
 * exchanged for a session; a wrong, malformed or revoked token is refused with one generic error
 * (the reason logged, never the token), failures are rate-limited per address, and a revoked
 * token's sessions end — in the embedded store and in PostgreSQL shared by two hub processes.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import postgres from 'postgres';
import { AdminAccess } from '../../src/hub/inspector/admins.ts';
import { PostgresAdminStore } from '../../src/hub/inspector/postgres-store.ts';
import { SqliteAdminStore } from '../../src/hub/inspector/sqlite-store.ts';
import type { AdminStore } from '../../src/hub/inspector/store.ts';
import { makeAdminToken, parseAdminToken, secretHash, secretMatches, sessionKey } from '../../src/hub/inspector/tokens.ts';
import { PG_URL, pgSchemaName } from './pg.ts';

const dir = mkdtempSync(join(tmpdir(), 'ddcp-inspector-admin-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function access(store: AdminStore, clock = { now: Date.now() }): { admins: AdminAccess; log: string[]; clock: { now: number } } {
  const log: string[] = [];
  return { admins: new AdminAccess({ store, log: (level, line) => log.push(`${level}: ${line}`), now: () => clock.now }), log, clock };
}

describe('admin tokens (pure)', () => {
  it('have their form, parse back, and only the hash of the secret is kept', () => {
    const t = makeAdminToken();
    assert.match(t.token, /^ddcpa_[0-9a-f]{16}_[0-9a-f]{64}$/);
    const parsed = parseAdminToken(t.token)!;
    assert.equal(parsed.id, t.id);
    assert.deepEqual(t.hash, secretHash(parsed.secret));
    assert.ok(!t.token.includes(Buffer.from(t.hash).toString('hex')));
    assert.equal(parseAdminToken('ddcpa_xyz'), undefined);
    assert.equal(parseAdminToken(`${t.token}0`), undefined);
  });

  it('match only their own secret; a missing record never matches', () => {
    const t = makeAdminToken();
    const { secret } = parseAdminToken(t.token)!;
    assert.equal(secretMatches(t.hash, secret), true);
    assert.equal(secretMatches(t.hash, secret.replace(/.$/, (c) => (c === '0' ? '1' : '0'))), false);
    assert.equal(secretMatches(undefined, secret), false);
    assert.equal(secretMatches(new Uint8Array(32), ''), false); // the all-zero hash compared against for a miss is no hash of anything
    assert.equal(sessionKey('short'), undefined);
  });
});

/** The same behaviour over each store. */
function suite(name: string, open: () => Promise<AdminStore>, close: (s: AdminStore) => Promise<void>): void {
  describe(`admin access over ${name}`, () => {
    it('stores only the hash; a login opens a session; logout ends it', async () => {
      const store = await open();
      try {
        const { admins, log } = access(store);
        const made = await admins.create('ops');
        const [record] = await store.tokens();
        assert.equal(record!.id, made.id);
        assert.ok(!Buffer.from(record!.hash).toString('hex').includes(made.token.slice(23)), 'the secret is not stored');
        assert.deepEqual(await admins.list(), [{ id: made.id, name: 'ops', createdAt: record!.createdAt }]);
        const { session } = await admins.login(made.token, '10.0.0.1');
        assert.equal(await admins.session(session), made.id);
        assert.equal(await admins.session(`${session.slice(0, -1)}${session.endsWith('A') ? 'B' : 'A'}`), undefined);
        await admins.logout(session);
        assert.equal(await admins.session(session), undefined);
        assert.ok(log.every((l) => !l.includes(made.token)), 'the token is never logged');
      } finally {
        await close(store);
      }
    });

    it('refuses wrong, malformed and revoked tokens generically; revoking ends sessions', async () => {
      const store = await open();
      try {
        const { admins, log } = access(store);
        const made = await admins.create('ops');
        const wrong = made.token.replace(/.$/, (c) => (c === '0' ? '1' : '0'));
        await assert.rejects(admins.login(wrong, '10.0.0.2'), { name: 'AdminLoginError', message: 'admin login failed' });
        assert.match(log.at(-1)!, /^warn: refused an inspector login from 10\.0\.0\.2 \[[0-9a-f]{16}\]: wrong secret/);
        await assert.rejects(admins.login('hunter2', '10.0.0.2'), { message: 'admin login failed' });
        assert.match(log.at(-1)!, /not an admin token/);
        await assert.rejects(admins.login(`ddcpa_${'0'.repeat(16)}_${'1'.repeat(64)}`, '10.0.0.2'), { message: 'admin login failed' });
        assert.match(log.at(-1)!, /unknown admin token/);
        const { session } = await admins.login(made.token, '10.0.0.3');
        await admins.revoke(made.id);
        assert.equal(await admins.session(session), undefined, 'the session ended with its token');
        await assert.rejects(admins.login(made.token, '10.0.0.3'), { message: 'admin login failed' });
        assert.match(log.at(-1)!, /revoked admin token/);
        await assert.rejects(admins.revoke(made.id), /already revoked/);
        await assert.rejects(admins.revoke('nope'), /not an admin token id/);
        await assert.rejects(admins.create('bad name'), /admin token name "bad name" is not valid/);
      } finally {
        await close(store);
      }
    });

    it('rate-limits failed logins per address; the right token from another address still works', async () => {
      const store = await open();
      try {
        const { admins, log, clock } = access(store);
        const made = await admins.create('ops');
        const wrong = made.token.replace(/.$/, (c) => (c === '0' ? '1' : '0'));
        for (let i = 0; i < 10; i++) await assert.rejects(admins.login(wrong, '10.9.9.9'));
        await assert.rejects(admins.login(made.token, '10.9.9.9'), { message: 'admin login failed' });
        assert.match(log.at(-1)!, /rate limited/);
        await admins.login(made.token, '10.1.1.1'); // the operator elsewhere is not locked out
        clock.now += 60_001;
        await admins.login(made.token, '10.9.9.9'); // the window is over
      } finally {
        await close(store);
      }
    });

    it('sessions expire', async () => {
      const store = await open();
      try {
        const { admins, clock } = access(store);
        const made = await admins.create('ops');
        const { session, expiresAt } = await admins.login(made.token, '10.0.0.4');
        clock.now = expiresAt;
        assert.equal(await admins.session(session), undefined);
      } finally {
        await close(store);
      }
    });
  });
}

let n = 0;
suite('the embedded store (auth.db)', async () => new SqliteAdminStore(join(dir, `auth-${n++}.db`)), (s) => s.close());

const schemas: string[] = [];
suite('PostgreSQL', async () => {
  const schema = pgSchemaName('admin');
  schemas.push(schema);
  return await PostgresAdminStore.open(PG_URL, { schema, max: 1 });
}, (s) => s.close());

describe('admin access over PostgreSQL, two hub processes', () => {
  it('a token made by one is accepted by the other, and a revocation on one ends sessions on both', async () => {
    const schema = pgSchemaName('admin2');
    schemas.push(schema);
    const one = await PostgresAdminStore.open(PG_URL, { schema, max: 1 });
    const two = await PostgresAdminStore.open(PG_URL, { schema, max: 1 });
    try {
      const a = access(one).admins;
      const b = access(two).admins;
      const made = await a.create('ops');
      const { session } = await b.login(made.token, '10.0.0.5');
      assert.equal(await a.session(session), made.id);
      await a.revoke(made.id);
      assert.equal(await b.session(session), undefined);
    } finally {
      await one.close();
      await two.close();
    }
  });
});

after(async () => {
  const sql = postgres(PG_URL, { max: 1, onnotice: () => {} });
  for (const s of schemas) await sql.unsafe(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
  await sql.end();
});
