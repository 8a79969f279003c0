/**
 * TEXT that is not valid UTF-8 reaches every replica byte for byte. SQLite and cr-sqlite keep such
 * bytes as written (a plain sqlite3 client writes them with `CAST(X'FF80' AS TEXT)`); node:sqlite
 * reads them with U+FFFD in place of the bad bytes, and ddcp used to send that: the writer kept
 * `FF 80`, its peers stored `EF BF BD …`, for good. Every path is checked: the engine's reads
 * (changesSince, the change cursor behind `ddcp changes`, a merge's stored report), the merge, JSON
 * lines, the binary codec, cr-sqlite 0.16 both ways, and a tie decided on the real bytes.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Engine } from '../src/engine/engine.ts';
import type { Change } from '../src/engine/change.ts';
import { openDatabase, type SqliteConnection } from '../src/engine/sqlite.ts';
import { packValue, unpackValue } from '../src/engine/pack.ts';
import { SENTINEL } from '../src/engine/schema.ts';
import { StoredReport } from '../src/engine/stored.ts';
import { decodeChanges, encodeChanges } from '../src/sync/codec.ts';
import { ChangeLineWriter } from '../src/sync/jsonl-writer.ts';
import { formatChange, parseChanges } from '../src/sync/jsonl.ts';
import { crExport, crImport, openCrDirect, type CrDb } from './support/crsqlite.ts';

const SCHEMA = 'CREATE TABLE t (id TEXT PRIMARY KEY NOT NULL, v TEXT, n ANY)';
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** The rows' stored bytes: what a plain client sees, exactly. */
const stored = (db: SqliteConnection): string[] =>
  (db.prepare(`SELECT id, typeof(v) AS tv, hex(CAST(v AS BLOB)) AS v, typeof(n) AS tn, hex(CAST(n AS BLOB)) AS n FROM t ORDER BY id`).all() as Record<string, string>[]).map(
    (r) => `${r.id} ${r.tv}:${r.v} ${r.tn}:${r.n}`,
  );

/** A change's clock and value (packed, as hex): replicas agree on these whatever their db_versions. */
const clock = (c: Change): string => `${hex(c.pk)} ${c.cid} cv=${c.colVersion} cl=${c.cl} site=${hex(c.siteId)} ${hex(packValue(c.val))}`;
const clocks = (e: Engine): string[] => [...e.changesSince(0)].map(clock).sort();

/** A writer: ddcp on a file, plus a plain connection to it (a sqlite3 client, no ddcp). */
function writer(): { e: Engine; plain: SqliteConnection; done: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'ddcp-utf8-'));
  const path = join(dir, 'db.sqlite');
  const e = Engine.open(openDatabase(path));
  e.db.exec(SCHEMA);
  e.asCrr('t');
  const plain = openDatabase(path);
  return {
    e,
    plain,
    done: () => {
      plain.close();
      e.db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function replica(): Engine {
  const e = Engine.open(openDatabase(':memory:'));
  e.db.exec(SCHEMA);
  e.asCrr('t');
  return e;
}

/** Inserts written by the plain connection: invalid UTF-8, and a valid text holding a real U+FFFD. */
function insertAll(plain: SqliteConnection): void {
  plain.exec(`INSERT INTO t VALUES ('a', CAST(X'FF80' AS TEXT), CAST(X'61FF62' AS TEXT))`);
  plain.exec(`INSERT INTO t VALUES ('b', CAST(X'EFBFBD78' AS TEXT), CAST(X'C3A9C3' AS TEXT))`); // '\uFFFDx' (valid), 'é' + a cut sequence
  plain.exec(`INSERT INTO t VALUES ('c', CAST(X'EDA080F09F9880' AS TEXT), 'plain')`); // a UTF-16 surrogate in CESU form, then 😀
}

/** Updates by the plain connection: existing rows get other invalid text (the merge's update path). */
function updateAll(plain: SqliteConnection): void {
  plain.exec(`UPDATE t SET v = CAST(X'C0AF' AS TEXT) WHERE id = 'b'`);
  plain.exec(`UPDATE t SET n = CAST(X'80' AS TEXT) WHERE id = 'c'`);
}

/** The changes `ddcp changes` writes (the change cursor into JSON lines), read back as `ddcp apply` reads them. */
function throughLines(e: Engine, since: number): Change[] {
  const lines = new ChangeLineWriter(1 << 16);
  const out: Buffer[] = [];
  for (const _ of e.writeChanges(since, lines)) out.push(Buffer.from(lines.take()));
  out.push(Buffer.from(lines.take()));
  const text = Buffer.concat(out).toString('latin1'); // the lines are ASCII: hex values
  return [...parseChanges(text.split('\n').filter((l) => l !== ''))];
}

describe('TEXT that is not valid UTF-8 reaches every replica byte for byte', () => {
  it('through the engine, the change cursor and JSON lines, the binary codec and the stored report', () => {
    const w = writer();
    try {
      insertAll(w.plain);
      const want = stored(w.plain);
      assert.deepEqual(want, ['a text:FF80 text:61FF62', 'b text:EFBFBD78 text:C3A9C3', 'c text:EDA080F09F9880 text:706C61696E']);
      const viaApi = replica();
      const viaLines = replica();
      const viaCodec = replica();
      const reported = replica();
      const sync = (since: number): void => {
        const changes = [...w.e.changesSince(since)];
        viaApi.applyChanges(changes);
        viaLines.applyChanges(throughLines(w.e, since));
        viaCodec.applyChanges(decodeChanges(encodeChanges(changes)));
        // formatChange (the JSON line of one change) agrees with the cursor's writer.
        for (const c of changes) assert.deepEqual([...parseChanges([formatChange(c)])].map((x) => hex(packValue(x.val))), [hex(packValue(c.val))]);
      };
      sync(0);
      const v1 = w.e.dbVersion();
      updateAll(w.plain);
      const after = stored(w.plain);
      assert.notDeepEqual(after, want);
      sync(v1);
      for (const r of [viaApi, viaLines, viaCodec]) {
        assert.deepEqual(stored(r.db), after);
        assert.deepEqual(clocks(r), clocks(w.e));
      }
      // A merge's stored report gives what a read of the merged rows gives.
      const report = new StoredReport();
      const since = reported.dbVersion();
      reported.applyChanges([...viaApi.changesSince(0)], { report });
      assert.deepEqual(stored(reported.db), after);
      const fromReport = reported.storedChanges(report, since);
      assert.ok(fromReport);
      const show = (cs: Iterable<Change>): string[] => [...cs].map((c) => `${hex(c.pk)} ${c.cid} ${hex(packValue(c.val))}`).sort();
      assert.deepEqual(show(fromReport), show(reported.changesSince(since)));
      // The log's read of recent changes shows the same exact values.
      const cells = (cs: Iterable<Change>): Change[] => [...cs].filter((c) => c.cid !== SENTINEL);
      assert.deepEqual(show(cells(w.e.recentChanges({ limit: 100 }))), show(cells(w.e.changesSince(0))));
      // And a replica passes them on unchanged.
      const second = replica();
      second.applyChanges(throughLines(viaCodec, 0));
      assert.deepEqual(stored(second.db), after);
      assert.deepEqual(clocks(second), clocks(w.e));
    } finally {
      w.done();
    }
  });

  it('a tie between invalid UTF-8 and another text is decided on the real bytes, the same on both sides', () => {
    // FF 80 sorts above F0 90 80 80 (U+10000); its U+FFFD reading (EF BF BD EF BF BD) below.
    const a = writer();
    const b = writer();
    try {
      a.plain.exec(`INSERT INTO t VALUES ('k', CAST(X'FF80' AS TEXT), NULL)`);
      b.plain.exec(`INSERT INTO t VALUES ('k', CAST(X'F0908080' AS TEXT), NULL)`);
      const fromA = [...a.e.changesSince(0)];
      const fromB = [...b.e.changesSince(0)];
      a.e.applyChanges(fromB);
      b.e.applyChanges(fromA);
      assert.deepEqual(stored(a.plain), ['k text:FF80 null:'], 'the writer keeps its winning value');
      assert.deepEqual(stored(b.plain), ['k text:FF80 null:']);
      assert.deepEqual(clocks(a.e), clocks(b.e));
    } finally {
      a.done();
      b.done();
    }
  });
});

async function crStored(db: CrDb): Promise<string[]> {
  const rows = await db.execA<[string, string, string, string, string]>(`SELECT id, typeof(v), hex(CAST(v AS BLOB)), typeof(n), hex(CAST(n AS BLOB)) FROM t ORDER BY id`);
  return rows.map((r) => `${r[0]} ${r[1]}:${r[2]} ${r[3]}:${r[4]}`);
}

describe('TEXT that is not valid UTF-8 with cr-sqlite 0.16', () => {
  it('from cr-sqlite to ddcp and back, byte for byte, with the same clocks', async () => {
    const cr = await openCrDirect(`${SCHEMA}; SELECT crsql_as_crr('t');`);
    try {
      await cr.exec(`INSERT INTO t VALUES ('a', CAST(X'FF80' AS TEXT), CAST(X'61FF62' AS TEXT))`);
      await cr.exec(`INSERT INTO t VALUES ('b', CAST(X'EFBFBD78' AS TEXT), CAST(X'C3A9C3' AS TEXT))`);
      const want = await crStored(cr);
      const dd = replica();
      dd.applyChanges(await crExport(cr));
      assert.deepEqual(stored(dd.db), want);
      // ddcp's own write of invalid text, to cr-sqlite.
      dd.db.exec(`UPDATE t SET n = CAST(X'FE' AS TEXT) WHERE id = 'a'`);
      await crImport(cr, dd.changesSince(0));
      const both = await crStored(cr);
      assert.deepEqual(both, stored(dd.db));
      assert.ok(both.includes('a text:FF80 text:FE'), both.join('\n'));
      // The clocks agree: cr-sqlite's changes, read back by ddcp, are ddcp's.
      assert.deepEqual((await crExport(cr)).map(clock).sort(), clocks(dd));
    } finally {
      await cr.close();
    }
  });

  it('a tie with cr-sqlite is decided as cr-sqlite decides it', async () => {
    const cr = await openCrDirect(`${SCHEMA}; SELECT crsql_as_crr('t');`);
    const w = writer();
    try {
      await cr.exec(`INSERT INTO t VALUES ('k', CAST(X'F0908080' AS TEXT), NULL)`);
      w.plain.exec(`INSERT INTO t VALUES ('k', CAST(X'FF80' AS TEXT), NULL)`);
      const fromCr = await crExport(cr);
      const fromDd = [...w.e.changesSince(0)];
      await crImport(cr, fromDd);
      w.e.applyChanges(fromCr);
      assert.deepEqual(await crStored(cr), ['k text:FF80 null:']);
      assert.deepEqual(stored(w.plain), ['k text:FF80 null:']);
    } finally {
      w.done();
      await cr.close();
    }
  });
});
