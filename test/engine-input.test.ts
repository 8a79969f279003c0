/**
 * Untrusted input to the engine: changes from peers that are malformed or don't fit our schema
 * (ChangeError, and nothing applied), and tables that can't be CRRs (SchemaError, nothing created).
 * Plus the schema operations that must work: composite keys, backfill, asCrr twice, begin/commitAlter.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { DatabaseSync } from 'node:sqlite';
import { Engine } from '../src/engine/engine.ts';
import type { Change } from '../src/engine/change.ts';
import { packColumns } from '../src/engine/pack.ts';
import { openDatabase, type SqlValue } from '../src/engine/sqlite.ts';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

function repr(v: unknown): string {
  if (v === null) return 'NULL';
  if (typeof v === 'bigint') return `int ${v}`;
  if (typeof v === 'number') return `real ${Object.is(v, -0) ? '-0' : String(v)}`;
  if (typeof v === 'string') return `text ${JSON.stringify(v)}`;
  if (v instanceof Uint8Array) return `blob x'${hex(v)}'`;
  return `?? ${String(v)}`;
}

function rows(db: DatabaseSync, sql: string, ...params: SqlValue[]): SqlValue[][] {
  const s = db.prepare(sql);
  s.setReadBigInts(true);
  s.setReturnArrays(true);
  return s.all(...params) as unknown as SqlValue[][];
}

/** Everything in the database: the schema (tables, indexes, triggers) and every row of every table. */
function dumpDb(e: Engine): string[] {
  const db = e.db as DatabaseSync;
  const out: string[] = [];
  const objects = rows(db, `SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name`);
  for (const o of objects) out.push(`schema ${o.map(repr).join(' | ')}`);
  for (const [type, name] of objects) {
    if (type !== 'table') continue;
    const lines = rows(db, `SELECT * FROM "${String(name).replaceAll('"', '""')}"`).map((r) => `${String(name)}: ${r.map(repr).join(', ')}`);
    out.push(...lines.sort());
  }
  return out;
}

const SCHEMA = `
CREATE TABLE items (id INTEGER PRIMARY KEY NOT NULL, a, b TEXT DEFAULT 'x');
CREATE TABLE pairs (g TEXT NOT NULL, n INTEGER NOT NULL, v, PRIMARY KEY (g, n));
`;

function open(schema = SCHEMA, tables = ['items', 'pairs']): Engine {
  const e = Engine.open(openDatabase(':memory:'));
  e.db.exec(schema);
  for (const t of tables) e.asCrr(t);
  return e;
}

/** A replica with data, and a peer that has made changes we can tamper with. */
function setup(): { here: Engine; peer: Engine; valid: Change[] } {
  const here = open();
  here.db.prepare('INSERT INTO items (id, a, b) VALUES (?, ?, ?)').run(1n, 'mine', 'b');
  here.db.prepare('INSERT INTO pairs (g, n, v) VALUES (?, ?, ?)').run('g', 1n, 1.5);
  here.seal();
  const peer = open();
  peer.db.prepare('INSERT INTO items (id, a, b) VALUES (?, ?, ?)').run(2n, 'theirs', 'b');
  peer.db.prepare('INSERT INTO items (id, a, b) VALUES (?, ?, ?)').run(3n, new Uint8Array([1]), null);
  peer.db.prepare('INSERT INTO pairs (g, n, v) VALUES (?, ?, ?)').run('é', 2n ** 60n, 'v');
  peer.db.prepare('DELETE FROM items WHERE id = ?').run(3n);
  const valid = [...peer.changesSince(0)];
  assert.ok(valid.length >= 4);
  return { here, peer, valid };
}

function assertChangeError(fn: () => unknown, message?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof Error);
    assert.equal(err.name, 'ChangeError', `expected ChangeError, got ${err.name}: ${err.message}`);
    if (message) assert.match(err.message, message);
    return true;
  });
}

function assertSchemaError(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof Error);
    assert.equal(err.name, 'SchemaError', `expected SchemaError, got ${err.name}: ${err.message}`);
    assert.match(err.message, message);
    return true;
  });
}

describe('applyChanges refuses bad input and applies nothing', () => {
  const item = (valid: Change[]): Change => valid.find((c) => c.table === 'items' && c.cid === 'a')!;
  const pair = (valid: Change[]): Change => valid.find((c) => c.table === 'pairs' && c.cid === 'v')!;
  const sentinel = (valid: Change[]): Change => valid.find((c) => c.cid === '-1')!;
  const cases: { name: string; bad: (valid: Change[]) => unknown; message?: RegExp }[] = [
    { name: 'unknown table', bad: (v) => ({ ...item(v), table: 'nope' }), message: /nope/ },
    { name: "one of ddcp's own tables", bad: (v) => ({ ...item(v), table: 'items__ddcp_clock' }) },
    { name: 'a table that exists but is not a CRR', bad: (v) => ({ ...item(v), table: 'ddcp_site_id' }) },
    { name: 'empty table name', bad: (v) => ({ ...item(v), table: '' }) },
    { name: 'unknown column', bad: (v) => ({ ...item(v), cid: 'zzz' }), message: /zzz/ },
    { name: 'a key column as cid', bad: (v) => ({ ...item(v), cid: 'id' }) },
    { name: 'empty column name', bad: (v) => ({ ...item(v), cid: '' }) },
    { name: 'truncated pk', bad: (v) => ({ ...item(v), pk: item(v).pk.subarray(0, item(v).pk.length - 1) }) },
    { name: 'pk with an unknown type tag', bad: (v) => ({ ...item(v), pk: new Uint8Array([1, 0x07]) }) },
    { name: 'pk with trailing bytes', bad: (v) => ({ ...item(v), pk: new Uint8Array([...item(v).pk, 0]) }) },
    { name: 'pk with invalid UTF-8', bad: (v) => ({ ...pair(v), pk: new Uint8Array([2, 0x0b, 1, 0xff, 0x09, 1]) }), message: /not valid UTF-8/ },
    { name: 'empty pk', bad: (v) => ({ ...item(v), pk: new Uint8Array(0) }) },
    { name: 'pk that is not bytes', bad: (v) => ({ ...item(v), pk: '010901' }) },
    { name: 'pk with too many columns', bad: (v) => ({ ...item(v), pk: packColumns([1n, 2n]) }), message: /2 columns/ },
    { name: 'pk with too few columns', bad: (v) => ({ ...pair(v), pk: packColumns(['g']) }), message: /1 column/ },
    { name: 'pk with no columns', bad: (v) => ({ ...item(v), pk: packColumns([]) }) },
    { name: 'pk containing NULL', bad: (v) => ({ ...item(v), pk: packColumns([null]) }), message: /NULL/ },
    { name: 'negative col_version', bad: (v) => ({ ...item(v), colVersion: -1 }), message: /col_version/ },
    { name: 'non-integer col_version', bad: (v) => ({ ...item(v), colVersion: 1.5 }), message: /col_version/ },
    { name: 'col_version as a string', bad: (v) => ({ ...item(v), colVersion: '1' }), message: /col_version/ },
    { name: 'col_version as a bigint past the 64-bit clock limit', bad: (v) => ({ ...item(v), colVersion: 2n ** 63n - 1n }), message: /col_version/ },
    { name: 'NaN col_version', bad: (v) => ({ ...item(v), colVersion: NaN }), message: /col_version/ },
    { name: 'unsafe col_version', bad: (v) => ({ ...item(v), colVersion: 2 ** 53 }), message: /col_version/ },
    { name: 'negative db_version', bad: (v) => ({ ...item(v), dbVersion: -1 }), message: /db_version/ },
    { name: 'non-integer seq', bad: (v) => ({ ...item(v), seq: 0.5 }), message: /seq/ },
    { name: 'site id of 15 bytes', bad: (v) => ({ ...item(v), siteId: new Uint8Array(15) }), message: /site_id/ },
    { name: 'site id of 17 bytes', bad: (v) => ({ ...item(v), siteId: new Uint8Array(17) }), message: /site_id/ },
    { name: 'site id as hex text', bad: (v) => ({ ...item(v), siteId: hex(item(v).siteId) }), message: /site_id/ },
    { name: 'cl 0', bad: (v) => ({ ...item(v), cl: 0 }), message: /cl/ },
    { name: 'negative cl', bad: (v) => ({ ...item(v), cl: -1 }), message: /cl/ },
    { name: 'non-integer cl', bad: (v) => ({ ...item(v), cl: 1.5 }), message: /cl/ },
    { name: 'sentinel with a value', bad: (v) => ({ ...sentinel(v), val: 'x' }), message: /sentinel/ },
    { name: 'sentinel whose col_version is not its cl', bad: (v) => ({ ...sentinel(v), colVersion: Number(sentinel(v).cl) + 2 }), message: /sentinel/ },
    { name: 'value that is not an SQLite value (boolean)', bad: (v) => ({ ...item(v), val: true }), message: /val/ },
    { name: 'value that is not an SQLite value (undefined)', bad: (v) => ({ ...item(v), val: undefined }), message: /val/ },
    { name: 'value that is not an SQLite value (object)', bad: (v) => ({ ...item(v), val: { x: 1 } }), message: /val/ },
    { name: 'value that is not an SQLite value (array)', bad: (v) => ({ ...item(v), val: [1] }), message: /val/ },
    { name: 'not an object', bad: () => null },
  ];

  for (const { name, bad, message } of cases) {
    it(name, () => {
      const { here, peer, valid } = setup();
      try {
        const before = dumpDb(here);
        const change = bad(valid) as Change;
        assertChangeError(() => here.applyChanges([change]), message);
        assert.deepStrictEqual(dumpDb(here), before, 'the database is unchanged');
        // In the middle of a valid batch: the valid changes before it are not applied either.
        const mid = Math.floor(valid.length / 2);
        assertChangeError(() => here.applyChanges([...valid.slice(0, mid), change, ...valid.slice(mid)], { trackPeer: { siteId: peer.siteId, version: 99 } }), /change \d+/);
        assert.deepStrictEqual(dumpDb(here), before, 'nothing of the batch was applied');
        assert.equal(here.trackedVersion(peer.siteId), 0, 'the peer is not tracked');
        // And the engine carries on: the valid batch alone applies.
        const r = here.applyChanges(valid, { trackPeer: { siteId: peer.siteId, version: 99 } });
        assert.equal(r.received, valid.length);
        assert.ok(r.applied > 0);
        assert.equal(here.trackedVersion(peer.siteId), 99);
      } finally {
        here.db.close();
        peer.db.close();
      }
    });
  }

  it('a value the column would store as another one is merged as stored, so both orders of delivery keep the same value', () => {
    // Refused before (so one misfit value from a hub stalled a client's sync for good); before that,
    // TEXT '007' and INTEGER 5 at one col_version in an INTEGER column: '007' lost to 5 where it
    // arrived second (compared as sent, and TEXT < INTEGER), and won where it arrived first (stored as
    // 7, and 7 > 5). Now it is merged as the 7 SQLite stores, in either order.
    const schema = 'CREATE TABLE t (id INTEGER PRIMARY KEY NOT NULL, n INTEGER, r REAL, s TEXT, d NUMERIC, x)';
    const cell = (cid: string, val: SqlValue, site: number): Change => ({ table: 't', pk: packColumns([1n]), cid, val, colVersion: 1, dbVersion: 1, siteId: new Uint8Array(16).fill(site), cl: 1, seq: 0 });
    // [column, the misfit value, another value at the same clock, what both replicas keep]
    const misfits: [string, SqlValue, SqlValue, SqlValue][] = [
      ['n', '007', 5n, 7n],
      ['n', 2.0, 1n, 2n],
      ['r', 5n, 4.5, 5.0],
      ['s', 10n, '09', '10'],
      ['d', ' 12 ', 3n, 12n],
      ['d', '1e3', 3n, 1000n],
      ['d', 4.0, 3n, 4n],
    ];
    for (const [cid, odd, other, kept] of misfits) {
      const a = open(schema, ['t']);
      const b = open(schema, ['t']);
      const c = open(schema, ['t']);
      assert.equal(a.applyChanges([cell(cid, other, 2)]).applied, 1);
      a.applyChanges([cell(cid, odd, 1)]);
      // Applied, not refused: the converted value, which then wins the tie with the other.
      assert.equal(b.applyChanges([cell(cid, odd, 1), cell(cid, other, 2)]).applied, 1, `${cid}: applied`);
      // Not a plain array: the other way of reading the changes.
      c.applyChanges((function* () {
        yield cell(cid, odd, 1);
      })());
      c.applyChanges([cell(cid, other, 2)]);
      for (const [name, e] of [['a', a], ['b', b], ['c', c]] as const) {
        assert.deepEqual(rows(e.db as DatabaseSync, `SELECT ${cid}, typeof(${cid}) FROM t`), [[kept, typeof kept === 'bigint' ? 'integer' : typeof kept === 'number' ? 'real' : 'text']], `${cid} ${repr(odd)} on ${name}`);
      }
      // The clocks agree too: the winner's origin is the same site everywhere.
      const clocks = (e: Engine) => [...e.changesSince(0)].map((ch) => `${ch.cid} ${repr(ch.val)} ${ch.colVersion} ${hex(ch.siteId)}`);
      assert.deepEqual(clocks(b), clocks(a), `${cid}: clocks`);
      assert.deepEqual(clocks(c), clocks(a), `${cid}: clocks`);
    }
    // What an honest replica stores is merged as sent: text, reals and blobs where the affinity keeps them.
    const a = open(schema, ['t']);
    a.db.prepare('INSERT INTO t VALUES (1, ?, ?, ?, ?, ?)').run('abc', 1e300, '12', 1.5, '007');
    a.db.prepare('INSERT INTO t VALUES (2, ?, ?, ?, ?, ?)').run(1.5, -1.5, new Uint8Array([1]), '2024-01-01', 7n);
    a.db.prepare('INSERT INTO t VALUES (3, ?, ?, ?, ?, ?)').run(2 ** 63, 'x', '', 'x', 1.0);
    const b = open(schema, ['t']);
    b.applyChanges([...a.changesSince(0)]);
    assert.deepEqual(rows(b.db as DatabaseSync, 'SELECT * FROM t ORDER BY id'), rows(a.db as DatabaseSync, 'SELECT * FROM t ORDER BY id'));
  });

  it('the error names the position of the bad change', () => {
    const { here, peer, valid } = setup();
    try {
      assertChangeError(() => here.applyChanges([valid[0]!, valid[1]!, { ...valid[2]!, table: 'nope' }]), /change 3\b/);
    } finally {
      here.db.close();
      peer.db.close();
    }
  });

  it('a failed batch from a new site leaves no trace of that site; the next site gets a consistent ordinal', () => {
    const { here, peer, valid } = setup();
    try {
      const stranger = new Uint8Array(16).fill(0xee);
      const fromStranger = valid.map((c) => ({ ...c, siteId: stranger }));
      assertChangeError(() => here.applyChanges([...fromStranger, { ...fromStranger[0]!, cid: 'zzz' }]));
      here.applyChanges(valid);
      // Every clock names the site that wrote it: the peer, not the stranger of the failed batch.
      const sites = rows(here.db as DatabaseSync, `SELECT DISTINCT s.site_id FROM items__ddcp_clock c JOIN ddcp_site_id s ON s.ordinal = c.site`).map((r) => hex(r[0] as Uint8Array));
      assert.deepStrictEqual(sites.sort(), [hex(here.siteId), hex(peer.siteId)].sort());
      const origins = [...here.changesSince(0)].map((c) => hex(c.siteId));
      assert.ok(!origins.includes(hex(stranger)));
      // The stranger's next (valid) batch is recorded as the stranger's, not under a reused ordinal.
      const later = fromStranger.map((c) => ({ ...c, colVersion: c.cid === '-1' ? c.colVersion : Number(c.colVersion) + 1 }));
      here.applyChanges(later);
      const byOrigin = new Map<string, string[]>();
      for (const c of here.changesSince(0)) byOrigin.set(hex(c.siteId), [...(byOrigin.get(hex(c.siteId)) ?? []), `${c.table}.${c.cid}`]);
      assert.deepStrictEqual(byOrigin.get(hex(stranger))?.filter((x) => !x.endsWith('.-1')).sort(), later.filter((c) => c.cid !== '-1').map((c) => `${c.table}.${c.cid}`).sort());
      const ordinals = rows(here.db as DatabaseSync, 'SELECT ordinal, site_id FROM ddcp_site_id ORDER BY ordinal').map((r) => hex(r[1] as Uint8Array));
      assert.deepStrictEqual(ordinals, [hex(here.siteId), hex(peer.siteId), hex(stranger)]);
    } finally {
      here.db.close();
      peer.db.close();
    }
  });

  it('a large batch (over the trigger-suspension threshold) that fails at the end applies nothing and keeps tracking', () => {
    const here = open();
    const peer = open();
    try {
      const ins = peer.db.prepare('INSERT INTO items (id, a) VALUES (?, ?)');
      peer.db.exec('BEGIN');
      for (let i = 0; i < 1200; i++) ins.run(BigInt(i + 10), `row ${i}`);
      peer.db.exec('COMMIT');
      const valid = [...peer.changesSince(0)];
      here.db.prepare('INSERT INTO items (id, a) VALUES (?, ?)').run(1n, 'mine');
      const before = dumpDb(here);
      assertChangeError(() => here.applyChanges([...valid, { ...valid[0]!, table: 'nope' }]));
      assert.deepStrictEqual(dumpDb(here), before, 'rows, clocks and triggers as before');
      // Local writes are still tracked.
      here.db.prepare('UPDATE items SET a = ? WHERE id = 1').run('edited');
      const mine = [...here.changesSince(0)].filter((c) => c.cid === 'a');
      assert.deepStrictEqual(
        mine.map((c) => [c.val, c.colVersion]),
        [['edited', 2]],
      );
      // The same batch without the bad change applies in full, and tracking survives it too.
      here.applyChanges(valid);
      assert.equal(rows(here.db as DatabaseSync, 'SELECT count(*) FROM items')[0]![0], 1201n);
      here.db.prepare('UPDATE items SET a = ? WHERE id = 10').run('after');
      const after = [...here.changesSince(0)].filter((c) => c.cid === 'a' && c.val === 'after');
      assert.equal(after.length, 1);
      assert.equal(after[0]!.colVersion, 2);
      assert.deepStrictEqual(dumpDb(here).filter((l) => l.startsWith('schema')), before.filter((l) => l.startsWith('schema')));
    } finally {
      here.db.close();
      peer.db.close();
    }
  });

  it('an iterator that throws: the error propagates and nothing is applied', () => {
    const { here, peer, valid } = setup();
    try {
      const before = dumpDb(here);
      function* broken(): Generator<Change> {
        yield* valid;
        throw new Error('connection lost');
      }
      assert.throws(() => here.applyChanges(broken()), /connection lost/);
      assert.deepStrictEqual(dumpDb(here), before);
    } finally {
      here.db.close();
      peer.db.close();
    }
  });

  it('a cell change at the causal length of our delete does not bring the row back', () => {
    // Not something a healthy peer sends (a deleted row has no cell clocks), but nothing rejects it:
    // cr-sqlite 0.16 ignores it (an even cl is a delete, and we already have that delete).
    const { here, peer } = setup();
    try {
      here.db.prepare('DELETE FROM items WHERE id = 1').run();
      const del = [...here.changesSince(0)].find((c) => c.table === 'items' && c.cid === '-1')!;
      assert.equal(del.cl, 2);
      here.applyChanges([{ ...del, cid: 'a', val: 'zombie', colVersion: 5, siteId: peer.siteId, seq: 0 }]);
      assert.deepStrictEqual(rows(here.db as DatabaseSync, 'SELECT * FROM items WHERE id = 1'), [], 'the row stays deleted');
      assert.deepStrictEqual(
        [...here.changesSince(0)].filter((c) => c.table === 'items' && c.pk.join() === del.pk.join()).map((c) => c.cid),
        ['-1'],
        'and has no cell clocks',
      );
    } finally {
      here.db.close();
      peer.db.close();
    }
  });

  it('a change for a column added by a newer schema is refused until we have it', () => {
    const here = open();
    const peer = open();
    try {
      peer.beginAlter('items');
      peer.db.exec('ALTER TABLE items ADD COLUMN extra');
      peer.commitAlter('items');
      peer.db.prepare('INSERT INTO items (id, a, extra) VALUES (?, ?, ?)').run(1n, 'a', 'new');
      assertChangeError(() => here.applyChanges(peer.changesSince(0)), /extra/);
      assert.equal(rows(here.db as DatabaseSync, 'SELECT count(*) FROM items')[0]![0], 0n);
      assert.notEqual(here.schemaFingerprint(), peer.schemaFingerprint());
    } finally {
      here.db.close();
      peer.db.close();
    }
  });
});

describe('asCrr refuses tables that cannot merge safely, and creates nothing', () => {
  const cases: { name: string; sql: string; table: string; reason: RegExp }[] = [
    { name: 'no primary key', sql: 'CREATE TABLE t (a, b)', table: 't', reason: /no primary key/ },
    { name: 'nullable INTEGER PRIMARY KEY', sql: 'CREATE TABLE t (id INTEGER PRIMARY KEY, a)', table: 't', reason: /nullable/ },
    { name: 'nullable TEXT PRIMARY KEY', sql: 'CREATE TABLE t (id TEXT PRIMARY KEY, a)', table: 't', reason: /nullable/ },
    { name: 'nullable column of a composite key', sql: 'CREATE TABLE t (x NOT NULL, y, a, PRIMARY KEY (x, y))', table: 't', reason: /nullable/ },
    { name: 'AUTOINCREMENT', sql: 'CREATE TABLE t (id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, a)', table: 't', reason: /AUTOINCREMENT/ },
    { name: 'UNIQUE column', sql: 'CREATE TABLE t (id INTEGER PRIMARY KEY NOT NULL, email TEXT UNIQUE)', table: 't', reason: /UNIQUE/ },
    { name: 'UNIQUE table constraint', sql: 'CREATE TABLE t (id INTEGER PRIMARY KEY NOT NULL, a, b, UNIQUE (a, b))', table: 't', reason: /UNIQUE/ },
    { name: 'unique index', sql: 'CREATE TABLE t (id INTEGER PRIMARY KEY NOT NULL, a); CREATE UNIQUE INDEX t_a ON t (a)', table: 't', reason: /UNIQUE index.*t_a/ },
    { name: 'a NOCASE primary key', sql: 'CREATE TABLE t (k TEXT PRIMARY KEY NOT NULL COLLATE NOCASE, a)', table: 't', reason: /primary-key column k has COLLATE NOCASE/ },
    { name: 'a collation in a composite key', sql: 'CREATE TABLE t (x INTEGER NOT NULL, y TEXT NOT NULL, a, PRIMARY KEY (x, y COLLATE RTRIM)) WITHOUT ROWID', table: 't', reason: /primary-key column y has COLLATE RTRIM/ },
    // The key map names its own key `__key` (SQLite names are case-insensitive): it was a bare SQLite "duplicate column name".
    { name: 'a key column named __key', sql: 'CREATE TABLE t ("__Key" TEXT PRIMARY KEY NOT NULL, a)', table: 't', reason: /primary-key column __Key: the name __key is reserved for ddcp/ },
    { name: 'an INTEGER PRIMARY KEY named __key', sql: 'CREATE TABLE t ("__key" INTEGER PRIMARY KEY NOT NULL, a)', table: 't', reason: /reserved/ },
    { name: 'foreign key', sql: 'CREATE TABLE p (id INTEGER PRIMARY KEY NOT NULL); CREATE TABLE t (id INTEGER PRIMARY KEY NOT NULL, p INTEGER REFERENCES p (id))', table: 't', reason: /foreign/ },
    { name: 'NOT NULL column without a default', sql: 'CREATE TABLE t (id INTEGER PRIMARY KEY NOT NULL, a TEXT NOT NULL)', table: 't', reason: /column a is NOT NULL without a DEFAULT/ },
    { name: 'a column named like the sentinel', sql: 'CREATE TABLE t (id INTEGER PRIMARY KEY NOT NULL, "-1")', table: 't', reason: /reserved/ },
    { name: "a name reserved for ddcp's tables", sql: 'CREATE TABLE ddcp_mine (id INTEGER PRIMARY KEY NOT NULL)', table: 'ddcp_mine', reason: /reserved/ },
    { name: "a name like ddcp's per-table tables", sql: 'CREATE TABLE x__ddcp_y (id INTEGER PRIMARY KEY NOT NULL)', table: 'x__ddcp_y', reason: /reserved/ },
    { name: 'a view', sql: 'CREATE VIEW t AS SELECT 1 AS id', table: 't', reason: /view/ },
    { name: 'no such table', sql: 'SELECT 1', table: 't', reason: /no such table: t/ },
  ];
  for (const { name, sql, table, reason } of cases) {
    it(name, () => {
      const e = Engine.open(openDatabase(':memory:'));
      try {
        e.db.exec(sql);
        const before = dumpDb(e);
        assertSchemaError(() => e.asCrr(table), reason);
        assert.throws(() => e.asCrr(table), (err: Error) => err.message.includes(table), 'the message names the table');
        assert.deepStrictEqual(dumpDb(e), before, 'nothing was created');
        assert.deepStrictEqual(e.crrs(), []);
      } finally {
        e.db.close();
      }
    });
  }
  it('a refused table in a transaction leaves the transaction usable', () => {
    const e = Engine.open(openDatabase(':memory:'));
    try {
      e.db.exec('CREATE TABLE ok (id INTEGER PRIMARY KEY NOT NULL, a); CREATE TABLE bad (a)');
      e.db.exec('BEGIN');
      e.asCrr('ok');
      assertSchemaError(() => e.asCrr('bad'), /bad/);
      e.db.exec('COMMIT');
      assert.deepStrictEqual(
        e.crrs().map((t) => t.name),
        ['ok'],
      );
    } finally {
      e.db.close();
    }
  });
});

describe('asCrr and schema changes that work', () => {
  /** Clocks as (key, cid, col_version, origin). */
  const clocks = (e: Engine, table: string): string[] =>
    rows(
      e.db as DatabaseSync,
      `SELECT p.*, c.cid, c.col_version, s.site_id FROM "${table}__ddcp_clock" c JOIN "${table}__ddcp_pks" p ON p.__key = c.key
       JOIN ddcp_site_id s ON s.ordinal = c.site ORDER BY c.key, c.cid`,
    )
      // p.* ends with the key map's 4 row-clock columns (engine/layout.ts): the key alone is compared.
      .map((r) => [...r.slice(0, -7), ...r.slice(-3)].map(repr).join(', '));
  const tableRows = (e: Engine, sql: string): string[] => rows(e.db as DatabaseSync, sql).map((r) => r.map(repr).join(', '));

  it('composite keys, WITHOUT ROWID, NOT NULL with a default and plain indexes are fine', () => {
    const e = Engine.open(openDatabase(':memory:'));
    const f = Engine.open(openDatabase(':memory:'));
    try {
      const sql = `CREATE TABLE c (x TEXT NOT NULL, y INTEGER NOT NULL, z BLOB NOT NULL, a NOT NULL DEFAULT 0, PRIMARY KEY (y, x, z));
        CREATE INDEX c_a ON c (a);
        CREATE TABLE w (k, v, PRIMARY KEY (k)) WITHOUT ROWID;`;
      for (const db of [e, f]) {
        db.db.exec(sql);
        db.asCrr('c');
        db.asCrr('w');
      }
      assert.deepStrictEqual(
        e.crrs().map((t) => [t.name, t.pks, t.columns]),
        [
          ['c', ['y', 'x', 'z'], ['a']],
          ['w', ['k'], ['v']],
        ],
      );
      e.db.prepare('INSERT INTO c (x, y, z, a) VALUES (?, ?, ?, ?)').run('é', 2n ** 62n, new Uint8Array([0, 1]), 'v');
      e.db.prepare('INSERT INTO w (k, v) VALUES (?, ?)').run(1.5, 'real key');
      const changes = [...e.changesSince(0)];
      // Keys are packed in primary-key order.
      assert.deepStrictEqual(changes.find((c) => c.table === 'c')!.pk, packColumns([2n ** 62n, 'é', new Uint8Array([0, 1])]));
      f.applyChanges(changes);
      assert.deepStrictEqual(tableRows(f, 'SELECT * FROM c'), tableRows(e, 'SELECT * FROM c'));
      assert.deepStrictEqual(tableRows(f, 'SELECT * FROM w'), tableRows(e, 'SELECT * FROM w'));
    } finally {
      e.db.close();
      f.db.close();
    }
  });

  it('backfills existing rows: every column gets a clock at col_version 1 and the rows replicate', () => {
    const e = Engine.open(openDatabase(':memory:'));
    const f = Engine.open(openDatabase(':memory:'));
    try {
      e.db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY NOT NULL, a, b); CREATE TABLE k (id TEXT PRIMARY KEY NOT NULL)');
      e.db.prepare('INSERT INTO t VALUES (?, ?, ?)').run(1n, 'one', 2n ** 60n);
      e.db.prepare('INSERT INTO t VALUES (?, ?, ?)').run(2n, null, 2.0);
      e.db.prepare('INSERT INTO k VALUES (?)').run('key only');
      e.asCrr('t');
      e.asCrr('k');
      const site = `blob x'${hex(e.siteId)}'`;
      assert.deepStrictEqual(clocks(e, 't'), [
        `int 1, int 1, text "a", int 1, ${site}`,
        `int 1, int 1, text "b", int 1, ${site}`,
        `int 2, int 2, text "a", int 1, ${site}`,
        `int 2, int 2, text "b", int 1, ${site}`,
      ]);
      assert.deepStrictEqual(clocks(e, 'k'), [`int 1, text "key only", text "-1", int 1, ${site}`]);
      f.db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY NOT NULL, a, b); CREATE TABLE k (id TEXT PRIMARY KEY NOT NULL)');
      f.asCrr('t');
      f.asCrr('k');
      f.applyChanges(e.changesSince(0));
      assert.deepStrictEqual(tableRows(f, 'SELECT * FROM t ORDER BY id'), tableRows(e, 'SELECT * FROM t ORDER BY id'));
      assert.deepStrictEqual(tableRows(f, 'SELECT * FROM k'), ['text "key only"']);
    } finally {
      e.db.close();
      f.db.close();
    }
  });

  it('asCrr twice is fine and changes nothing', () => {
    const e = open();
    try {
      e.db.prepare('INSERT INTO items (id, a) VALUES (?, ?)').run(1n, 'x');
      e.seal();
      const before = dumpDb(e);
      const version = e.dbVersion();
      e.asCrr('items');
      e.asCrr('pairs');
      assert.deepStrictEqual(dumpDb(e), before);
      assert.equal(e.dbVersion(), version);
    } finally {
      e.db.close();
    }
  });

  it('begin/commitAlter adding a column keeps every clock, and the new column replicates', () => {
    const [e, f] = [open(), open()];
    try {
      e.db.prepare('INSERT INTO items (id, a, b) VALUES (?, ?, ?)').run(1n, 'x', 'y');
      e.db.prepare('UPDATE items SET a = ? WHERE id = 1').run('x2');
      e.db.prepare('INSERT INTO items (id, a) VALUES (?, ?)').run(2n, 'z');
      e.db.prepare('DELETE FROM items WHERE id = 2').run();
      f.applyChanges(e.changesSince(0));
      const before = clocks(e, 'items');
      for (const db of [e, f]) {
        db.beginAlter('items');
        db.db.exec("ALTER TABLE items ADD COLUMN extra TEXT DEFAULT 'd'");
        db.commitAlter('items');
      }
      // Every clock is kept as it was (the new column may get clocks of its own).
      const after = clocks(e, 'items');
      assert.deepStrictEqual(
        after.filter((c) => !c.includes('text "extra"')),
        before,
        'clocks (col_versions and origins) unchanged',
      );
      assert.deepStrictEqual(
        e.crrs().find((t) => t.name === 'items')!.columns,
        ['a', 'b', 'extra'],
      );
      assert.equal(e.schemaFingerprint(), f.schemaFingerprint());
      e.db.prepare('UPDATE items SET extra = ? WHERE id = 1').run('new');
      e.db.prepare('UPDATE items SET a = ? WHERE id = 1').run('x3');
      const changes = [...e.changesSince(0)];
      const extra = changes.filter((c) => c.cid === 'extra');
      assert.deepStrictEqual(
        extra.map((c) => c.val),
        ['new'],
      );
      assert.ok(extra[0]!.colVersion >= 1);
      assert.equal(changes.find((c) => c.cid === 'a')!.colVersion, 3, 'a keeps counting from its old col_version');
      f.applyChanges(changes);
      assert.deepStrictEqual(tableRows(f, 'SELECT * FROM items ORDER BY id'), ['int 1, text "x3", text "y", text "new"']);
      assert.deepStrictEqual(clocks(f, 'items'), clocks(e, 'items'));
    } finally {
      e.db.close();
      f.db.close();
    }
  });

  it('dropping a column forgets its clocks', () => {
    const [e, f] = [open(), open()];
    try {
      e.db.prepare('INSERT INTO items (id, a, b) VALUES (?, ?, ?)').run(1n, 'x', 'y');
      e.beginAlter('items');
      e.db.exec('ALTER TABLE items DROP COLUMN b');
      e.commitAlter('items');
      assert.deepStrictEqual(
        clocks(e, 'items').map((c) => c.split(', ')[2]),
        ['text "a"'],
      );
      assert.ok([...e.changesSince(0)].every((c) => c.cid !== 'b'));
      e.db.prepare('UPDATE items SET a = ? WHERE id = 1').run('x2');
      assert.deepStrictEqual(
        [...e.changesSince(0)].filter((c) => c.table === 'items').map((c) => [c.cid, c.val, c.colVersion]),
        [['a', 'x2', 2]],
      );
      // A peer still on the old schema has the column; one that dropped it too takes our changes.
      f.beginAlter('items');
      f.db.exec('ALTER TABLE items DROP COLUMN b');
      f.commitAlter('items');
      f.applyChanges(e.changesSince(0));
      assert.deepStrictEqual(tableRows(f, 'SELECT * FROM items'), ['int 1, text "x2"']);
    } finally {
      e.db.close();
      f.db.close();
    }
  });

  it('alter misuse is refused', () => {
    const e = open();
    try {
      e.db.exec('CREATE TABLE plain (id INTEGER PRIMARY KEY NOT NULL)');
      assertSchemaError(() => e.beginAlter('plain'), /plain is not a CRR/);
      assertSchemaError(() => e.commitAlter('plain'), /plain is not a CRR/);
      e.beginAlter('items');
      assertSchemaError(() => e.beginAlter('items'), /already being altered/);
      assertSchemaError(() => e.asCrr('items'), /being altered/);
      e.commitAlter('items');
      e.beginAlter('items');
      e.db.exec('ALTER TABLE items ADD COLUMN u TEXT NOT NULL');
      assertSchemaError(() => e.commitAlter('items'), /column u is NOT NULL without a DEFAULT/);
    } finally {
      e.db.close();
    }
  });

  it('rows written between beginAlter and commitAlter are tracked (cr-sqlite backfills them)', () => {
    // cr-sqlite 0.16: after crsql_begin_alter, ALTER TABLE t ADD COLUMN c, INSERT of a new row and an
    // UPDATE of the new column, crsql_commit_alter gives both clocks (checked with the real
    // extension); otherwise those writes never reach any peer.
    const [e, f] = [open(), open()];
    try {
      e.db.prepare('INSERT INTO items (id, a) VALUES (?, ?)').run(1n, 'before');
      f.applyChanges(e.changesSince(0));
      for (const db of [e, f]) {
        db.beginAlter('items');
        db.db.exec('ALTER TABLE items ADD COLUMN c');
      }
      e.db.prepare('INSERT INTO items (id, a, c) VALUES (?, ?, ?)').run(2n, 'during', 'c2');
      e.db.prepare('UPDATE items SET c = ? WHERE id = 1').run('c1');
      for (const db of [e, f]) db.commitAlter('items');
      f.applyChanges(e.changesSince(0));
      assert.deepStrictEqual(tableRows(f, 'SELECT id, a, c FROM items ORDER BY id'), tableRows(e, 'SELECT id, a, c FROM items ORDER BY id'));
    } finally {
      e.db.close();
      f.db.close();
    }
  });
});
