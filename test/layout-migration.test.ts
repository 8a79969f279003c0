/**
 * A repository written by ddcp before the row-level clock layout (test/fixtures/layout-v1, made by
 * its make.ts with that version's code) opens with today's engine and reads and merges exactly as it
 * did then: the same changes, byte for byte, from 0 and from a later version, the same merge counts,
 * changes and rows after merging another site's changes — and nothing of its clocks is lost. So does
 * one written in format 2 (test/fixtures/layout-v2), whose rowid-alias tables' key maps are keyed
 * anew by their keys on open, and one written in format 3 (test/fixtures/layout-v3), whose deleted
 * rows have no row clock left at all where today's deletes leave its db_version, site and seq, and
 * one written in format 4 (test/fixtures/layout-v4), whose sentinels move from the key map to a table
 * of their own on open, every clock kept.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Engine } from '../src/engine/engine.ts';
import { DatabaseSync } from 'node:sqlite';
import { openDatabase, type SqliteConnection } from '../src/engine/sqlite.ts';
import { FORMAT_VERSION } from '../src/engine/state.ts';
import type { Change } from '../src/engine/change.ts';
import { formatChange, parseChange } from '../src/sync/jsonl.ts';
import { dumpRows } from './fixtures/layout-v1/shape.ts';
import { dumpRows as dumpRowsV2 } from './fixtures/layout-v2/shape.ts';
import { dumpRows as dumpRowsV3 } from './fixtures/layout-v3/shape.ts';
import { dumpClocks as dumpClocksV4, dumpRows as dumpRowsV4 } from './fixtures/layout-v4/shape.ts';

const FIXTURE = join(import.meta.dirname, 'fixtures', 'layout-v1');
const FIXTURE_V2 = join(import.meta.dirname, 'fixtures', 'layout-v2');
const read = (name: string, fixture = FIXTURE): string => readFileSync(join(fixture, name), 'utf8');
const lines = (cs: Iterable<Change>): string => [...cs].map((c) => formatChange(c) + '\n').join('');

/** A copy of the fixture database (the fixture itself is never opened for writing). */
function openCopy(fixture = FIXTURE): { engine: Engine; done: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'ddcp-layout-'));
  const file = join(dir, 'repo.db');
  copyFileSync(join(fixture, 'repo.db'), file);
  const engine = Engine.open(openDatabase(file));
  return {
    engine,
    done: () => {
      engine.db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe('a repository written before the row-level clock layout', () => {
  it('reads the same changes, byte for byte, after opening', () => {
    const { engine, done } = openCopy();
    try {
      // Moved to the row-level layout: the per-cell clock table is now a view over the key map and overrides.
      const kinds = engine.db.prepare(`SELECT name, type FROM sqlite_master WHERE name IN ('items__ddcp_clock', 'items__ddcp_cells') ORDER BY name`).all() as { name: string; type: string }[];
      assert.deepEqual(kinds.map((r) => `${r.name} ${r.type}`), ['items__ddcp_cells table', 'items__ddcp_clock view']);
      assert.equal(lines(engine.changesSince(0)), read('changes.jsonl'));
      assert.equal(lines(engine.changesSince(3)), read('changes-since-3.jsonl'));
    } finally {
      done();
    }
  });

  it('merges another site’s changes exactly as before: counts, changes and rows', () => {
    const { engine, done } = openCopy();
    try {
      const incoming = read('incoming.jsonl').split('\n').filter(Boolean).map((l, i) => parseChange(l, i + 1));
      const r = engine.applyChanges(incoming);
      assert.deepEqual({ received: r.received, applied: r.applied }, JSON.parse(read('merge.json')));
      assert.equal(lines(engine.changesSince(0)), read('merged.jsonl'));
      assert.equal(dumpRows(engine.db), read('rows.txt'));
    } finally {
      done();
    }
  });

  it('opens again after the first open as the same repository', () => {
    const { engine, done } = openCopy();
    try {
      const first = lines(engine.changesSince(0));
      const again = Engine.open(engine.db);
      assert.equal(lines(again.changesSince(0)), first);
    } finally {
      done();
    }
  });
});

describe('a repository written in format 2 (key maps numbered beside a copy of the key)', () => {
  /** The key map's stored columns besides its clocks, and whether it has a UNIQUE index. */
  const keyMap = (e: Engine, t: string): string => {
    const cols = (e.db.prepare(`PRAGMA table_xinfo("${t}__ddcp_pks")`).all() as { name: string; hidden: number | bigint }[]).filter((c) => !c.name.startsWith('__ddcp_'));
    const unique = (e.db.prepare(`PRAGMA index_list("${t}__ddcp_pks")`).all() as { unique: number | bigint }[]).some((i) => Number(i.unique) === 1);
    return `${cols.map((c) => `${c.name}${Number(c.hidden) !== 0 ? ' (generated)' : ''}`).join(', ')}${unique ? ' UNIQUE' : ''}`;
  };

  it('is moved to format 3 on open: rowid-alias tables keyed by their keys, others as they were, nothing lost', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ddcp-layout-'));
    const file = join(dir, 'repo.db');
    copyFileSync(join(FIXTURE_V2, 'repo.db'), file);
    const before = new DatabaseSync(file);
    const count = (db: SqliteConnection, sql: string): number => Number((db.prepare(sql).get() as { n: number | bigint }).n);
    const counts = (db: SqliteConnection): number[] => ['items', 'big', 'desc', 'pairs'].flatMap((t) => [`SELECT count(*) AS n FROM "${t}__ddcp_pks"`, `SELECT count(*) AS n FROM "${t}__ddcp_cells"`, `SELECT count(*) AS n FROM "${t}__ddcp_log"`].map((q) => count(db, q)));
    const was = counts(before);
    assert.equal(count(before, `SELECT value AS n FROM ddcp_state WHERE key = 'format'`), 2);
    assert.ok(count(before, 'SELECT count(*) AS n FROM items__ddcp_cells') > 0, 'the fixture has overrides to remap');
    before.close();
    const engine = Engine.open(openDatabase(file));
    try {
      assert.equal(count(engine.db, `SELECT value AS n FROM ddcp_state WHERE key = 'format'`), FORMAT_VERSION);
      assert.deepEqual(['items', 'big', 'desc', 'pairs'].map((t) => keyMap(engine, t)), ['__key, id (generated)', '__key, id (generated)', '__key, id UNIQUE', '__key, g, n UNIQUE']);
      assert.deepEqual(counts(engine.db), was);
      // Every override of a rowid-alias table names a key-map row, and (the log sealed) every row has one.
      engine.seal();
      for (const t of ['items', 'big']) {
        assert.equal(count(engine.db, `SELECT count(*) AS n FROM ${t}__ddcp_cells o WHERE NOT EXISTS (SELECT 1 FROM ${t}__ddcp_pks p WHERE p.__key = o.key)`), 0);
        assert.equal(count(engine.db, `SELECT count(*) AS n FROM ${t} t WHERE NOT EXISTS (SELECT 1 FROM ${t}__ddcp_pks p WHERE p.__key = t.id)`), 0);
      }
    } finally {
      engine.db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads the same changes, byte for byte, after opening', () => {
    const { engine, done } = openCopy(FIXTURE_V2);
    try {
      assert.equal(lines(engine.changesSince(0)), read('changes.jsonl', FIXTURE_V2));
      assert.equal(lines(engine.changesSince(3)), read('changes-since-3.jsonl', FIXTURE_V2));
    } finally {
      done();
    }
  });

  it('merges another site’s changes exactly as before: counts, changes and rows', () => {
    const { engine, done } = openCopy(FIXTURE_V2);
    try {
      const incoming = read('incoming.jsonl', FIXTURE_V2).split('\n').filter(Boolean).map((l, i) => parseChange(l, i + 1));
      const r = engine.applyChanges(incoming);
      assert.deepEqual({ received: r.received, applied: r.applied }, JSON.parse(read('merge.json', FIXTURE_V2)));
      assert.equal(lines(engine.changesSince(0)), read('merged.jsonl', FIXTURE_V2));
      assert.equal(dumpRowsV2(engine.db), read('rows.txt', FIXTURE_V2));
    } finally {
      done();
    }
  });

  it('opens again after the first open as the same repository', () => {
    const { engine, done } = openCopy(FIXTURE_V2);
    try {
      const first = lines(engine.changesSince(0));
      const again = Engine.open(engine.db);
      assert.equal(lines(again.changesSince(0)), first);
      assert.equal(keyMap(again, 'items'), '__key, id (generated)');
    } finally {
      done();
    }
  });
});

const FIXTURE_V3 = join(import.meta.dirname, 'fixtures', 'layout-v3');

describe('a repository written in format 3 (before deletes kept their row clocks’ leftovers)', () => {
  const count = (db: SqliteConnection, sql: string): number => Number((db.prepare(sql).get() as { n: number | bigint }).n);

  it('opens as format 4 with nothing to move, and reads the same changes, byte for byte', () => {
    const before = new DatabaseSync(join(FIXTURE_V3, 'repo.db'), { readOnly: true });
    assert.equal(count(before, `SELECT value AS n FROM ddcp_state WHERE key = 'format'`), 3);
    assert.ok(count(before, 'SELECT count(*) AS n FROM items__ddcp_log') >= 64, 'the fixture has a run of deletes still to seal');
    before.close();
    const { engine, done } = openCopy(FIXTURE_V3);
    try {
      assert.equal(count(engine.db, `SELECT value AS n FROM ddcp_state WHERE key = 'format'`), FORMAT_VERSION);
      assert.equal(lines(engine.changesSince(0)), read('changes.jsonl', FIXTURE_V3));
      assert.equal(lines(engine.changesSince(3)), read('changes-since-3.jsonl', FIXTURE_V3));
      // The deletes sealed here (set-based) left their rows' clocks behind, which no read gave.
      assert.ok(count(engine.db, 'SELECT count(*) AS n FROM items__ddcp_pks WHERE __ddcp_cv IS NULL AND __ddcp_dbv IS NOT NULL') > 0);
    } finally {
      done();
    }
  });

  it('merges another site’s changes and deletes every row exactly as before: counts, changes and rows', () => {
    const { engine, done } = openCopy(FIXTURE_V3);
    try {
      const incoming = read('incoming.jsonl', FIXTURE_V3).split('\n').filter(Boolean).map((l, i) => parseChange(l, i + 1));
      const r = engine.applyChanges(incoming);
      assert.deepEqual({ received: r.received, applied: r.applied }, JSON.parse(read('merge.json', FIXTURE_V3)));
      assert.equal(lines(engine.changesSince(0)), read('merged.jsonl', FIXTURE_V3));
      assert.equal(dumpRowsV3(engine.db), read('rows.txt', FIXTURE_V3));
      engine.db.exec('DELETE FROM items; DELETE FROM pairs;');
      assert.equal(lines(engine.changesSince(0)), read('emptied.jsonl', FIXTURE_V3));
      assert.equal(lines(engine.changesSince(5)), read('emptied-since-5.jsonl', FIXTURE_V3));
    } finally {
      done();
    }
  });
});

const FIXTURE_V4 = join(import.meta.dirname, 'fixtures', 'layout-v4');

describe('a repository written in format 4 (sentinels in the key map)', () => {
  const count = (db: SqliteConnection, sql: string): number => Number((db.prepare(sql).get() as { n: number | bigint }).n);
  const columns = (db: SqliteConnection, t: string): string[] => (db.prepare(`PRAGMA table_xinfo("${t}__ddcp_pks")`).all() as { name: string }[]).map((c) => c.name);

  it('opens as format 5: the sentinels moved to their own table, every clock kept, the same changes byte for byte', () => {
    const before = new DatabaseSync(join(FIXTURE_V4, 'repo.db'), { readOnly: true });
    assert.equal(count(before, `SELECT value AS n FROM ddcp_state WHERE key = 'format'`), 4);
    for (const t of ['items', 'pairs']) assert.ok(columns(before, t).includes('__ddcp_cl'), `${t}'s key map holds the sentinels`);
    assert.ok(count(before, 'SELECT count(*) AS n FROM items__ddcp_pks WHERE __ddcp_cl IS NOT NULL') > 0, 'the fixture has sentinels to move');
    assert.ok(count(before, 'SELECT count(*) AS n FROM items__ddcp_pks WHERE __ddcp_cl_site <> 0') > 0, 'some stamped by another site');
    before.close();
    const { engine, done } = openCopy(FIXTURE_V4);
    try {
      assert.equal(count(engine.db, `SELECT value AS n FROM ddcp_state WHERE key = 'format'`), FORMAT_VERSION);
      for (const t of ['items', 'pairs']) {
        assert.deepEqual(columns(engine.db, t).filter((c) => c.startsWith('__ddcp_cl')), [], `${t}'s key map keeps no sentinel columns`);
        assert.ok(count(engine.db, `SELECT count(*) AS n FROM "${t}__ddcp_sentinels"`) > 0);
      }
      assert.equal(count(engine.db, `SELECT count(*) AS n FROM sqlite_master WHERE name LIKE '%__ddcp_pks_cl'`), 0);
      assert.equal(dumpClocksV4(engine.db), read('clocks.txt', FIXTURE_V4));
      assert.equal(lines(engine.changesSince(0)), read('changes.jsonl', FIXTURE_V4));
      assert.equal(lines(engine.changesSince(3)), read('changes-since-3.jsonl', FIXTURE_V4));
      const again = Engine.open(engine.db);
      assert.equal(lines(again.changesSince(0)), read('changes.jsonl', FIXTURE_V4));
    } finally {
      done();
    }
  });

  it('merges another site’s changes and deletes every row exactly as before: counts, changes and rows', () => {
    const { engine, done } = openCopy(FIXTURE_V4);
    try {
      const incoming = read('incoming.jsonl', FIXTURE_V4).split('\n').filter(Boolean).map((l, i) => parseChange(l, i + 1));
      const r = engine.applyChanges(incoming);
      assert.deepEqual({ received: r.received, applied: r.applied }, JSON.parse(read('merge.json', FIXTURE_V4)));
      assert.equal(lines(engine.changesSince(0)), read('merged.jsonl', FIXTURE_V4));
      assert.equal(dumpRowsV4(engine.db), read('rows.txt', FIXTURE_V4));
      engine.db.exec('DELETE FROM items; DELETE FROM pairs;');
      assert.equal(lines(engine.changesSince(0)), read('emptied.jsonl', FIXTURE_V4));
      assert.equal(lines(engine.changesSince(5)), read('emptied-since-5.jsonl', FIXTURE_V4));
    } finally {
      done();
    }
  });
});
