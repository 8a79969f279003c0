/**
 * The hub end to end on 127.0.0.1, with each store (embedded SQLite, PostgreSQL): databases created by their
 * owner's first push, shared per user under sync-v2 policies, two clients syncing live through it,
 * schema growth and misfits, cross-user access refused, revocation and expiry of open sessions, and
 * /healthz and /metrics. (Restarts and kill -9: hub-restart.test.ts; bad input: hub-input.test.ts.)
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { HubServer } from '../src/hub/server.ts';
import type { Repository } from '../src/index.ts';
import { tempDir } from './support/cli.ts';
import { hubClient, startHub, TokenAuthenticator } from './support/hub.ts';
import { PgHubStore } from '../src/hub/storage/postgres/store.ts';
import { SqliteHubStore } from '../src/hub/storage/sqlite/store.ts';
import type { HubStore } from '../src/hub/storage/port.ts';
import { dropSchema, testClient, testSchema } from './support/postgres.ts';
import { following, until } from './hub/following.ts';

const TEAM = 'CREATE TABLE notes(id TEXT PRIMARY KEY NOT NULL, body TEXT, owner TEXT)';

const ids = (r: Repository): string[] => (r.db.prepare('SELECT id FROM notes ORDER BY id').all() as { id: string }[]).map((x) => x.id);

const sql = testClient();
after(() => sql.end());

for (const mode of ['sqlite', 'postgres'] as const)
describe(`hub (${mode} store) on 127.0.0.1`, () => {
  const auth = new TokenAuthenticator();
  const dir = tempDir();
  const schema = testSchema();
  let hub: HubServer;
  let store: HubStore;
  let http: string;
  const repos: Repository[] = [];
  let n = 0;

  before(async () => {
    store = mode === 'sqlite' ? new SqliteHubStore(`${dir}/hub`) : await PgHubStore.open({ url: sql, schema });
    hub = await startHub(`${dir}/hub`, auth, { store });
    http = hub.url.replace(/^ws/, 'http');
  });
  after(async () => {
    await hub.stop();
    for (const r of repos) r.close();
    if (mode === 'postgres') await dropSchema(sql, schema);
  });

  /** A client repository of `user` (with the team table) whose 'origin' is database `db` on the hub. */
  async function clientOf(user: string, db: string, app = 'test-app', ddl = TEAM): Promise<Repository> {
    const r = await hubClient(dir, `${user}-${++n}`, hub.url, db, auth.issue(`${app}:${user}`, user, app), ddl);
    repos.push(r);
    return r;
  }

  const share = (owner: string, db: string, user: string, policy: unknown, app = 'test-app') =>
    fetch(`${http}/v1/databases/${db}/shares/${user}`, { method: policy === undefined ? 'DELETE' : 'PUT', headers: { authorization: `Bearer ${app}:${owner}` }, ...(policy === undefined ? {} : { body: JSON.stringify(policy) }) });

  it('the first push creates the database for its owner, with the pusher schema; the owner pulls it back elsewhere', async () => {
    const a1 = await clientOf('alice', 'first');
    a1.db.exec("INSERT INTO notes VALUES ('a', 'from alice', 'alice')");
    const pushed = await a1.push('origin');
    assert.equal(pushed.changes, 2);
    const a2 = await clientOf('alice', 'first');
    const pulled = await a2.pull('origin');
    assert.equal(pulled.merge.applied, 2);
    assert.deepEqual(ids(a2), ['a']);
    const listed = (await (await fetch(`${http}/v1/databases`, { headers: { authorization: 'Bearer test-app:alice' } })).json()) as { name: string; owner: string }[];
    assert.ok(listed.some((d) => d.name === 'first' && d.owner === 'alice'));
  });

  it("a client binds the hub database's site id to the address that proved it, at its first merge", async () => {
    const a1 = await clientOf('alice', 'proved');
    a1.db.exec("INSERT INTO notes VALUES ('p', 'proved', 'alice')");
    await a1.push('origin');
    const db = (await store.open('proved'))!;
    const a2 = await clientOf('alice', 'proved');
    await a2.fetch('origin');
    assert.equal(a2.engine.siteOwner(db.feed.siteId), undefined, 'a fetch writes nothing to the database');
    a2.merge('origin');
    assert.equal(a2.engine.siteOwner(db.feed.siteId), db.proof.address);
  });

  it('two clients sync live through the hub: each change reaches every other connected client', async () => {
    const alice = await clientOf('alice', 'team');
    const bob = await clientOf('bob', 'team');
    const carol = await clientOf('carol', 'team');
    await alice.push('origin'); // creates it, owned by alice
    assert.equal((await share('alice', 'team', 'bob', { read: 'all', write: 'all' })).status, 200);
    assert.equal((await share('alice', 'team', 'carol', { read: 'all', write: 'none' })).status, 200);
    await following(alice, () =>
      following(bob, () =>
        following(carol, async () => {
          alice.db.exec("INSERT INTO notes VALUES ('a1', 'alice wrote', 'alice')");
          await until(() => ids(bob).includes('a1') && ids(carol).includes('a1'));
          bob.db.exec("INSERT INTO notes VALUES ('b1', 'bob wrote', 'bob')");
          await until(() => ids(alice).includes('b1') && ids(carol).includes('b1'));
          // carol reads only: her write stays hers
          carol.db.exec("INSERT INTO notes VALUES ('c1', 'carol wrote', 'carol')");
          alice.db.exec("INSERT INTO notes VALUES ('a2', 'after carol', 'alice')");
          await until(() => ids(bob).includes('a2') && ids(carol).includes('a2'));
          assert.deepEqual(ids(alice), ['a1', 'a2', 'b1']);
          assert.deepEqual(ids(bob), ['a1', 'a2', 'b1']);
        }),
      ),
    );
    const metrics = await (await fetch(`${http}/metrics`)).text();
    assert.match(metrics, /ddcp_hub_changes_in_total [1-9]/);
    assert.match(metrics, /ddcp_hub_changes_out_total [1-9]/);
    assert.match(metrics, /ddcp_hub_fanout_seconds_count [1-9]/);
  });

  it('/metrics counts the open sessions and the databases they are on, as clients come and go', async () => {
    const gauge = async (name: string): Promise<number> => Number(new RegExp(`^${name} (\\d+)`, 'm').exec(await (await fetch(`${http}/metrics`)).text())?.[1]);
    const settled = async (connections: number, databases: number): Promise<void> => {
      for (;;) {
        const [c, d] = [await gauge('ddcp_hub_connections'), await gauge('ddcp_hub_databases')];
        if (c === connections && d === databases) return;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    };
    const a1 = await clientOf('alice', 'gauge-a');
    const a2 = await clientOf('alice', 'gauge-a');
    const b1 = await clientOf('alice', 'gauge-b');
    await a1.push('origin');
    await b1.push('origin');
    await settled(0, 0); // the pushes' sessions ended
    await following(a1, () =>
      following(a2, () =>
        following(b1, async () => {
          await settled(3, 2); // two on one database, one on another
        }),
      ),
    );
    await settled(0, 0);
  });

  it('a team database: members write only their own rows and read what their rule allows', async () => {
    const alice = await clientOf('alice', 'rules');
    const bob = await clientOf('bob', 'rules');
    alice.db.exec("INSERT INTO notes VALUES ('a-pub', 'public', 'alice'), ('a-sec', 'secret', 'alice')");
    await alice.push('origin');
    const r = await share('alice', 'rules', 'bob', { read: [{ table: 'notes', where: "body != 'secret'" }], write: [{ table: 'notes', where: 'owner = :peer' }] });
    assert.equal(r.status, 200, await r.text());
    await bob.pull('origin');
    assert.deepEqual(ids(bob), ['a-pub'], 'the secret row is not sent');
    bob.db.exec("INSERT INTO notes VALUES ('b1', 'mine', 'bob')");
    bob.engine.seal();
    bob.db.exec("INSERT INTO notes VALUES ('forged', 'as alice', 'alice')");
    const pushed = await bob.push('origin');
    // (bob also relays alice's row he pulled: writing another's row, it is refused as well — harmlessly)
    const refused = pushed.refused.map((r) => r.message);
    assert.ok(refused.some((m) => /row \('forged'\).*owner = :peer|owner = :peer.*row \('forged'\)/.test(m)), JSON.stringify(refused));
    assert.ok(refused.every((m) => /'forged'|'a-pub'/.test(m)), JSON.stringify(refused));
    await alice.pull('origin');
    assert.deepEqual(ids(alice), ['a-pub', 'a-sec', 'b1'], "bob's own row landed, the forged one did not");
  });

  it('cross-user access is refused, read and write: not shared, another app, a share removed', async () => {
    const alice = await clientOf('alice', 'private');
    alice.db.exec("INSERT INTO notes VALUES ('p', 'private', 'alice')");
    await alice.push('origin');
    const mallory = await clientOf('mallory', 'private');
    await assert.rejects(mallory.pull('origin'), /the peer refused: database private is not yours and not shared with you \(forbidden\)/);
    mallory.db.exec("INSERT INTO notes VALUES ('m', 'intrusion', 'mallory')");
    await assert.rejects(mallory.push('origin'), /forbidden/);
    // the same user name in another app is another user
    const other = await clientOf('alice', 'private', 'other-app');
    await assert.rejects(other.pull('origin'), /forbidden/);
    // only the owner shares
    assert.equal((await share('mallory', 'private', 'mallory', { read: 'all', write: 'all' })).status, 403);
    // a removed share ends access at the next connection
    const bob = await clientOf('bob', 'private');
    assert.equal((await share('alice', 'private', 'bob', { read: 'all', write: 'none' })).status, 200);
    await bob.pull('origin');
    assert.deepEqual(ids(bob), ['p']);
    await assert.rejects(bob.push('origin'), /does not take our changes/);
    assert.equal((await share('alice', 'private', 'bob', undefined)).status, 204);
    await assert.rejects(bob.pull('origin'), /forbidden/);
    await alice.pull('origin');
    assert.deepEqual(ids(alice), ['p'], 'nothing of theirs landed');
    // a policy that does not fit the schema is refused in words
    const bad = await share('alice', 'private', 'bob', { read: [{ table: 'nope' }], write: 'none' });
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { message: string }).message, /table nope is not a CRR here/);
  });

  it('the schema grows by added columns and tables; a client whose schema cannot fit is told table and column', async () => {
    const alice = await clientOf('alice', 'growing');
    alice.db.exec("INSERT INTO notes VALUES ('a', 'one', 'alice')");
    await alice.push('origin');
    alice.engine.beginAlter('notes');
    alice.db.exec('ALTER TABLE notes ADD COLUMN tag TEXT');
    alice.engine.commitAlter('notes');
    alice.db.exec('CREATE TABLE tags(name TEXT PRIMARY KEY NOT NULL)');
    alice.engine.asCrr('tags');
    alice.db.exec("INSERT INTO notes VALUES ('b', 'two', 'alice', 'red'); INSERT INTO tags VALUES ('red')");
    await alice.push('origin');
    const again = await clientOf('alice', 'growing', 'test-app', 'CREATE TABLE notes(id TEXT PRIMARY KEY NOT NULL, body TEXT, owner TEXT, tag TEXT)');
    again.db.exec('CREATE TABLE tags(name TEXT PRIMARY KEY NOT NULL)');
    again.engine.asCrr('tags');
    await again.pull('origin');
    assert.deepEqual(again.db.prepare('SELECT id, tag FROM notes ORDER BY id').all().map((r) => ({ ...(r as object) })), [
      { id: 'a', tag: null },
      { id: 'b', tag: 'red' },
    ]);
    // another primary key for notes cannot fit
    const odd = await clientOf('alice', 'growing', 'test-app', 'CREATE TABLE notes(body TEXT PRIMARY KEY NOT NULL, id TEXT)');
    odd.db.exec("INSERT INTO notes VALUES ('x', 'y')");
    await assert.rejects(odd.push('origin'), /database growing: table notes has primary key \(body\) there, \(id\) here/);
  });

  it("only the owner or a member who may write everything grows the schema; a limited writer's wider schema is refused, nothing stored", async () => {
    const alice = await clientOf('alice', 'guarded');
    alice.db.exec("INSERT INTO notes VALUES ('a', 'one', 'alice')");
    await alice.push('origin');
    assert.equal((await share('alice', 'guarded', 'bob', { read: 'all', write: [{ table: 'notes', where: 'owner = :peer' }] })).status, 200);
    assert.equal((await share('alice', 'guarded', 'dave', { read: 'all', write: 'all' })).status, 200);
    const tables = async (): Promise<string[]> => {
      const db = (await store.open('guarded'))!;
      try {
        return (await db.info()).tables.map((t) => `${t.name}(${[...t.pks, ...t.columns].join(',')})`);
      } finally {
        db.release?.();
      }
    };
    const before = await tables();
    assert.deepEqual(before, ['notes(id,body,owner)']);
    // bob writes his own rows only: a column he adds to alice's table is refused, naming it
    const wider = await clientOf('bob', 'guarded', 'test-app', 'CREATE TABLE notes(id TEXT PRIMARY KEY NOT NULL, body TEXT, owner TEXT, secret TEXT)');
    wider.db.exec("INSERT INTO notes VALUES ('b1', 'mine', 'bob', 'x')");
    await assert.rejects(wider.push('origin'), /database guarded: table notes, column secret is not in its schema/);
    // … and so is a table of his own
    const extra = await clientOf('bob', 'guarded');
    extra.db.exec('CREATE TABLE extra(k TEXT PRIMARY KEY NOT NULL, v TEXT)');
    extra.engine.asCrr('extra');
    extra.db.exec("INSERT INTO notes VALUES ('b2', 'mine', 'bob'); INSERT INTO extra VALUES ('k', 'v')");
    await assert.rejects(extra.push('origin'), /database guarded: table extra is not in its schema/);
    assert.deepEqual(await tables(), before, 'nothing of his schema was stored');
    // with the schema as it is, his own rows land
    const fits = await clientOf('bob', 'guarded');
    fits.db.exec("INSERT INTO notes VALUES ('b3', 'mine', 'bob')");
    await fits.push('origin');
    // a member who may write everything grows it, as the owner does
    const dave = await clientOf('dave', 'guarded', 'test-app', 'CREATE TABLE notes(id TEXT PRIMARY KEY NOT NULL, body TEXT, owner TEXT, tag TEXT)');
    dave.db.exec("INSERT INTO notes VALUES ('d1', 'dave', 'dave', 'red')");
    await dave.push('origin');
    assert.deepEqual(await tables(), ['notes(id,body,owner,tag)']);
    const grown = await clientOf('alice', 'guarded', 'test-app', 'CREATE TABLE notes(id TEXT PRIMARY KEY NOT NULL, body TEXT, owner TEXT, tag TEXT)');
    await grown.pull('origin');
    assert.deepEqual(ids(grown), ['a', 'b3', 'd1']);
  });

  it('revoking a credential ends the open session, and the client cannot come back with it', async () => {
    const dave = await clientOf('dave', 'revoked');
    await dave.push('origin');
    await following(dave, async (events) => {
      await until(() => events.some((e) => e.type === 'connected'));
      auth.revoke('test-app:dave');
      await until(() => events.some((e) => e.type === 'disconnected' && /credentials revoked/.test(e.error?.message ?? '')));
      await until(() => events.some((e) => e.type === 'disconnected' && /authentication failed/.test(e.error?.message ?? '')));
    });
    assert.match(await (await fetch(`${http}/metrics`)).text(), /ddcp_hub_refusals_total\{reason="revoked"\} 1/);
  });

  it('a session ends when its token expires, unless the client refreshed it in place', async () => {
    const erin = await clientOf('erin', 'expiring');
    await erin.push('origin');
    auth.issue('short', 'erin', 'test-app', Date.now() + 400);
    const { dialWs } = await import('../src/transport/ws/dial.ts');
    const refreshed: unknown[] = [];
    const s = await dialWs(`${hub.url}/expiring`, { token: 'short', onControl: (m) => void refreshed.push(m) });
    const t = await dialWs(`${hub.url}/expiring`, { token: 'short' });
    const later = Date.now() + 60_000;
    s.control({ type: 'refresh', token: auth.issue('longer', 'erin', 'test-app', later) });
    const read = async (c: typeof s): Promise<Error | undefined> => {
      try {
        for await (const _ of c);
      } catch (err) {
        return err as Error;
      }
      return undefined;
    };
    const ended = await read(t);
    assert.match(String(ended?.message), /credentials expired/);
    await until(() => refreshed.length > 0);
    assert.deepEqual(refreshed, [{ type: 'refreshed', expiresAt: later }]);
    assert.ok(hub.connections >= 1, 'the refreshed session is still open');
    s.abort(new Error('done'));
  });

  it('/healthz answers', async () => {
    const r = await fetch(`${http}/healthz`);
    assert.equal(r.status, 200);
    assert.equal(((await r.json()) as { status: string }).status, 'ok');
    assert.equal((await fetch(`${http}/nope`)).status, 404);
  });
});
