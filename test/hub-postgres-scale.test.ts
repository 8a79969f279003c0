/**
 * Several hub processes on one PostgreSQL (each a store with its own connection pool): a push
 * accepted by one wakes the followers of that database on the other, which then serves the change;
 * pushes through both at once get distinct, ordered versions. And the schema migrates itself at
 * start: versioned, once, concurrently safe, refusing a schema newer than the code.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Engine, openDatabase, type Change } from '../src/engine/index.ts';
import { PgHubStore } from '../src/hub/storage/postgres/store.ts';
import { migrate, SCHEMA_VERSION } from '../src/hub/storage/postgres/schema.ts';
import type { HubDatabase } from '../src/hub/storage/port.ts';
import { Gate } from '../src/sync/gate.ts';
import { dropSchema, PG_URL, testClient, testSchema } from './support/postgres.ts';

const sql = testClient();
after(() => sql.end());
const OWNER = { app: 'test', user: 'alice' };
const ALL = new Gate(() => ({ read: 'all', write: 'all' }));

function client(): Engine {
  const engine = Engine.open(openDatabase(':memory:'));
  engine.db.exec('CREATE TABLE notes (id TEXT PRIMARY KEY NOT NULL, body TEXT)');
  engine.asCrr('notes');
  return engine;
}

async function push(db: HubDatabase, engine: Engine, since = 0) {
  const changes = [...engine.changesSince(since)];
  return db.sink.receive({ changes, version: engine.dbVersion(), complete: true }, { siteId: engine.siteId, peer: 'alice', source: 'alice', gate: ALL });
}

async function read(db: HubDatabase, since = 0): Promise<Change[]> {
  const out: Change[] = [];
  for await (const b of db.feed.batches(since, { exceptSite: new Uint8Array(16) })) out.push(...b.changes);
  return out;
}

describe('hub PostgreSQL store: several hub processes', () => {
  it('a push accepted by one hub wakes followers on the other, which serves it; concurrent pushes get ordered versions', async () => {
    const schema = testSchema();
    // Two "hub processes": two stores, each with its own pool and LISTEN connection.
    const [one, two] = await Promise.all([PgHubStore.open({ url: PG_URL, schema, max: 3 }), PgHubStore.open({ url: PG_URL, schema, max: 3 })]);
    const c = client();
    const d = client();
    try {
      const a = (await one.open('shared', OWNER))!;
      await a.declare(c.crrs());
      const b = (await two.open('shared'))!;
      assert.deepEqual(b.feed.siteId, a.feed.siteId, 'one database, whichever hub opened it');
      const follower = new AbortController();
      const woke = b.feed.changed(follower.signal);
      let wokeAt = 0;
      void woke.then(() => (wokeAt = performance.now()));
      c.db.exec("INSERT INTO notes VALUES ('n1', 'hello')");
      const pushedAt = performance.now();
      const got = (await push(a, c))!;
      assert.equal(got.applied, 1);
      await woke; // bounded by the test timeout: only a notification from the other pool wakes it
      assert.ok(!follower.signal.aborted);
      console.log(`# cross-hub wake-up after the push was acknowledged: ${(wokeAt - pushedAt).toFixed(1)} ms (push included)`);
      assert.deepEqual((await read(b)).map((x) => `${x.cid}=${String(x.val)}`), ['body=hello']);
      assert.equal(await b.sink.trackedVersion(c.siteId), c.dbVersion(), 'the other hub knows what the pusher holds');

      // Both hubs take pushes at once: one version each, in commit order, the same on both.
      c.db.exec("UPDATE notes SET body = 'from c' WHERE id = 'n1'");
      d.db.exec("INSERT INTO notes VALUES ('n2', 'from d')");
      const [rc, rd] = await Promise.all([push(a, c, 1), push(b, d)]);
      assert.ok(rc!.applied > 0 && rd!.applied > 0);
      assert.equal(await a.feed.version(), 3);
      const onA = (await read(a)).map((x) => `${x.dbVersion}:${x.cid}=${String(x.val)}`);
      assert.deepEqual(onA, (await read(b)).map((x) => `${x.dbVersion}:${x.cid}=${String(x.val)}`));
      assert.deepEqual(new Set(onA.map((l) => l.split(':')[0])), new Set(['2', '3']), 'one version per push');
    } finally {
      c.db.close();
      d.db.close();
      await Promise.all([one.close(), two.close()]);
      await dropSchema(sql, schema);
    }
  });

  it('a follower of a closing store is released', async () => {
    const schema = testSchema();
    const store = await PgHubStore.open({ url: sql, schema });
    try {
      const db = (await store.open('x', OWNER))!;
      const waiting = db.feed.changed(new AbortController().signal);
      await store.close();
      await waiting;
    } finally {
      await store.close();
      await dropSchema(sql, schema);
    }
  });
});

describe('hub PostgreSQL schema migrations', () => {
  it('migrate at start: versioned, applied once even by hubs starting together, idempotent after', async () => {
    const schema = testSchema();
    try {
      const runs = await Promise.all([migrate(sql, schema), migrate(sql, schema), migrate(sql, schema)]);
      assert.deepEqual(runs.flat().sort(), Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1), 'each migration applied exactly once');
      assert.deepEqual(await migrate(sql, schema), [], 'nothing left to apply');
      const versions = await sql.unsafe(`SELECT version FROM ${schema}.migrations ORDER BY version`);
      assert.deepEqual(versions.map((r) => r.version), Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1));
      // A store opened on it works with what is there.
      const store = await PgHubStore.open({ url: sql, schema });
      assert.ok(await store.open('fine', OWNER));
      await store.close();
    } finally {
      await dropSchema(sql, schema);
    }
  });

  it('a schema newer than this hub is refused, and a bad schema name too', async () => {
    const schema = testSchema();
    try {
      await migrate(sql, schema);
      await sql.unsafe(`INSERT INTO ${schema}.migrations (version) VALUES (${SCHEMA_VERSION + 1})`);
      await assert.rejects(PgHubStore.open({ url: sql, schema }), (e: Error) => e.name === 'HubStoreError' && /newer than this hub/.test(e.message));
      await assert.rejects(PgHubStore.open({ url: sql, schema: 'Bad-Name' }), /invalid PostgreSQL schema name/);
    } finally {
      await dropSchema(sql, schema);
    }
  });
});
