/**
 * Pipelined pushes at the hub, in both stores: a session hands the store a client's pushes without
 * waiting for each to be acknowledged, so pushes that arrive together go into one group commit —
 * an origin's waiting pushes merged as one version — and are answered in the client's order. A push
 * that fails ends its origin's merging: none of the pushes it sent after it lands, in the same group
 * or a later one (they come after it).
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { Engine, openDatabase, type Change } from '../src/engine/index.ts';
import { HubServer } from '../src/hub/server.ts';
import type { HubDatabase, HubStore } from '../src/hub/storage/port.ts';
import { PgHubStore } from '../src/hub/storage/postgres/store.ts';
import { SqliteHubStore } from '../src/hub/storage/sqlite/store.ts';
import type { Batch } from '../src/sync/batches.ts';
import { Gate } from '../src/sync/gate.ts';
import { decodeMessage, encodeMessage, PROTOCOL_VERSION, type Message } from '../src/sync/messages.ts';
import type { PushOrigin } from '../src/sync/ports.ts';
import { tempDir } from './support/cli.ts';
import { TokenAuthenticator } from './support/hub.ts';
import { proofOf } from './support/identity.ts';
import { dropSchema, PG_URL, testClient, testSchema } from './support/postgres.ts';

const sql = testClient();
after(() => sql.end());

const OWNER = { app: 'test-app', user: 'alice' };
const ALL = new Gate(() => ({ read: 'all', write: 'all' }));
const NOTES = { name: 'notes', pks: ['id'], columns: ['body'] };
const ZERO = new Uint8Array(16);

/** A client database that wrote `n` transactions, one new row each: its engine and one batch per transaction. */
function writer(n: number): { engine: Engine; batches: Batch[] } {
  const engine = Engine.open(openDatabase(':memory:'));
  engine.db.exec('CREATE TABLE notes (id NOT NULL PRIMARY KEY, body)');
  engine.asCrr('notes');
  const batches: Batch[] = [];
  for (let t = 1; t <= n; t++) {
    const v = engine.dbVersion();
    engine.db.prepare('INSERT INTO notes VALUES (?, ?)').run(`r${t}`, `body ${t}`);
    engine.seal();
    batches.push({ changes: [...engine.changesSince(v)], version: engine.dbVersion(), complete: true });
  }
  return { engine, batches };
}

/** The same batch with its value changes moved to a column the database does not have. */
const misfit = (b: Batch): Batch => ({ ...b, changes: b.changes.map((c) => (c.cid === 'body' ? { ...c, cid: 'nope' } : c)) });

async function rowIds(db: HubDatabase): Promise<Set<string>> {
  const ids = new Set<string>();
  for await (const b of db.feed.batches(0, { exceptSite: ZERO })) for (const c of b.changes as Change[]) ids.add(Buffer.from(c.pk).toString('latin1'));
  return ids;
}

const has = (ids: Set<string>, id: string): boolean => [...ids].some((k) => k.endsWith(id));

const stores: { name: string; open: () => Promise<{ store: HubStore; done: () => Promise<void> }> }[] = [
  {
    name: 'SQLite',
    open: async () => {
      const dir = tempDir();
      return { store: new SqliteHubStore(`${dir}/hub`), done: async () => {} };
    },
  },
  {
    name: 'PostgreSQL',
    open: async () => {
      const schema = testSchema();
      const store = await PgHubStore.open({ url: PG_URL, schema });
      return { store, done: () => dropSchema(sql, schema) };
    },
  },
];

for (const kind of stores) {
  describe(`hub: pipelined pushes (${kind.name} store)`, () => {
    it('pushes sent together go into one commit, merged as one version, each acknowledged in order', async () => {
      const { store, done } = await kind.open();
      const auth = new TokenAuthenticator();
      auth.issue('alice', 'alice');
      const hub = await HubServer.start({ store, auth, host: '127.0.0.1', port: 0 });
      const w = writer(12);
      const ws = new WebSocket(`${hub.url}/notes`, { headers: { authorization: 'Bearer alice' } });
      try {
        const messages: Message[] = [];
        let wake = (): void => {};
        ws.on('message', (data: Buffer, binary: boolean) => {
          if (!binary) return;
          messages.push(decodeMessage(new Uint8Array(data)));
          wake();
        });
        const until = (check: () => boolean): Promise<void> =>
          new Promise((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error(`timed out; got ${JSON.stringify(messages.map((m) => m.type))}`)), 20_000);
            wake = () => {
              if (check()) {
                clearTimeout(timer);
                resolve();
              }
            };
            wake();
          });
        await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
        ws.send(encodeMessage({ type: 'hello', protocol: PROTOCOL_VERSION, siteId: w.engine.siteId, proof: proofOf(w.engine.siteId), schema: [NOTES], since: 0, held: [], follow: false, pull: false, push: true }));
        await until(() => messages.some((m) => m.type === 'welcome'));
        // Every push and the caught-up in one write: the hub reads them all in one turn.
        const socket = (ws as unknown as { _socket: { cork(): void; uncork(): void } })._socket;
        socket.cork();
        for (const b of w.batches) ws.send(encodeMessage({ type: 'batch', ...b }));
        ws.send(encodeMessage({ type: 'caught-up', version: w.engine.dbVersion() }));
        socket.uncork();
        await until(() => messages.filter((m) => m.type === 'ack').length === w.batches.length + 1);
        const acks = messages.flatMap((m) => (m.type === 'ack' ? [m.version] : []));
        assert.deepEqual(acks, [...w.batches.map((b) => b.version), w.engine.dbVersion()], 'acknowledged in the order sent');
        const db = (await store.open('notes'))!;
        const ids = await rowIds(db);
        for (let t = 1; t <= w.batches.length; t++) assert.ok(has(ids, `r${t}`), `row r${t}`);
        const version = await db.feed.version();
        // One by one they would be 12 versions; together at most the first alone and the rest as one.
        assert.ok(version >= 1 && version <= 2, `merged in ${version} versions`);
        assert.equal(await db.sink.trackedVersion(w.engine.siteId), w.engine.dbVersion());
      } finally {
        ws.terminate();
        await hub.stop();
        await done();
      }
    });

    it("after an origin's push fails, none of its later pushes is merged, in that group or a later one", async () => {
      const { store, done } = await kind.open();
      try {
        const db = (await store.open('notes', OWNER))!;
        await db.declare([NOTES]);
        const w = writer(4);
        const origin: PushOrigin = { siteId: w.engine.siteId, peer: 'alice', source: 'test', gate: ALL };
        await db.sink.dropIncomplete(origin); // as a session starts
        // 1 lands; 2 does not fit; 3 was handed over with them; 4 comes once 2 failed.
        const [r1, r2, r3] = await Promise.allSettled([1, 2, 3].map((t) => db.sink.receive(t === 2 ? misfit(w.batches[1]!) : w.batches[t - 1]!, origin)));
        assert.equal(r2!.status, 'rejected');
        assert.equal(r3!.status, 'rejected', 'a push after the failed one is not merged');
        const r4 = await Promise.allSettled([db.sink.receive(w.batches[3]!, origin)]);
        assert.equal(r4[0]!.status, 'rejected', 'nor one handed over later');
        const ids = await rowIds(db);
        assert.ok(!has(ids, 'r3') && !has(ids, 'r4'), 'rows 3 and 4 are not stored');
        // Row 1 landed if it went alone (its push answered), never if it went with the failed one.
        assert.equal(has(ids, 'r1'), r1!.status === 'fulfilled');
        assert.ok((await db.sink.trackedVersion(w.engine.siteId)) < w.batches[1]!.version, 'the tracked version stays before the failed push');
        // A new session of the same site starts afresh.
        const again: PushOrigin = { ...origin };
        await db.sink.dropIncomplete(again);
        const r = await db.sink.receive(w.batches[3]!, again);
        assert.equal(r?.version, w.batches[3]!.version);
        assert.ok(has(await rowIds(db), 'r4'));
      } finally {
        await store.close();
        await done();
      }
    });
  });
}
