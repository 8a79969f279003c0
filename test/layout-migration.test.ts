/**
 * A repository written by ddcp before the row-level clock layout (test/fixtures/layout-v1, made by
 * its make.ts with that version's code) opens with today's engine and reads and merges exactly as it
 * did then: the same changes, byte for byte, from 0 and from a later version, the same merge counts,
 * changes and rows after merging another site's changes — and nothing of its clocks is lost.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Engine } from '../src/engine/engine.ts';
import { openDatabase } from '../src/engine/sqlite.ts';
import type { Change } from '../src/engine/change.ts';
import { formatChange, parseChange } from '../src/sync/jsonl.ts';
import { dumpRows } from './fixtures/layout-v1/shape.ts';

const FIXTURE = join(import.meta.dirname, 'fixtures', 'layout-v1');
const read = (name: string): string => readFileSync(join(FIXTURE, name), 'utf8');
const lines = (cs: Iterable<Change>): string => [...cs].map((c) => formatChange(c) + '\n').join('');

/** A copy of the fixture database (the fixture itself is never opened for writing). */
function openCopy(): { engine: Engine; done: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'ddcp-layout-v1-'));
  const file = join(dir, 'repo.db');
  copyFileSync(join(FIXTURE, 'repo.db'), file);
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
