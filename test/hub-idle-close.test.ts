/**
 * A hub releases a hosted database nobody uses: once no session, follower, push or API call holds
 * it and its idle time passed, its engine and read pool are closed (embedded SQLite: its file
 * handles go) and the `ddcp_hub_open_databases` gauge drops; the next client opens it again,
 * transparently. A hub hosting a database per user kept every database ever opened, for its whole
 * life. A followed database is never closed, and a push queued while the idle time runs out lands.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Engine } from '../src/engine/index.ts';
import type { HubServer } from '../src/hub/server.ts';
import type { HubDatabase } from '../src/hub/storage/port.ts';
import { SqliteHubStore } from '../src/hub/storage/sqlite/store.ts';
import { PgHubStore } from '../src/hub/storage/postgres/store.ts';
import { Gate } from '../src/sync/gate.ts';
import { readBatches } from '../src/repo/feed.ts';
import type { Repository } from '../src/index.ts';
import { tempDir } from './support/cli.ts';
import { freshCopy } from './support/fresh-copy.ts';
import { hubClient, startHub, TokenAuthenticator } from './support/hub.ts';
import { dropSchema, testClient, testSchema } from './support/postgres.ts';
import { following, until } from './hub/following.ts';
import { handlesUnder } from './support/handles.ts';

const IDLE_MS = 150;
const NOBODY = new Uint8Array(16);

const ids = (r: Repository): string[] => (r.db.prepare('SELECT id FROM notes ORDER BY id').all() as { id: string }[]).map((x) => x.id);


for (const mode of ['sqlite', 'postgres'] as const) {
  describe(`hub (${mode}): a hosted database nobody uses is closed, and opened again when used`, () => {
    const dir = tempDir();
    const hubDir = `${dir}/hub`;
    const auth = new TokenAuthenticator();
    const sql = mode === 'postgres' ? testClient() : undefined;
    const schema = testSchema();
    let hub: HubServer;
    let http: string;
    const repos: Repository[] = [];
    let n = 0;
    before(async () => {
      const store = mode === 'sqlite' ? new SqliteHubStore(hubDir, { idleCloseMs: IDLE_MS }) : await PgHubStore.open({ url: sql!, schema, idleCloseMs: IDLE_MS });
      hub = await startHub(hubDir, auth, { store });
      http = hub.url.replace('ws://', 'http://');
    });
    after(async () => {
      await hub.stop();
      for (const r of repos) r.close();
      if (sql) {
        await dropSchema(sql, schema);
        await sql.end();
      }
    });
    const clientOf = async (user: string, db: string): Promise<Repository> => {
      const r = await hubClient(dir, `${user}-${++n}`, hub.url, db, auth.issue(`test-app:${user}`, user));
      repos.push(r);
      return r;
    };
    const openGauge = async (): Promise<number> => Number(/^ddcp_hub_open_databases (\d+)/m.exec(await (await fetch(`${http}/metrics`)).text())?.[1]);

    it('databases opened by sessions close after the idle time (gauge and file handles), and sync again after', async () => {
      const users = Array.from({ length: 12 }, (_, i) => `user${i}`);
      const clients: Repository[] = [];
      for (const u of users) {
        const c = await clientOf(u, `db-${u}`);
        c.db.exec(`INSERT INTO notes VALUES ('${u}-1', 'first')`);
        await c.push('origin');
        clients.push(c);
      }
      assert.ok((await openGauge()) >= 1, 'just used: open');
      if (mode === 'sqlite') assert.ok(handlesUnder(`${hubDir}/databases/`) >= 1);
      await until(() => hub.store.openDatabases === 0);
      assert.equal(await openGauge(), 0);
      if (mode === 'sqlite') assert.equal(handlesUnder(`${hubDir}/databases/`), 0, 'every hosted database file closed');
      // Opened again: the schema, the data, the site binding and the versions are as they were.
      for (const [i, c] of clients.entries()) {
        const other = await clientOf(users[i]!, `db-${users[i]}`);
        await other.pull('origin');
        assert.deepEqual(ids(other), [`${users[i]}-1`]);
        c.db.exec(`INSERT INTO notes VALUES ('${users[i]}-2', 'second')`);
        const pushed = await c.push('origin');
        assert.equal(pushed.refused.length, 0);
        assert.ok(pushed.changes >= 1 && pushed.changes <= 2, `only the new row is sent (${pushed.changes} changes)`);
        await other.pull('origin');
        assert.deepEqual(ids(other), [`${users[i]}-1`, `${users[i]}-2`]);
      }
    });

    it('reopened, a database proves the same site, holds the same schema, data and tracked versions', async () => {
      const c = await clientOf('rita', 'reopened');
      c.db.exec("INSERT INTO notes VALUES ('r1', 'kept')");
      await c.push('origin');
      await until(() => hub.store.openDatabases === 0);
      const before = (await hub.store.open('reopened'))!;
      const seen = { address: before.proof.address, info: await before.info(), version: await before.feed.version(), tracked: await before.sink.trackedVersion(c.engine.siteId) };
      before.release!();
      await until(() => hub.store.openDatabases === 0);
      const after = (await hub.store.open('reopened'))!;
      try {
        assert.notEqual(after, before, 'a new object: the old one was closed');
        assert.equal(after.proof.address, seen.address);
        assert.deepEqual(await after.info(), seen.info);
        assert.equal(await after.feed.version(), seen.version);
        assert.equal(await after.sink.trackedVersion(c.engine.siteId), seen.tracked);
        assert.ok(seen.tracked > 0);
      } finally {
        after.release!();
      }
    });

    it('an open that creates, in the same turn as one that finds none, creates', async () => {
      const [none, made] = await Promise.all([hub.store.open('raced'), hub.store.open('raced', { app: 'test-app', user: 'zed' })]);
      assert.equal(none, undefined);
      assert.ok(made, 'created, not the answer of the open that found none');
      assert.equal((await made.info()).owner.user, 'zed');
      made.release!();
    });

    it('a database with a connected follower is never closed; its follower (from a reopen) still gets changes live after the idle time', async () => {
      const alice = await clientOf('alice', 'followed');
      const alice2 = await clientOf('alice', 'followed');
      await alice.push('origin');
      await until(() => hub.store.openDatabases === 0); // followed from a reopen: a new fan-out, a new stored report
      await following(alice2, async () => {
        await until(() => hub.connections === 1);
        await sleep(IDLE_MS * 4);
        assert.equal(hub.store.openDatabases, 1, 'followed: open');
        if (mode === 'sqlite') assert.ok(handlesUnder(`${hubDir}/databases/followed.db`) >= 1);
        alice.db.exec("INSERT INTO notes VALUES ('late', 'after the idle time')");
        await alice.push('origin');
        await until(() => ids(alice2).includes('late'));
      });
      await until(() => hub.store.openDatabases === 0);
    });
  });
}

describe('hub (SQLite): closing an idle database never drops work in flight', () => {
  it('a push queued as the idle time runs out lands, and opens racing the close get a working database', async () => {
    const dir = tempDir();
    const store = new SqliteHubStore(dir, { idleCloseMs: 0 });
    const db = freshCopy('idle-close-notes', (d, e) => {
      d.exec('CREATE TABLE notes(id INTEGER PRIMARY KEY NOT NULL, body TEXT)');
      e.asCrr('notes');
    });
    try {
      const client = Engine.open(db);
      const gate = new Gate(() => ({ read: 'all', write: 'all' }));
      const origin = { siteId: client.siteId, peer: 'u', source: 'c', gate };
      const first = (await store.open('racy', { app: 'a', user: 'u' })) as HubDatabase;
      await first.declare(client.crrs());
      first.release!();
      let expected = 0;
      let pushed = 0;
      for (let round = 0; round < 40; round++) {
        const hosted = (await store.open('racy')) as HubDatabase;
        db.prepare('INSERT INTO notes (body) VALUES (?)').run(`note ${round}`);
        client.seal();
        const [batch] = [...readBatches(client, pushed, { exceptSite: NOBODY })].filter((b) => b.changes.length > 0);
        pushed = client.currentDbVersion();
        hosted.sink.dropIncomplete(origin);
        // Queued for the next group commit, then released at once: the close (idle time 0) comes
        // before the commit unless it waits for it.
        const received = hosted.sink.receive(batch!, origin) as Promise<unknown>;
        hosted.release!();
        // Opens racing the close, at various points of it.
        await sleep(round % 3);
        const again = (await store.open('racy')) as HubDatabase;
        await received;
        expected++;
        assert.equal(Number(await again.feed.version()) >= expected, true, `round ${round}: the push landed`);
        again.release!();
        await sleep(round % 2);
      }
      await until(() => store.openDatabases === 0);
      const reopened = (await store.open('racy')) as HubDatabase;
      let rows = 0;
      for await (const b of reopened.feed.batches(0, { exceptSite: NOBODY })) rows += b.changes.filter((c) => c.cid === 'body').length;
      assert.equal(rows, 40, 'every acknowledged push is there after closes and reopens');
      reopened.release!();
    } finally {
      await store.close();
      db.close();
    }
  });

  it('a release without an open is an error, not a silent miscount', async () => {
    const store = new SqliteHubStore(tempDir(), { idleCloseMs: 0 });
    try {
      const db = (await store.open('once', { app: 'a', user: 'u' })) as HubDatabase;
      db.release!();
      assert.throws(() => db.release!(), /released more often than it was opened/);
    } finally {
      await store.close();
    }
  });
});
