/**
 * A share removed or changed applies to open sessions at once: removing it ends that user's sessions
 * on the database (and they cannot come back); changing its policy cuts them, and the client
 * reconnects under the new one. With two hubs on one PostgreSQL, a share removed on one ends the
 * session open on the other (the revocation channel, LISTEN/NOTIFY).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import postgres from 'postgres';
import { signAdminRequest } from '../src/hub/auth/hmac.ts';
import { handleAuthRequest } from '../src/hub/auth/http.ts';
import { MASTER_KEY_ENV } from '../src/hub/auth/masterkey.ts';
import { openHubAuth } from '../src/hub/auth/open.ts';
import type { HubServer } from '../src/hub/server.ts';
import { PgHubStore } from '../src/hub/storage/postgres/store.ts';
import type { Repository } from '../src/index.ts';
import { tempDir } from './support/cli.ts';
import { hubFixture, startHub } from './support/hub.ts';
import { notesRepo } from './support/notes.ts';
import { disconnected, following, until } from './hub/following.ts';
import { PG_URL, pgSchemaName } from './hub/pg.ts';

const ids = (r: Repository): string[] => (r.db.prepare('SELECT id FROM notes ORDER BY id').all() as { id: string }[]).map((x) => x.id);

/** PUT (a policy) or DELETE (undefined) `user`'s share of `db`, as `token`'s user. */
const share = (hub: HubServer, token: string, db: string, user: string, policy?: unknown): Promise<Response> =>
  fetch(`${hub.url.replace(/^ws/, 'http')}/v1/databases/${db}/shares/${encodeURIComponent(user)}`, {
    method: policy === undefined ? 'DELETE' : 'PUT',
    headers: { authorization: `Bearer ${token}` },
    ...(policy === undefined ? {} : { body: JSON.stringify(policy) }),
  });

describe('share changes reach open sessions (one hub)', () => {
  const fixture = hubFixture(tempDir());
  const { clientOf } = fixture;

  it('removing a share ends the open session at once, and the user cannot come back', async () => {
    const alice = await clientOf('alice', 'removed');
    const bob = await clientOf('bob', 'removed');
    const carol = await clientOf('carol', 'removed');
    await alice.push('origin');
    for (const u of ['bob', 'carol']) assert.equal((await share(fixture.hub, 'test-app:alice', 'removed', u, { read: 'all', write: 'all' })).status, 200);
    await following(bob, (b) =>
      following(carol, async (c) => {
        await until(() => b.some((e) => e.type === 'connected') && c.some((e) => e.type === 'connected'));
        assert.equal((await share(fixture.hub, 'test-app:alice', 'removed', 'bob')).status, 204);
        await until(() => disconnected(b, /access withdrawn: database removed is no longer shared with you/));
        await until(() => disconnected(b, /database removed is not yours and not shared with you \(forbidden\)/));
        // nothing reaches bob any more; carol's session was not touched
        alice.db.exec("INSERT INTO notes VALUES ('after', 'bob is out')");
        await alice.push('origin');
        await until(() => ids(carol).includes('after'));
        assert.equal(c.filter((e) => e.type === 'disconnected').length, 0);
        assert.deepEqual(ids(bob), []);
      }),
    );
    assert.match(await (await fetch(`${fixture.hub.url.replace(/^ws/, 'http')}/metrics`)).text(), /ddcp_hub_refusals_total\{reason="forbidden"\} [1-9]/);
  });

  it('a changed policy cuts the open session; the client reconnects and syncs under the new one', async () => {
    const alice = await clientOf('alice', 'changed');
    const bob = await clientOf('bob', 'changed');
    await alice.push('origin');
    assert.equal((await share(fixture.hub, 'test-app:alice', 'changed', 'bob', { read: 'all', write: 'none' })).status, 200);
    await following(bob, async (b) => {
      await until(() => b.some((e) => e.type === 'connected'));
      assert.ok(!b.some((e) => e.type === 'connected' && e.pushing), 'bob may not write yet');
      assert.equal((await share(fixture.hub, 'test-app:alice', 'changed', 'bob', { read: 'all', write: 'all' })).status, 200);
      await until(() => disconnected(b, /access changed: your policy on database changed changed/));
      await until(() => b.some((e) => e.type === 'connected' && e.pushing));
      bob.db.exec("INSERT INTO notes VALUES ('b1', 'bob may write now')");
      const v = bob.engine.seal();
      await until(() => b.some((e) => e.type === 'acked' && e.version >= v));
    });
    await alice.pull('origin');
    assert.deepEqual(ids(alice), ['b1']);
  });

  it("a share that doesn't change bob's policy leaves his session alone", async () => {
    const alice = await clientOf('alice', 'unchanged');
    const bob = await clientOf('bob', 'unchanged');
    await alice.push('origin');
    assert.equal((await share(fixture.hub, 'test-app:alice', 'unchanged', 'bob', { read: 'all', write: 'none' })).status, 200);
    await following(alice, (a) =>
      following(bob, async (b) => {
        await until(() => a.some((e) => e.type === 'connected') && b.some((e) => e.type === 'connected'));
        assert.equal((await share(fixture.hub, 'test-app:alice', 'unchanged', 'carol', { read: 'all', write: 'all' })).status, 200);
        assert.equal((await share(fixture.hub, 'test-app:alice', 'unchanged', 'bob', { read: 'all', write: 'none' })).status, 200);
        alice.db.exec("INSERT INTO notes VALUES ('a1', 'still here')");
        await until(() => ids(bob).includes('a1'));
        assert.equal(a.filter((e) => e.type === 'disconnected').length + b.filter((e) => e.type === 'disconnected').length, 0);
      }),
    );
  });
});

describe('share changes reach open sessions on another hub (one PostgreSQL)', () => {
  const dir = tempDir();
  const schema = pgSchemaName('shares');
  const env = { [MASTER_KEY_ENV]: randomBytes(32).toString('base64') };
  const hubs: HubServer[] = [];
  const closers: (() => Promise<void>)[] = [];
  const repos: Repository[] = [];

  before(async () => {
    for (let i = 0; i < 2; i++) {
      const opened = await openHubAuth({ databaseUrl: PG_URL, schema: `${schema}_auth`, env });
      closers.push(opened.close);
      const store = await PgHubStore.open({ url: PG_URL, schema });
      hubs.push(await startHub(`${dir}/unused`, opened.auth, { store, http: (req, res) => handleAuthRequest(opened.auth, req, res) }));
    }
  });
  after(async () => {
    for (const h of hubs) await h.stop();
    for (const c of closers) await c();
    for (const r of repos) r.close();
    const sql = postgres(PG_URL, { max: 1, onnotice: () => {} });
    await sql.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE; DROP SCHEMA IF EXISTS "${schema}_auth" CASCADE`);
    await sql.end();
  });

  /** A user token minted by the app's backend (a signed admin call) on `hub`. */
  async function tokenOf(hub: HubServer, app: { key: string; secret: string }, email: string): Promise<string> {
    const res = await fetch(`${hub.url.replace(/^ws/, 'http')}/auth/token`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json', ...signAdminRequest({ apiKey: app.key, secret: app.secret, email, body: '{}' }) } });
    assert.equal(res.status, 200, await res.clone().text());
    return ((await res.json()) as { token: string }).token;
  }

  it("removing a share on one hub ends the user's session on the other", async () => {
    const opened = await openHubAuth({ databaseUrl: PG_URL, schema: `${schema}_auth`, env });
    const app = await opened.auth.credentials.create('team');
    await opened.close();
    const [one, two] = hubs as [HubServer, HubServer];
    const alice = await tokenOf(one, app, 'alice');
    const bob = await tokenOf(one, app, 'bob');
    const a = await notesRepo(dir, 'alice');
    const b = await notesRepo(dir, 'bob');
    repos.push(a, b);
    a.addRemote('origin', `${one.url}/team`);
    a.hubTokens.set(`${one.url}/team`, alice);
    b.addRemote('origin', `${two.url}/team`);
    b.hubTokens.set(`${two.url}/team`, bob);
    await a.push('origin');
    assert.equal((await share(one, alice, 'team', 'bob', { read: 'all', write: 'all' })).status, 200);
    await following(b, async (events) => {
      await until(() => events.some((e) => e.type === 'connected'));
      assert.equal((await share(one, alice, 'team', 'bob')).status, 204);
      await until(() => disconnected(events, /access withdrawn: database team is no longer shared with you/));
      await until(() => disconnected(events, /database team is not yours and not shared with you \(forbidden\)/));
    });
  });
});
