/**
 * The connection settings a Documents object gives its engine's connection (connection.ts): raised
 * to the documents' needs, never lowered below what the app chose, and left alone when asked.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Engine, openDatabase, type SqliteConnection } from '../engine/index.ts';
import { DEFAULT_PAGE_CACHE_BYTES, WAL_CHECKPOINT_PAGES } from './connection.ts';
import { Documents } from './documents.ts';

const dir = mkdtempSync(join(tmpdir(), 'ddcp-docs-connection-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const open = (): Engine => Engine.open(openDatabase(join(dir, `${n++}.db`)));
const pragma = (db: SqliteConnection, name: string): number => Number((db.prepare(`PRAGMA ${name}`).get() as Record<string, unknown>)[name]);

describe('Documents connection settings', () => {
  it('raises the page cache and the WAL auto-checkpoint, and keeps temporary storage in memory, by default', () => {
    const e = open();
    new Documents(e);
    assert.equal(pragma(e.db, 'cache_size'), -DEFAULT_PAGE_CACHE_BYTES / 1024);
    assert.equal(pragma(e.db, 'wal_autocheckpoint'), WAL_CHECKPOINT_PAGES);
    assert.equal(pragma(e.db, 'temp_store'), 2);
    e.db.close();
  });

  it('never lowers a larger setting, nor turns on a checkpoint the app turned off', () => {
    const e = open();
    e.db.exec('PRAGMA cache_size = 100000; PRAGMA wal_autocheckpoint = 0; PRAGMA temp_store = FILE'); // 100,000 pages of 4 KiB > 64 MiB
    new Documents(e);
    assert.equal(pragma(e.db, 'cache_size'), 100000);
    assert.equal(pragma(e.db, 'wal_autocheckpoint'), 0);
    assert.equal(pragma(e.db, 'temp_store'), 1);
    e.db.close();
  });

  it('leaves the connection as it is with pageCacheBytes 0', () => {
    const e = open();
    const cache = pragma(e.db, 'cache_size');
    const checkpoint = pragma(e.db, 'wal_autocheckpoint');
    const temp = pragma(e.db, 'temp_store');
    new Documents(e, { pageCacheBytes: 0 });
    assert.equal(pragma(e.db, 'cache_size'), cache);
    assert.equal(pragma(e.db, 'wal_autocheckpoint'), checkpoint);
    assert.equal(pragma(e.db, 'temp_store'), temp);
    e.db.close();
  });
});
