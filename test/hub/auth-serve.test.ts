/**
 * The authenticator as `ddcp hub serve` runs it (real hub processes): a client following with a
 * backend-minted token is closed by `ddcp hub credentials revoke` (run in-process here), its comeback is
 * refused and the hub logs the reason while the client hears only "authentication failed"; then two
 * `hub serve` processes on one PostgreSQL, one revoke closing the sessions on both (LISTEN/NOTIFY).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import postgres from 'postgres';
import { signAdminRequest } from '../../src/hub/auth/hmac.ts';
import { MASTER_KEY_ENV } from '../../src/hub/auth/masterkey.ts';
import type { Repository } from '../../src/index.ts';
import { tempDir } from '../support/cli.ts';
import { ddcpEnvOk } from '../support/cli-env.ts';
import { serveHub, stopHub, type ServedHub } from '../support/hub-serve.ts';
import { notesRepo } from '../support/notes.ts';
import { disconnected, following, until } from './following.ts';
import { PG_URL, pgSchemaName } from './pg.ts';

type Hub = ServedHub;

const repos: Repository[] = [];
after(() => {
  for (const r of repos) r.close();
});

/** `ddcp hub serve …` in `cwd`, once it says where it listens. */
const serve = (cwd: string, args: string[], env: Record<string, string> = {}): Promise<Hub> => serveHub(cwd, args, { env });
const stop = stopHub;
/** The credentials commands run in-process (test/support/cli.ts); the hubs are the processes under test. */
const cli = async (cwd: string, args: string[], env: Record<string, string> = {}): Promise<string> => ddcpEnvOk(cwd, args, env);

/** A user token for `email`, minted through the hub's endpoint as the app's backend does. */
async function mint(hub: Hub, app: { key: string; secret: string }, email: string): Promise<string> {
  const body = JSON.stringify({ ttl_seconds: 600 });
  const res = await fetch(`${hub.url.replace(/^ws/, 'http')}/auth/token`, { method: 'POST', body, headers: { 'content-type': 'application/json', ...signAdminRequest({ apiKey: app.key, secret: app.secret, email, body }) } });
  assert.equal(res.status, 200, await res.clone().text());
  return ((await res.json()) as { token: string }).token;
}

/** A repository whose 'origin' is `db` on `hub`, with `token`. */
async function client(dir: string, name: string, hub: Hub, db: string, token: string): Promise<Repository> {
  const r = await notesRepo(dir, name);
  repos.push(r);
  r.addRemote('origin', `${hub.url}/${db}`);
  r.hubTokens.set(`${hub.url}/${db}`, token);
  return r;
}

describe('ddcp hub serve with its authenticator', () => {
  it('a CLI revoke closes an open session; the comeback is refused generically, the reason logged', async () => {
    const dir = tempDir('ddcp-hub-serve-auth-');
    const app = JSON.parse(await cli(dir, ['hub', 'credentials', 'create', '--name', 'notes', '--json'])) as { key: string; secret: string };
    const hub = await serve(dir, []);
    const ann = await client(dir, 'ann', hub, 'notes', await mint(hub, app, 'ann@example.com'));
    await following(ann, async (events) => {
      await until(() => events.some((e) => e.type === 'connected'));
      await cli(dir, ['hub', 'credentials', 'revoke', 'notes']);
      await until(() => disconnected(events, /credentials revoked/));
      await until(() => disconnected(events, /authentication failed/));
    });
    // a replayed admin call: the same generic answer
    const body = '{}';
    const headers = { 'content-type': 'application/json', ...signAdminRequest({ apiKey: app.key, secret: app.secret, email: 'ann@example.com', body }) };
    const refused = await fetch(`${hub.url.replace(/^ws/, 'http')}/auth/token`, { method: 'POST', body, headers });
    assert.equal(refused.status, 401);
    assert.deepEqual(await refused.json(), { code: 'unauthenticated', message: 'authentication failed' });
    await until(() => /auth refused \(hmac\).*unknown or revoked API key/.test(hub.log()));
    assert.match(hub.log(), /auth refused \(token\) from 127\.0\.0\.1 \[ddcpk_[0-9a-f]+\]: user token of a revoked or unknown API key/);
    await stop(hub);
  });

  it('two hubs on one PostgreSQL: one revoke closes the sessions on both', async () => {
    const dir = tempDir('ddcp-hub-serve-auth-pg-');
    const schema = pgSchemaName('serve');
    const env = { [MASTER_KEY_ENV]: randomBytes(32).toString('base64') };
    const pg = ['--database-url', PG_URL, '--schema', schema];
    try {
      const app = JSON.parse(await cli(dir, ['hub', 'credentials', 'create', '--name', 'notes', ...pg, '--json'], env)) as { key: string; secret: string };
      const hubs = await Promise.all([serve(dir, pg, env), serve(dir, pg, env)]);
      const token = await mint(hubs[0]!, app, 'ann@example.com'); // one hub's token admits on the other (the shared master key)
      const [a, b] = await Promise.all(hubs.map((h, i) => client(dir, `ann-${i}`, h, 'notes', token)));
      await following(a!, (ea) => following(b!, async (eb) => {
        await until(() => ea.some((e) => e.type === 'connected') && eb.some((e) => e.type === 'connected'));
        await cli(dir, ['hub', 'credentials', 'revoke', app.key, ...pg]);
        await until(() => disconnected(ea, /credentials revoked/) && disconnected(eb, /credentials revoked/));
      }));
      await Promise.all(hubs.map(stop));
    } finally {
      const sql = postgres(PG_URL, { max: 1, onnotice: () => {} });
      await sql.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await sql.end();
    }
  });
});
