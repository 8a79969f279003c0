/**
 * An open hosted database (embedded SQLite) closes the readers of its read pool once they went
 * unused for a while, all of them: a database a quiet follower holds open (so neither the idle close
 * nor `--max-open` closes it) kept every reader a burst of reads opened — 2 file handles and ~300 KiB
 * each, 8 after 8 reads at once — for as long as it was held, and later still its last one. Reads
 * afterwards work (on a new reader) and see the latest data; a reader in use is never closed.
 *
 * What a closed reader gives back: its WAL handle and its memory. Its database-file handle SQLite's
 * unix VFS keeps (for the POSIX locks the writer holds on that file: a WAL-mode connection keeps a
 * shared lock while open) and hands to the next connection opened on it, so those stay at the peak
 * until the database closes: counted here as `handles` (all) and `wal` (the WAL's, one per connection).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Engine, type SqliteConnection } from '../src/engine/index.ts';
import type { Batch } from '../src/sync/batches.ts';
import type { HubDatabase } from '../src/hub/storage/port.ts';
import { SqliteHubStore } from '../src/hub/storage/sqlite/store.ts';
import { Gate } from '../src/sync/gate.ts';
import { readBatches } from '../src/repo/feed.ts';
import { tempDir } from './support/cli.ts';
import { freshCopy } from './support/fresh-copy.ts';
import { handlesUnder } from './support/handles.ts';

const NOBODY = new Uint8Array(16);
const TRIM_MS = 200;
const LONG = 60_000;

/** A store with a short trim time, one held database with `notes`, and a client pushing to it. */
async function setup(name: string) {
  const dir = tempDir();
  const store = new SqliteHubStore(dir, { idleCloseMs: LONG, readerTrimMs: TRIM_MS });
  const client: SqliteConnection = freshCopy('reader-trim-notes', (d, e) => {
    d.exec('CREATE TABLE notes(id INTEGER PRIMARY KEY NOT NULL, body TEXT)');
    e.asCrr('notes');
  });
  const engine = Engine.open(client);
  const origin = { siteId: engine.siteId, peer: 'u', source: 'c', gate: new Gate(() => ({ read: 'all', write: 'all' })) };
  const db = (await store.open(name, { app: 'a', user: 'u' })) as HubDatabase;
  await db.declare(engine.crrs());
  db.sink.dropIncomplete(origin);
  let pushed = 0;
  const push = async (body: string): Promise<void> => {
    client.prepare('INSERT INTO notes (body) VALUES (?)').run(body);
    engine.seal();
    for (const b of readBatches(engine, pushed, { exceptSite: NOBODY })) if (b.changes.length > 0) await db.sink.receive(b, origin);
    pushed = engine.currentDbVersion();
  };
  const bodies = async (): Promise<string[]> => {
    const out: string[] = [];
    for await (const b of db.feed.batches(0, { exceptSite: NOBODY })) for (const c of b.changes) if (c.cid === 'body') out.push(String(c.val));
    return out.sort();
  };
  const handles = (): number => handlesUnder(join(dir, 'databases/'));
  /** Open connections on the database: each holds one handle on its WAL. */
  const wal = (): number => handlesUnder(join(dir, 'databases', `${name}.db-wal`));
  const close = async (): Promise<void> => {
    db.release!();
    await store.close();
    client.close();
  };
  return { store, db, push, bodies, handles, wal, close };
}

describe('hub (SQLite): an open database closes its spare readers after a quiet spell', () => {
  it('after 8 reads at once and a quiet spell, a held database is back to its writer alone; reads still see the latest data', async () => {
    const { store, push, bodies, handles, wal, close } = await setup('burst');
    try {
      await push('one');
      assert.deepEqual(await bodies(), ['one']);
      const floor = wal(); // the writer and one reader
      const burst = await Promise.all(Array.from({ length: 8 }, () => bodies()));
      assert.ok(burst.every((b) => b.join() === 'one'));
      const peak = handles();
      assert.equal(wal(), floor + 7, '8 readers open after 8 reads at once');
      await sleep(TRIM_MS * 3);
      assert.equal(wal(), floor - 1, 'readers closed: back to the writer alone');
      assert.equal(handles(), peak - 8, 'their WAL handles given back');
      assert.equal(store.openDatabases, 1, 'the database stays open (held)');
      await push('two');
      assert.deepEqual(await bodies(), ['one', 'two'], 'a read afterwards works and sees the latest push');
      // Another burst opens readers again (on the database handles SQLite kept: no more than the peak), and they go again.
      await Promise.all(Array.from({ length: 4 }, () => bodies()));
      assert.equal(wal(), floor + 3);
      assert.ok(handles() <= peak);
      await sleep(TRIM_MS * 3);
      assert.equal(wal(), floor - 1);
      assert.equal(handles(), peak - 8);
    } finally {
      await close();
    }
  });

  it('readers taken within the quiet spell stay; only those unused for it are closed', async () => {
    const { db, push, bodies, wal, close } = await setup('steady');
    try {
      await push('one');
      await Promise.all(Array.from({ length: 4 }, () => bodies()));
      const four = wal(); // the writer and 4 readers
      // Two reads at once every tenth of the trim time: two readers in use, two spare.
      for (let t = 0; t < 30; t++) {
        await Promise.all([bodies(), bodies()]);
        await sleep(TRIM_MS / 10);
      }
      assert.equal(wal(), four - 2, 'the two readers unused for a whole spell closed, the two in use kept');
      assert.equal((db.feed as unknown as { trimmed: number }).trimmed, 2);
      await sleep(TRIM_MS * 3);
      assert.equal(wal(), four - 4, 'then the writer alone when quiet');
    } finally {
      await close();
    }
  });

  it('a reader in use across the sweep is not closed: a long read finishes', async () => {
    const { db, push, bodies, wal, close } = await setup('long');
    try {
      for (let i = 0; i < 5; i++) await push(`note ${i}`);
      await bodies();
      const floor = wal(); // the writer and one reader
      await Promise.all(Array.from({ length: 4 }, () => bodies()));
      // A read left part-way (its reader out of the pool) while the spare readers go.
      const long = db.feed.batches(0, { exceptSite: NOBODY })[Symbol.asyncIterator]();
      const got: Batch[] = [];
      const first = await long.next();
      got.push(first.value as Batch);
      await push('during');
      await sleep(TRIM_MS * 3);
      assert.equal(wal(), floor, 'idle readers closed, the one in use kept');
      for (let r = await long.next(); !r.done; r = await long.next()) got.push(r.value);
      const seen = got.flatMap((b) => b.changes).filter((c) => c.cid === 'body').map((c) => String(c.val)).sort();
      assert.deepEqual(seen, ['note 0', 'note 1', 'note 2', 'note 3', 'note 4'], 'the long read finished in its own snapshot');
      assert.deepEqual((await bodies()).length, 6, 'a new read sees the push made meanwhile');
      await sleep(TRIM_MS * 3);
      assert.equal(wal(), floor - 1, 'once given back and unused, it goes too');
    } finally {
      await close();
    }
  });
});
