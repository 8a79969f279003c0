/**
 * A hosted SQLite database's writer checkpoints its WAL every 10,000 pages, not SQLite's 1,000 (see
 * src/hub/storage/sqlite/checkpoint.ts: a one-change commit rewrote the same bookkeeping pages into
 * the file, and synced, every ~110 commits), and cuts the WAL file back to 4 MiB when it restarts.
 * Checked on the connection and by what the WAL holds: 3,000 one-change pushes (~9 pages each)
 * stay in the WAL, where the default would have folded them into the database file.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { packColumns, type Engine } from '../src/engine/index.ts';
import type { HubDatabase } from '../src/hub/storage/port.ts';
import { HOSTED_CHECKPOINT_PAGES, HOSTED_WAL_KEEP_BYTES } from '../src/hub/storage/sqlite/checkpoint.ts';
import { SqliteHubStore } from '../src/hub/storage/sqlite/store.ts';
import { Gate } from '../src/sync/gate.ts';
import { tempDir } from './support/cli.ts';

describe('hub (SQLite): a hosted database checkpoints its WAL every 10,000 pages', () => {
  it('sets the writer so, and 3,000 one-change pushes stay in the WAL', async () => {
    const dir = tempDir();
    const store = new SqliteHubStore(dir);
    try {
      // The embedded store's database: its engine (the writer connection) and file are its own.
      const hosted = (await store.open('db1', { app: 'a', user: 'u' })) as HubDatabase & { engine: Engine; dbPath: string };
      await hosted.declare([{ name: 'notes', pks: ['id'], columns: ['body'] }]);
      const db = hosted.engine.db;
      const pragma = (name: string): number => Number((db.prepare(`PRAGMA ${name}`).get() as Record<string, unknown>)[name]);
      assert.equal(pragma('wal_autocheckpoint'), HOSTED_CHECKPOINT_PAGES);
      assert.equal(pragma('journal_size_limit'), HOSTED_WAL_KEEP_BYTES);
      const gate = new Gate(() => ({ read: 'all', write: 'all' }));
      const from = { siteId: randomBytes(16), peer: 'u', source: 'c', gate };
      for (let v = 1; v <= 3000; v++) {
        await hosted.sink.receive({ version: v, complete: true, changes: [{ table: 'notes', pk: packColumns([`r${v % 500}`]), cid: 'body', val: `v${v}`, colVersion: v, dbVersion: v, siteId: from.siteId, seq: 0, cl: 1 }] }, from);
      }
      // More than the default's 1,000 pages were committed, none checkpointed yet: the WAL holds them all.
      const frames = (statSync(join(hosted.dbPath + '-wal')).size - 32) / (4096 + 24);
      assert.ok(frames > 3 * 1000, `WAL frames ${frames}`);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
