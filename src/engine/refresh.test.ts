/**
 * The engine's caches of the CRR list and site ordinals are reloaded only when they may be stale
 * (Engine.refresh): another connection committed, or an ordinal this connection added was rolled
 * back. A cache that kept a rolled-back ordinal would file a later site's changes under another's.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Change } from './change.ts';
import { Engine } from './engine.ts';
import { openDatabase } from './sqlite.ts';

const SCHEMA = 'CREATE TABLE notes (id TEXT PRIMARY KEY NOT NULL, body TEXT)';

function open(path = ':memory:'): Engine {
  const e = Engine.open(openDatabase(path));
  e.db.exec(SCHEMA);
  e.asCrr('notes');
  return e;
}

/** A replica that wrote one row: its changes. */
function writer(id: string): { site: Uint8Array; changes: Change[] } {
  const e = open();
  e.db.exec(`INSERT INTO notes VALUES ('${id}', 'by ${id}')`);
  return { site: e.siteId, changes: [...e.changesSince(0)] };
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** The origin site of each row's changes, as read back. */
function origins(e: Engine): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const c of e.changesSince(0)) {
    const key = hex(c.pk);
    let s = out.get(key);
    if (!s) out.set(key, (s = new Set()));
    s.add(hex(c.siteId));
  }
  return out;
}

describe('engine caches across transactions', () => {
  it('forgets a site ordinal whose transaction rolled back (a failed group commit)', () => {
    const hub = open();
    const x = writer('x');
    const y = writer('y');
    hub.db.exec('BEGIN IMMEDIATE');
    hub.applyChanges(x.changes, { source: 'x', trackPeer: { siteId: x.site, version: 1 } });
    hub.db.exec('ROLLBACK'); // the caller's transaction failed: x's ordinal is gone from the table
    hub.applyChanges(y.changes, { source: 'y' }); // y may now get the ordinal x had
    hub.applyChanges(x.changes, { source: 'x' }); // x must get one of its own, not y's
    const seen = origins(hub);
    const xs = new Set(x.changes.map((c) => hex(c.pk)));
    for (const [pk, sites] of seen) assert.deepEqual([...sites], [hex(xs.has(pk) ? x.site : y.site)]);
    assert.equal(seen.size, 2);
  });

  it('sees the sites and tables another connection added', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ddcp-refresh-'));
    try {
      const path = join(dir, 'db.sqlite');
      const a = open(path);
      const b = Engine.open(openDatabase(path));
      const x = writer('x');
      assert.equal([...a.changesSince(0)].length, 0); // a's caches loaded before b writes
      b.applyChanges(x.changes, { source: 'x', direct: x.site });
      // Leaving x's own changes out needs x's ordinal, which only b added.
      assert.equal([...a.changesSince(0, { exceptSite: x.site })].length, 0);
      assert.equal([...a.changesSince(0)].length, x.changes.length);
      b.db.exec('CREATE TABLE tags (id TEXT PRIMARY KEY NOT NULL, name TEXT)');
      b.asCrr('tags');
      assert.deepEqual(
        a.crrs().map((t) => t.name),
        ['notes', 'tags'],
      );
      a.db.close();
      b.db.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
