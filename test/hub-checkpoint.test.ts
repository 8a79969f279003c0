/**
 * A hosted database's WAL is checkpointed by a worker thread, not by the commit that fills it
 * (sqlite/checkpointer.ts): the writer's automatic checkpoint is off, yet the WAL stays bounded under
 * a stream of commits and starts over; a reader pinning it lets it grow, and once the reader is gone
 * a TRUNCATE checkpoint empties the file; databases closed (idle close) while their checkpoint is
 * queued or running, and reopened at once, lose nothing and close consistent and checkpointed.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Engine, openDatabase, packColumns } from '../src/engine/index.ts';
import type { HubDatabase } from '../src/hub/storage/port.ts';
import type { Checkpointer } from '../src/hub/storage/sqlite/checkpointer.ts';
import { SqliteHubStore, type SqliteHubStoreOptions } from '../src/hub/storage/sqlite/store.ts';
import { WalIndexReader } from '../src/hub/storage/sqlite/wal-index.ts';
import { Gate } from '../src/sync/gate.ts';
import { tempDir } from './support/cli.ts';

const OWNER = { app: 'a', user: 'u' };

/** A pusher of single-row changes (`row N` ← body) into hosted databases, one version after another. */
function pusher() {
  const origin = { siteId: randomBytes(16), peer: 'u', source: 'c', gate: new Gate(() => ({ read: 'all', write: 'all' })) };
  let v = 0;
  return (db: HubDatabase, row: number, body = `${'x'.repeat(200)} ${v + 1}`) => {
    const version = ++v;
    return db.sink.receive({ version, complete: true, changes: [{ table: 'notes', pk: packColumns([`row ${row}`]), cid: 'body', val: body, colVersion: version, dbVersion: version, siteId: origin.siteId, seq: 0, cl: 1 }] }, origin);
  };
}

async function hosted(dir: string, options: SqliteHubStoreOptions, name = 'db1') {
  const store = new SqliteHubStore(dir, options);
  const db = (await store.open(name, OWNER))!;
  await db.declare([{ name: 'notes', pks: ['id'], columns: ['body'] }]);
  return { store, db, path: `${dir}/databases/${name}.db`, checkpointer: store.checkpointer! };
}

const writerOf = (db: HubDatabase) => (db as unknown as { engine: Engine }).engine.db;

async function until(what: string, test: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!test()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

describe('hub (sqlite): WAL checkpoints off the event loop', () => {
  it('the writer never checkpoints, yet the WAL stays bounded and starts over under a stream of commits', async () => {
    const dir = tempDir();
    const { store, db, path, checkpointer } = await hosted(dir, { checkpointPages: 50, walHardPages: 100_000 });
    assert.equal((writerOf(db).prepare('PRAGMA wal_autocheckpoint').get() as { wal_autocheckpoint: number }).wal_autocheckpoint, 0);
    const push = pusher();
    const index = WalIndexReader.open(path)!;
    let max = 0;
    let restarts = 0;
    let last = index.read()!.frames;
    let written = 0;
    for (let i = 0; i < 1500; i++) {
      await push(db, i % 300);
      const fill = index.read()!;
      max = Math.max(max, fill.frames);
      if (fill.frames < last) restarts++;
      written += fill.frames < last ? fill.frames : fill.frames - last;
      last = fill.frames;
      // Now and then a pause, as between a hub's commits: a checkpoint can catch up with the writer.
      if (i % 100 === 99) await sleep(20);
    }
    // Without checkpoints the WAL would hold every frame written. How far past 50 frames it gets
    // depends on how soon the thread answers (on a loaded machine, later), not on how many were written.
    assert.ok(checkpointer.checkpoints > 0, 'the thread checkpointed');
    assert.ok(restarts >= 3, `the WAL started over (${restarts} times, max ${max} frames)`);
    assert.ok(max < written / 2, `the WAL stayed bounded: at most ${max} of ${written} frames written`);
    // Once the thread caught up, the next commits start the WAL over.
    for (let i = 0; i < 20; i++) {
      await until('the checkpoint', () => checkpointer.pending === 0);
      await push(db, i);
    }
    assert.ok(index.read()!.frames < 200, `started over: ${index.read()!.frames} frames`);
    index.close();
    db.release?.();
    await store.close();
    const check = openDatabase(path);
    assert.equal((check.prepare('SELECT count(*) AS n FROM notes').get() as { n: number }).n, 300);
    check.close();
  });

  it('a reader pinning the WAL lets it grow; once it is gone a TRUNCATE checkpoint empties the file', async () => {
    const dir = tempDir();
    const { store, db, path, checkpointer } = await hosted(dir, { checkpointPages: 20, walHardPages: 200 });
    const push = pusher();
    for (let i = 0; i < 20; i++) await push(db, i);
    const reader = new DatabaseSync(path);
    reader.exec('BEGIN');
    reader.prepare('SELECT count(*) FROM notes').get(); // a snapshot: no checkpoint may copy past it
    const index = WalIndexReader.open(path)!;
    for (let i = 0; index.read()!.frames < 400; i++) {
      await push(db, i % 50);
      if (i % 20 === 0) await sleep(1);
    }
    assert.equal(checkpointer.truncations, 0, 'nothing truncated while the reader holds its snapshot');
    const pinned = statSync(`${path}-wal`).size;
    reader.exec('COMMIT');
    reader.close();
    for (let i = 0; checkpointer.truncations === 0; i++) {
      if (i > 2_000) assert.fail('no TRUNCATE checkpoint after the reader ended');
      await push(db, i % 50);
      await sleep(2);
    }
    index.close();
    assert.ok(statSync(`${path}-wal`).size < pinned / 4, `the WAL file was cut: ${statSync(`${path}-wal`).size} of ${pinned} bytes`);
    db.release?.();
    await store.close();
  });

  it('databases closed while their checkpoint is queued or running, and reopened at once, lose nothing', async () => {
    const dir = tempDir();
    const options = { checkpointPages: 10, walHardPages: 40, idleCloseMs: 0 };
    const store = new SqliteHubStore(dir, options);
    const checkpointer: Checkpointer = store.checkpointer!;
    const push = pusher();
    const names = ['d0', 'd1', 'd2'];
    for (const n of names) {
      const db = (await store.open(n, OWNER))!;
      await db.declare([{ name: 'notes', pks: ['id'], columns: ['body'] }]);
      db.release?.();
    }
    const expected = new Map<string, Map<number, string>>(names.map((n) => [n, new Map()]));
    let closedAsking = 0;
    for (let round = 0; round < 40; round++) {
      const n = names[round % names.length]!;
      const db = (await store.open(n, OWNER))!;
      for (let i = 0; i < 30 && (i < 3 || checkpointer.pending === 0); i++) {
        const body = `${n} ${round} ${i} ${'y'.repeat(300)}`;
        await push(db, i % 7, body);
        expected.get(n)!.set(i % 7, body);
      }
      if (checkpointer.pending > 0) closedAsking++;
      db.release?.(); // closed on the next turn (idle time 0), the checkpoint still out
      if (round % 2 === 0) await until('the close', () => store.openDatabases === 0);
    }
    assert.ok(closedAsking >= 10, `closed with a checkpoint out in ${closedAsking} of 40 rounds`);
    await store.close();
    for (const n of names) {
      const path = `${dir}/databases/${n}.db`;
      // The thread's connection closed last: SQLite checkpointed and removed the WAL.
      assert.equal(existsSync(`${path}-wal`), false, `${n}: WAL removed at close`);
      const check = openDatabase(path);
      assert.equal((check.prepare('PRAGMA integrity_check').get() as { integrity_check: string }).integrity_check, 'ok');
      const rows = check.prepare('SELECT id, body FROM notes').all() as { id: string; body: string }[];
      check.close();
      assert.deepEqual(new Map(rows.map((r) => [Number(r.id.slice(4)), r.body])), expected.get(n), n);
    }
    // And they open again with everything.
    const again = new SqliteHubStore(dir, options);
    const db = (await again.open('d1', OWNER))!;
    assert.ok((await db.info()).tables.length === 1);
    db.release?.();
    await again.close();
  });

  it('if the thread dies, the writers checkpoint themselves again (SQLite automatic checkpoint)', async () => {
    const dir = tempDir();
    const { store, db, path, checkpointer } = await hosted(dir, { checkpointPages: 20 });
    const push = pusher();
    for (let i = 0; checkpointer.checkpoints === 0; i++) {
      if (i > 5_000) assert.fail('no checkpoint');
      await push(db, i % 50);
      if (i % 10 === 0) await sleep(1);
    }
    await (checkpointer as unknown as { worker: { terminate(): Promise<number> } }).worker.terminate();
    await sleep(20);
    for (let i = 0; checkpointer.onLoop === 0; i++) {
      if (i > 5_000) assert.fail('the writer did not take its checkpoints back');
      await push(db, i % 50);
    }
    assert.equal((writerOf(db).prepare('PRAGMA wal_autocheckpoint').get() as { wal_autocheckpoint: number }).wal_autocheckpoint, 20);
    const index = WalIndexReader.open(path)!;
    for (let i = 0; i < 300; i++) await push(db, i % 50);
    assert.ok(index.read()!.frames < 200, 'bounded by the automatic checkpoint');
    index.close();
    db.release?.();
    await store.close();
  });
});
