/**
 * `ddcp hub credentials create|list|revoke` on a data folder and on PostgreSQL: the secret printed
 * once works for admin calls and appears in no listing; a revoke run from the command line reaches a
 * running hub's onRevoked (another writer of the same storage). The commands run in-process
 * (test/support/cli.ts: `main` in a worker thread with its own modules and its own SQLite or
 * PostgreSQL connections, so the revoke reaches the hub only through the storage, as another
 * process's would); test/cli-process.test.ts covers the executable itself.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import postgres from 'postgres';
import { signAdminRequest } from '../../src/hub/auth/hmac.ts';
import { MASTER_KEY_ENV } from '../../src/hub/auth/masterkey.ts';
import { openHubAuth } from '../../src/hub/auth/open.ts';
import { ddcp, ok, tempDir } from '../support/cli.ts';
import { ddcpEnv } from '../support/cli-env.ts';
import { request } from './auth-fixture.ts';
import { PG_URL, pgSchemaName } from './pg.ts';

const root = tempDir('ddcp-hub-cli-');

describe('ddcp hub credentials (data folder)', () => {
  const data = join(root, 'hub');

  it('creates a key and secret that sign admin calls, lists without secrets, and a revoke reaches a running hub', async () => {
    const made = JSON.parse(ok(root, ['hub', 'credentials', 'create', '--name', 'notes', '--data', 'hub', '--json'])) as { app: string; key: string; secret: string };
    assert.equal(made.app, 'notes');
    assert.match(made.key, /^ddcpk_[0-9a-f]{32}$/);
    const text = ok(root, ['hub', 'credentials', 'create', '--name', 'tasks', '--data', 'hub']);
    assert.match(text, /API key: ddcpk_[0-9a-f]{32}\n {2}secret: {2}[0-9a-f]{64}\n/);

    const hub = await openHubAuth({ dataDir: data, env: {} }); // the running hub
    const admin = await hub.auth.authenticateAdmin(request(signAdminRequest({ apiKey: made.key, secret: made.secret, email: 'ann@example.com' })), '');
    assert.equal(admin.app, 'notes');

    const listed = ok(root, ['hub', 'credentials', 'list', '--data', 'hub']);
    assert.match(listed, new RegExp(`^${made.key}\tnotes\tcreated \\S+\tactive$`, 'm'));
    assert.equal(listed.includes(made.secret), false);
    assert.equal(ok(root, ['hub', 'credentials', 'list', '--data', 'hub', '--json']).includes(made.secret), false);

    const told = new Promise<string>((resolve) => hub.auth.onRevoked(resolve));
    const revoked = ddcp(root, ['hub', 'credentials', 'revoke', made.key, '--data', 'hub']);
    assert.equal(revoked.stdout, `revoked ${made.key}\n`);
    assert.equal(await told, 'notes');
    await assert.rejects(hub.auth.authenticateAdmin(request(signAdminRequest({ apiKey: made.key, secret: made.secret, email: 'ann@example.com' })), ''), { name: 'AuthError' });
    await hub.close();

    const json = JSON.parse(ok(root, ['hub', 'credentials', 'list', '--data', 'hub', '--json'])) as { key: string; revoked_at: string | null }[];
    assert.ok(json.find((c) => c.key === made.key)?.revoked_at);
  });

  it('says clearly what is wrong', () => {
    assert.match(ok(root, ['hub', 'credentials', 'list']), /\tnotes\t/, 'the data folder is ./hub unless named');
    assert.equal(ddcp(root, ['hub', 'credentials', 'list', '--schema', 's']).code, 2);
    const empty = ddcp(root, ['hub', 'credentials', 'list', '--data', 'nowhere']);
    assert.equal(empty.code, 1);
    assert.match(empty.stderr, /no hub credentials in .*nowhere/);
    assert.match(ddcp(root, ['hub', 'credentials', 'revoke', 'nobody', '--data', 'hub']).stderr, /no credential nobody/);
    assert.match(ddcp(root, ['hub', 'credentials', 'create', '--name', 'bad name', '--data', 'hub']).stderr, /app name "bad name" is not valid/);
    assert.equal(ddcp(root, ['hub', 'credentials', 'create', '--name', 'x', '--data', 'hub', '--jwks-url', 'http://127.0.0.1/j']).code, 2);
  });

  it('keeps an identity provider for the app\'s own JWTs', () => {
    ok(root, ['hub', 'credentials', 'create', '--name', 'sso', '--data', 'hub', '--jwt-issuer', 'https://id.example', '--jwks-url', 'http://127.0.0.1:9/jwks']);
    const json = JSON.parse(ok(root, ['hub', 'credentials', 'list', '--data', 'hub', '--json'])) as { app: string; jwt_issuer: string | null }[];
    assert.equal(json.find((c) => c.app === 'sso')?.jwt_issuer, 'https://id.example');
  });
});

describe('ddcp hub credentials (PostgreSQL)', () => {
  const schema = pgSchemaName('cli');
  const env = { [MASTER_KEY_ENV]: randomBytes(32).toString('base64') };
  after(async () => {
    const sql = postgres(PG_URL, { max: 1, onnotice: () => {} });
    await sql.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await sql.end();
  });

  it('creates with the master key from the environment; a revoke reaches every hub on the database', async () => {
    const pg = ['--database-url', PG_URL, '--schema', schema];
    const created = ddcpEnv(root, ['hub', 'credentials', 'create', '--name', 'notes', ...pg, '--json'], env);
    assert.equal(created.code, 0, created.stderr);
    const made = JSON.parse(created.stdout) as { key: string; secret: string };
    const hub = await openHubAuth({ databaseUrl: PG_URL, schema, env });
    assert.equal((await hub.auth.authenticateAdmin(request(signAdminRequest({ apiKey: made.key, secret: made.secret, email: 'a@example.com' })), '')).app, 'notes');
    const told = new Promise<string>((resolve) => hub.auth.onRevoked(resolve));
    const revoked = ddcp(root, ['hub', 'credentials', 'revoke', 'notes', ...pg]); // revoking needs no master key
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.equal(await told, 'notes');
    await hub.close();
    const noKey = ddcpEnv(root, ['hub', 'credentials', 'create', '--name', 'x', ...pg], { [MASTER_KEY_ENV]: '' });
    assert.match(noKey.stderr, /no master key: set \$DDCP_HUB_MASTER_KEY/);
  });
});
