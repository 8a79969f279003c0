/**
 * What an open hosted database (embedded SQLite) holds while a client uses it: the SQLite connections
 * it needs now, no more — each costs ~200 KiB before its first statement (SQLite's lookaside and the
 * first block of its page cache), so a hub's memory per held database is mostly its connections.
 * - No connection of its own for PRAGMA data_version: the repository feed opens that one for its
 *   first follower (a repository's watch), and the hub's feed is told of changes by its merges.
 * - The staging area (a push in parts waits there) is open only while something is staged.
 * - Pooled readers keep a small page cache (each read of a 2 MiB database otherwise kept ~2 MiB).
 * Counted by the handles on each file: every connection holds one on the database's WAL.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Engine, openDatabase, type SqliteConnection } from '../src/engine/index.ts';
import { readBatches, RepoFeed } from '../src/repo/feed.ts';
import { Staging } from '../src/repo/staging.ts';
import type { Batch } from '../src/sync/batches.ts';
import type { PushOrigin } from '../src/sync/ports.ts';
import type { HubDatabase } from '../src/hub/storage/port.ts';
import { READER_CACHE_KIB } from '../src/hub/storage/sqlite/feed.ts';
import { SqliteHubStore } from '../src/hub/storage/sqlite/store.ts';
import { Gate } from '../src/sync/gate.ts';
import { tempDir } from './support/cli.ts';
import { handlesUnder } from './support/handles.ts';

const NOBODY = new Uint8Array(16);
const LONG = 60_000;
const ALL = new Gate(() => ({ read: 'all', write: 'all' }));

/** A client database with `notes`; `write` commits and seals, `since` gives its batches. */
function client(): { engine: Engine; write(sql: string): Batch[]; origin: PushOrigin; close(): void } {
  const db: SqliteConnection = openDatabase(':memory:');
  const engine = Engine.open(db);
  db.exec('CREATE TABLE notes(id TEXT PRIMARY KEY NOT NULL, body TEXT)');
  engine.asCrr('notes');
  return {
    engine,
    write: (sql) => {
      const before = engine.currentDbVersion();
      db.exec(sql);
      engine.seal();
      return [...readBatches(engine, before, { exceptSite: NOBODY })].filter((b) => b.changes.length > 0);
    },
    origin: { siteId: engine.siteId, peer: 'u', source: 'c', gate: ALL },
    close: () => db.close(),
  };
}

async function setup(name: string) {
  const dir = tempDir();
  let store = new SqliteHubStore(dir, { idleCloseMs: LONG, readerTrimMs: LONG });
  let db = (await store.open(name, { app: 'a', user: 'u' })) as HubDatabase;
  await db.declare([{ name: 'notes', pks: ['id'], columns: ['body'] }]);
  const files = join(dir, 'databases');
  return {
    files,
    get db() {
      return db;
    },
    /** Connections open on the hosted database (each holds its WAL once). */
    connections: () => handlesUnder(join(files, `${name}.db-wal`)),
    /** Handles on the staging area's files (database, WAL, shared memory). */
    staging: () => handlesUnder(join(files, `${name}.staging.db`)),
    bodies: async (): Promise<string[]> => {
      const out: string[] = [];
      for await (const b of db.feed.batches(0, { exceptSite: NOBODY })) for (const c of b.changes) if (c.cid === 'body') out.push(String(c.val));
      return out.sort();
    },
    restart: async (): Promise<void> => {
      db.release!();
      await store.close();
      store = new SqliteHubStore(dir, { idleCloseMs: LONG, readerTrimMs: LONG });
      db = (await store.open(name)) as HubDatabase;
    },
    close: async (): Promise<void> => {
      db.release!();
      await store.close();
    },
  };
}

describe('hub (SQLite): a held database holds only the connections it uses', () => {
  it('a session pushing to it: the writer alone; a read adds one pooled reader', async () => {
    const h = await setup('held');
    const c = client();
    try {
      h.db.sink.dropIncomplete(c.origin);
      for (const b of c.write("INSERT INTO notes VALUES ('a', 'one')")) await h.db.sink.receive(b, c.origin);
      assert.equal(h.connections(), 1, 'the writer only: no data_version watch, no reader yet');
      assert.equal(h.staging(), 0, 'nothing staged: the staging area is closed');
      assert.deepEqual(await h.bodies(), ['one']);
      assert.equal(h.connections(), 2, 'the writer and one pooled reader');
      assert.equal(h.staging(), 0);
    } finally {
      c.close();
      await h.close();
    }
  });

  it("pooled readers keep a small page cache, the writer SQLite's default", async () => {
    const h = await setup('cache');
    try {
      await Promise.all([h.bodies(), h.bodies()]);
      const cacheSize = (db: SqliteConnection): number => (db.prepare('PRAGMA cache_size').get() as { cache_size: number }).cache_size;
      const readers = (h.db.feed as unknown as { idle: Engine[] }).idle;
      assert.equal(readers.length, 2);
      for (const r of readers) assert.equal(cacheSize(r.db), -READER_CACHE_KIB);
      assert.equal(cacheSize((h.db as unknown as { engine: Engine }).engine.db), -2000);
    } finally {
      await h.close();
    }
  });

  it('a push in parts keeps the staging area open until nothing is staged; the parts merge whole', async () => {
    const h = await setup('parts');
    const a = client();
    const b = client();
    try {
      h.db.sink.dropIncomplete(a.origin);
      assert.equal(h.staging(), 0);
      const [whole] = a.write("INSERT INTO notes VALUES ('a1', 'first'), ('a2', 'second')");
      const part = (complete: boolean, changes: Batch['changes']): Batch => ({ changes, version: whole!.version, complete });
      assert.equal(await h.db.sink.receive(part(false, whole!.changes.slice(0, 1)), a.origin), undefined);
      assert.ok(h.staging() > 0, 'a part waits in the staging area');
      // Another client's session starts meanwhile: a's part stays staged (and open).
      h.db.sink.dropIncomplete(b.origin);
      for (const x of b.write("INSERT INTO notes VALUES ('b1', 'from b')")) await h.db.sink.receive(x, b.origin);
      assert.ok(h.staging() > 0, "a's part is still staged");
      assert.deepEqual(await h.bodies(), ['from b'], 'nothing of the part merged yet');
      await h.db.sink.receive(part(true, whole!.changes.slice(1)), a.origin);
      assert.deepEqual(await h.bodies(), ['first', 'from b', 'second'], 'the whole transaction merged');
      // The next session's start finds nothing staged: closed, and not reopened by later ones.
      h.db.sink.dropIncomplete(b.origin);
      assert.equal(h.staging(), 0, 'nothing staged: closed');
      h.db.sink.dropIncomplete(a.origin);
      assert.equal(h.staging(), 0);
      assert.equal((h.db.feed as unknown as { stagingOpen: boolean }).stagingOpen, false);
    } finally {
      a.close();
      b.close();
      await h.close();
    }
  });

  it('a part left staged across a restart is kept for other sessions and dropped by its own', async () => {
    const h = await setup('restart');
    const a = client();
    const b = client();
    try {
      h.db.sink.dropIncomplete(a.origin);
      const [whole] = a.write("INSERT INTO notes VALUES ('a1', 'first'), ('a2', 'second')");
      await h.db.sink.receive({ changes: whole!.changes.slice(0, 1), version: whole!.version, complete: false }, a.origin);
      await h.restart();
      assert.equal(h.staging(), 0, 'not opened by the reopen');
      h.db.sink.dropIncomplete(b.origin);
      assert.ok(h.staging() > 0, "a's part is still there: kept open");
      h.db.sink.dropIncomplete(a.origin);
      assert.equal(h.staging(), 0, "a's session dropped its part: nothing staged, closed");
      // A complete push of a's after its dropped part: only what came after it lands.
      await h.db.sink.receive({ changes: whole!.changes.slice(1), version: whole!.version, complete: true }, a.origin);
      assert.deepEqual(await h.bodies(), ['second']);
      const stage = new Staging(join(h.files, 'restart.staging.db'));
      try {
        assert.equal(stage.empty(), true, 'nothing left in the staging area');
      } finally {
        stage.close();
      }
    } finally {
      a.close();
      b.close();
      await h.close();
    }
  });

  it("a repository's feed opens its data_version watch for its first follower, not before", async () => {
    const dir = tempDir();
    const path = join(dir, 'repo.db');
    const db = openDatabase(path);
    const engine = Engine.open(db);
    db.exec('CREATE TABLE notes(id TEXT PRIMARY KEY NOT NULL, body TEXT)');
    engine.asCrr('notes');
    const feed = new RepoFeed({ dbPath: path, engine }, () => new Staging(join(dir, 'staging.db')));
    const wal = (): number => handlesUnder(`${path}-wal`);
    const ac = new AbortController();
    try {
      assert.equal(wal(), 1, 'the repository connection only');
      const woke = feed.changed(ac.signal);
      assert.equal(wal(), 2, 'the watch connection, for the follower');
      // Another connection commits: the follower hears of it.
      const other = openDatabase(path);
      other.exec("INSERT INTO notes VALUES ('x', 'y')");
      other.close();
      await woke;
      assert.ok(engine.dbVersion() > 0);
    } finally {
      ac.abort();
      feed.stop();
      assert.equal(wal(), 1, 'closed with the feed');
      db.close();
    }
  });
});
