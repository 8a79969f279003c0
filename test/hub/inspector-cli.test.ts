/**
 * `ddcp hub admin-token` and the inspector as `ddcp hub serve` runs it (real hub processes): a token
 * made on the command line logs in at /ui, is listed without its secret, and revoking it while the
 * hub runs ends the session; the hub logs a refused login's reason, never a token; `--no-inspector`
 * serves no /ui. On PostgreSQL, two `hub serve` processes accept one token and one session, and a
 * revocation ends it on both. The admin-token commands run in-process (test/support/cli.ts: a worker
 * thread; the hubs are other processes, so the test blocking on a command blocks no hub).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import postgres from 'postgres';
import { MASTER_KEY_ENV } from '../../src/hub/auth/masterkey.ts';
import { ddcp, tempDir } from '../support/cli.ts';
import { ddcpEnvOk } from '../support/cli-env.ts';
import { serveHub, stopHub, type ServedHub } from '../support/hub-serve.ts';
import { PG_URL, pgSchemaName } from './pg.ts';

type Hub = ServedHub;

// Ready once it also printed its storage line (the inspector's address comes before it).
const serve = (cwd: string, args: string[], env: Record<string, string> = {}): Promise<Hub> => serveHub(cwd, args, { env, ready: /hub listening on (ws:\/\/\S+)[\s\S]*storage: .*\n/ });
const stop = stopHub;
const cli = async (cwd: string, args: string[], env: Record<string, string> = {}): Promise<string> => ddcpEnvOk(cwd, args, env);

/** Logs in at `hub`'s /ui: the session cookie, or the status of a refusal. */
async function login(hub: Hub, token: string): Promise<string | number> {
  const res = await fetch(`${hub.base}/ui/login`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }) });
  return res.status === 303 ? res.headers.get('set-cookie')!.split(';')[0]! : res.status;
}

const overview = async (hub: Hub, cookie: string): Promise<number> => (await fetch(`${hub.base}/ui/api/overview`, { headers: { cookie } })).status;

describe('ddcp hub admin-token and the inspector of hub serve (data folder)', () => {
  const root = tempDir('ddcp-inspector-cli-');

  it('a token made on the command line logs in; list shows no secret; a revoke ends the session', async () => {
    const made = JSON.parse(await cli(root, ['hub', 'admin-token', 'create', '--name', 'ops', '--json'])) as { id: string; name: string; token: string };
    assert.match(made.token, new RegExp(`^ddcpa_${made.id}_[0-9a-f]{64}$`));
    assert.match(await cli(root, ['hub', 'admin-token', 'create', '--name', 'backup@ops']), /created admin token [0-9a-f]{16} \(backup@ops\)\n {2}token: ddcpa_[0-9a-f]{16}_[0-9a-f]{64}\n/);
    const hub = await serve(root, ['--data', 'hub']);
    try {
      assert.match(hub.out(), new RegExp(`inspector: ${hub.base}/ui\\n`));
      assert.equal(await login(hub, made.token.replace(/.$/, (c) => (c === '0' ? '1' : '0'))), 401);
      const cookie = await login(hub, made.token);
      assert.equal(typeof cookie, 'string');
      assert.equal(await overview(hub, cookie as string), 200);
      const listed = await cli(root, ['hub', 'admin-token', 'list']);
      assert.match(listed, new RegExp(`^${made.id}\tops\tcreated \\S+\tactive$`, 'm'));
      assert.equal(listed.includes(made.token.slice(23)), false);
      assert.equal((await cli(root, ['hub', 'admin-token', 'list', '--json'])).includes(made.token.slice(23)), false);
      assert.equal(await cli(root, ['hub', 'admin-token', 'revoke', made.id]), `revoked admin token ${made.id}\n`);
      assert.equal(await overview(hub, cookie as string), 401, 'the running hub ends the session at its next request');
      assert.equal(await login(hub, made.token), 401);
      await stop(hub);
      assert.match(hub.log(), /warn: refused an inspector login from 127\.0\.0\.1 \[[0-9a-f]{16}\]: wrong secret/);
      assert.match(hub.log(), /inspector login from 127\.0\.0\.1 with admin token [0-9a-f]{16} \(ops\)/);
      assert.equal(hub.log().includes(made.token.slice(23)), false, 'no token in the log');
    } finally {
      if (hub.child.exitCode === null) await stop(hub);
    }
  });

  it('says clearly what is wrong; --no-inspector serves no /ui', async () => {
    const unknown = ddcp(root, ['hub', 'admin-token', 'revoke', '0123456789abcdef']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no admin token 0123456789abcdef \(see: ddcp hub admin-token list\)/);
    assert.match(ddcp(root, ['hub', 'admin-token', 'revoke', 'xyz']).stderr, /"xyz" is not an admin token id/);
    assert.match(ddcp(root, ['hub', 'admin-token', 'create', '--name', 'bad name']).stderr, /admin token name "bad name" is not valid/);
    assert.match(ddcp(root, ['hub', 'admin-token', 'list', '--data', 'nowhere']).stderr, /no hub in .*nowhere/);
    assert.equal(ddcp(root, ['hub', 'admin-token', 'list', '--schema', 's']).code, 2);
    const hub = await serve(root, ['--data', 'hub', '--no-inspector']);
    try {
      assert.doesNotMatch(hub.out(), /inspector:/);
      assert.equal((await fetch(`${hub.base}/ui`)).status, 404);
    } finally {
      await stop(hub);
    }
  });
});

describe('the inspector of two hub serve processes on one PostgreSQL', () => {
  const schema = pgSchemaName('inspector');
  const env = { [MASTER_KEY_ENV]: randomBytes(32).toString('base64') };
  after(async () => {
    const sql = postgres(PG_URL, { max: 1, onnotice: () => {} });
    await sql.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await sql.end();
  });

  it('one token and one session on both; a revoke ends it on both', async () => {
    const root = tempDir('ddcp-inspector-pg-');
    const args = ['--database-url', PG_URL, '--schema', schema];
    const made = JSON.parse(await cli(root, ['hub', 'admin-token', 'create', '--name', 'ops', '--json', ...args], env)) as { id: string; token: string };
    const [one, two] = await Promise.all([serve(root, args, env), serve(root, args, env)]);
    try {
      const cookie = (await login(one, made.token)) as string;
      assert.equal(typeof cookie, 'string');
      assert.equal(await overview(two, cookie), 200, 'a session opened on one hub is valid on the other');
      await cli(root, ['hub', 'admin-token', 'revoke', made.id, ...args], env);
      assert.equal(await overview(one, cookie), 401);
      assert.equal(await overview(two, cookie), 401);
    } finally {
      await Promise.all([stop(one), stop(two)]);
    }
  });
});
