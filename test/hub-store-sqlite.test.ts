/** The hub store conformance suite over the embedded SQLite store (a data folder). */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { describe, it } from 'node:test';
import { Engine, openDatabase, type ReadFilter } from '../src/engine/index.ts';
import type { HostedFeed } from '../src/hub/storage/sqlite/feed.ts';
import { readBatches } from '../src/repo/feed.ts';
import { Gate } from '../src/sync/gate.ts';
import { SqliteHubStore } from '../src/hub/storage/sqlite/store.ts';
import { tempDir } from './support/cli.ts';
import { runHubStoreTests } from './support/hub-store-suite.ts';

runHubStoreTests('sqlite', async () => {
  const dir = tempDir();
  return { open: async () => new SqliteHubStore(dir), cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
});

describe('hosted feed (SQLite): fan-out', () => {
  it('many followers without a read filter cost one read per merge, each gets what it lacks and not its own', async () => {
    const dir = tempDir();
    const store = new SqliteHubStore(dir);
    const db = openDatabase(':memory:');
    try {
      const hosted = (await store.open('notes', { app: 'a', user: 'u' }))!;
      const feed = hosted.feed as HostedFeed;
      const engine = Engine.open(db);
      db.exec('CREATE TABLE notes(id TEXT PRIMARY KEY NOT NULL, body TEXT)');
      engine.asCrr('notes');
      await hosted.declare(engine.crrs());
      const gate = new Gate(() => ({ read: 'all', write: 'all' }));
      const push = (): void => {
        for (const b of readBatches(engine, 0, { exceptSite: new Uint8Array(16) })) if (b.changes.length) hosted.sink.receive(b, { siteId: engine.siteId, peer: 'u', source: 'u', gate });
      };
      const read = async (since: number, request: { exceptSite: Uint8Array; read?: ReadFilter }): Promise<string[]> => {
        const out: string[] = [];
        for await (const b of feed.batches(since, request)) for (const c of b.changes) out.push(`${c.cid}=${String(c.val)}@${c.dbVersion}`);
        return out.sort();
      };
      const v0 = await hosted.feed.version();
      await read(v0, { exceptSite: new Uint8Array(16) }); // a follower at the current version starts the tail
      db.exec("INSERT INTO notes VALUES ('a', 'one'), ('b', 'two')");
      engine.seal();
      push();
      const before = feed.reads;
      const others = await Promise.all(Array.from({ length: 50 }, (_, i) => read(v0, { exceptSite: Uint8Array.of(i, ...new Uint8Array(15)) })));
      assert.equal(feed.reads - before, 1, 'fifty followers, one read');
      const v1 = await hosted.feed.version();
      for (const o of others) assert.deepEqual(o, [`body=one@${v1}`, `body=two@${v1}`]);
      assert.deepEqual(await read(v0, { exceptSite: engine.siteId }), [], 'never the pusher its own changes back');
      assert.deepEqual(await read(v1, { exceptSite: new Uint8Array(16) }), [], 'nothing after the newest version');
      // a follower under a read filter reads the database itself
      const filtered = await read(v0, { exceptSite: new Uint8Array(16), read: { rules: [{ table: 'notes', where: "body = 'one'", label: 'r' }], params: {} } });
      assert.deepEqual(filtered, [`body=one@${v1}`]);
      assert.equal(feed.reads - before, 2);
    } finally {
      db.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
