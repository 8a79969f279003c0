/**
 * Convergence of the real engine on real SQLite: replicas make random writes and sync in random
 * ways (full, delta with tracked peers, shuffled, duplicated, chunked); after a final full sync every
 * replica must hold exactly the same rows (type and value) and the same winning clock (col_version,
 * origin site) for every cell.
 *
 * The same history is played in three worlds whose replicas share site ids: ordered full syncs,
 * delta syncs, and the stress world. Delta sync must not merely converge but give the same state as
 * full sync after every single step.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import type { DatabaseSync } from 'node:sqlite';
import { Engine } from '../src/engine/engine.ts';
import type { Change } from '../src/engine/change.ts';
import { openDatabase, type SqlValue } from '../src/engine/sqlite.ts';
import { rng, shuffle } from './support/random.ts';
import { hex, repr, SCHEMA, TABLES, write, writeArb, type Write } from './support/convergence.ts';
import { engineWithSite } from './support/fixed-site.ts';

// ---------------------------------------------------------------------------------------------
// Replicas and state dumps

/** Site ids chosen by the test (ordered by `n`), so every world's replica i has the same one. */
function siteId(n: number): Uint8Array {
  const b = new Uint8Array(16);
  b[0] = 0x40 + n;
  b.fill(n, 1);
  return b;
}

/**
 * A replica with a given site id: the engine keeps its own site id as ordinal 0 of ddcp_site_id and
 * creates one only when it is missing.
 */
function openReplica(site: Uint8Array, schema = SCHEMA, tables = Object.keys(TABLES)): Engine {
  const db = openDatabase(':memory:');
  db.deserialize(image(schema, tables));
  setSite(db, site);
  const e = Engine.open(db);
  assert.equal(hex(e.siteId), hex(site));
  return e;
}

function setSite(db: DatabaseSync, site: Uint8Array): void {
  db.prepare('UPDATE ddcp_site_id SET site_id = ? WHERE ordinal = 0').run(site);
}

/**
 * A fresh replica's database (Engine.open, the schema, asCrr) as bytes, made once per schema and
 * copied into each replica with its own site id: a quarter of the CPU of making it again, the same
 * bytes but for the site id.
 */
const images = new Map<string, Uint8Array>();
function image(schema: string, tables: string[]): Uint8Array {
  const key = JSON.stringify([schema, tables]);
  let bytes = images.get(key);
  if (bytes) return bytes;
  const placeholder = new Uint8Array(randomBytes(16));
  const { db, engine: e } = engineWithSite(placeholder);
  db.exec(schema);
  for (const t of tables) e.asCrr(t);
  bytes = db.serialize();
  db.close();
  // The site id is stored nowhere but where setSite rewrites it: no byte of it is left after.
  const check = openDatabase(':memory:');
  check.deserialize(bytes);
  check.exec('PRAGMA secure_delete = ON');
  setSite(check, siteId(1));
  assert.equal(Buffer.from(check.serialize()).indexOf(placeholder), -1, 'the site id is only in ddcp_site_id');
  check.close();
  images.set(key, bytes);
  return bytes;
}

function rows(db: DatabaseSync, sql: string, ...params: SqlValue[]): SqlValue[][] {
  const s = db.prepare(sql);
  s.setReadBigInts(true);
  s.setReturnArrays(true);
  return s.all(...params) as unknown as SqlValue[][];
}

interface Dump {
  /** Every row of every CRR, with exact types. */
  rows: string[];
  /** Every cell's winning clock: key, column, col_version, origin site. */
  cells: string[];
  /** Every row's causal length (the sentinel's col_version). */
  cls: string[];
  /** Every sentinel's origin site. */
  sentinelSites: string[];
  /** The keys of the rows in the tables. */
  liveKeys: string[];
}

function dump(e: Engine): Dump {
  e.seal();
  const out: Dump = { rows: [], cells: [], cls: [], sentinelSites: [], liveKeys: [] };
  for (const [t, { pks }] of Object.entries(TABLES)) {
    const order = pks.map((p) => `"${p}"`).join(', ');
    for (const r of rows(e.db as DatabaseSync, `SELECT * FROM "${t}" ORDER BY ${order}`)) out.rows.push(`${t}(${r.map(repr).join(', ')})`);
    for (const r of rows(e.db as DatabaseSync, `SELECT ${order} FROM "${t}" ORDER BY ${order}`)) out.liveKeys.push(`${t}[${r.map(repr).join(', ')}]`);
    const clocks = rows(
      e.db as DatabaseSync,
      `SELECT ${pks.map((p) => `p."${p}"`).join(', ')}, c.cid, c.col_version, s.site_id
       FROM "${t}__ddcp_clock" c JOIN "${t}__ddcp_pks" p ON p.__key = c.key JOIN ddcp_site_id s ON s.ordinal = c.site
       ORDER BY ${pks.map((p) => `p."${p}"`).join(', ')}, c.cid`,
    );
    for (const r of clocks) {
      const key = `${t}[${r.slice(0, pks.length).map(repr).join(', ')}]`;
      const [cid, cv, site] = r.slice(pks.length) as [string, bigint, Uint8Array];
      if (cid === '-1') {
        out.cls.push(`${key} cl ${cv}`);
        out.sentinelSites.push(`${key} cl ${cv} @${hex(site)}`);
      } else out.cells.push(`${key}.${cid} v${cv} @${hex(site)}`);
    }
  }
  return out;
}

/** Rows, cells and causal lengths: what must be identical everywhere. */
const core = (d: Dump): Pick<Dump, 'rows' | 'cells' | 'cls'> => ({ rows: d.rows, cells: d.cells, cls: d.cls });

// ---------------------------------------------------------------------------------------------
// Randomness for shuffles and chunks (the seed comes from fast-check, so runs replay and shrink)


// ---------------------------------------------------------------------------------------------
// Operations (the writes: support/convergence.ts)

type SyncHow = 'shuffled' | 'twice' | 'chunks' | 'redeliver';

type Op = { k: 'write'; r: number; w: Write } | { k: 'seal'; r: number } | { k: 'sync'; from: number; to: number; how: SyncHow; seed: number };

function opArb(replicas: number): fc.Arbitrary<Op> {
  const r = fc.nat(replicas - 1);
  return fc.oneof(
    { weight: 6, arbitrary: fc.record({ k: fc.constant('write' as const), r, w: writeArb }) },
    { weight: 1, arbitrary: fc.record({ k: fc.constant('seal' as const), r }) },
    {
      weight: 3,
      arbitrary: fc.record({
        k: fc.constant('sync' as const),
        from: r,
        to: r,
        how: fc.constantFrom<SyncHow>('shuffled', 'twice', 'chunks', 'redeliver'),
        seed: fc.integer(),
      }),
    },
  );
}

// ---------------------------------------------------------------------------------------------
// Sync styles

/** Ordered full sync: everything `from` has, in its (db_version, seq) order. */
function syncFull(from: Engine, to: Engine): void {
  to.applyChanges(from.changesSince(0));
}

/**
 * Delta sync as a sync protocol does it: from the tracked version, without the receiver's own changes
 * where they came straight from it (it holds those; its changes relayed by others come back, see
 * engine/owners.ts), and the merge records that these came straight from `from`.
 */
function syncDelta(from: Engine, to: Engine): void {
  const since = to.trackedVersion(from.siteId);
  const version = from.dbVersion();
  const changes = [...from.changesSince(since, { exceptSite: to.siteId })];
  for (const c of changes) assert.ok(c.dbVersion > since && c.dbVersion <= version);
  to.applyChanges(changes, { trackPeer: { siteId: from.siteId, version }, direct: from.siteId });
  assert.equal(to.trackedVersion(from.siteId), version);
}

/** Full sync delivered badly: shuffled, duplicated, in chunks, or delivered again. */
function syncStress(from: Engine, to: Engine, how: SyncHow, seed: number): void {
  const rand = rng(seed);
  const all = [...from.changesSince(0)];
  switch (how) {
    case 'shuffled':
      to.applyChanges(shuffle(all, rand));
      return;
    case 'twice':
      to.applyChanges([...all, ...shuffle(all, rand)]);
      return;
    case 'chunks': {
      const mixed = shuffle([...all, ...all.filter(() => rand() < 0.3)], rand);
      for (let i = 0; i < mixed.length; ) {
        const n = 1 + Math.floor(rand() * 4);
        to.applyChanges(mixed.slice(i, i + n));
        i += n;
      }
      return;
    }
    case 'redeliver': {
      to.applyChanges(all);
      const again = to.applyChanges(all);
      assert.equal(again.applied, 0, 'a batch delivered again changes nothing');
    }
  }
}

/**
 * A clock names one write: the same (row, column, causal length, col_version, origin site) must carry
 * the same value on every replica at every moment. A write whose clock didn't move (an update the
 * triggers missed) or a merge that kept its value but took the other's clock shows up here even when
 * the replicas end up agreeing.
 */
class ClockValues {
  private readonly seen = new Map<string, string>();
  check(e: Engine, label: string): void {
    for (const c of e.changesSince(0)) {
      if (c.cid === '-1') continue;
      const k = `${c.table}[${hex(c.pk)}].${c.cid} cl ${c.cl} v${c.colVersion} @${hex(c.siteId)}`;
      const v = repr(c.val);
      const prev = this.seen.get(k);
      if (prev === undefined) this.seen.set(k, v);
      else assert.equal(v, prev, `${label}: clock ${k} names two values`);
    }
  }
}

interface Worlds {
  full: Engine[];
  delta: Engine[];
  stress: Engine[];
}

function makeWorlds(n: number): Worlds {
  const mk = (): Engine[] => Array.from({ length: n }, (_, i) => openReplica(siteId(i + 1)));
  return { full: mk(), delta: mk(), stress: mk() };
}

function closeAll(...engines: Engine[]): void {
  for (const e of engines) e.db.close();
}

/** Everyone pulls everyone's full state in order. */
function finalSync(replicas: readonly Engine[]): void {
  for (const to of replicas) for (const from of replicas) if (from !== to) syncFull(from, to);
}

function assertConverged(replicas: readonly Engine[], label: string): Dump {
  const dumps = replicas.map(dump);
  for (let i = 1; i < dumps.length; i++) {
    assert.deepStrictEqual(core(dumps[i]!), core(dumps[0]!), `${label}: replica ${i} differs from replica 0 (rows, cell clocks, causal lengths)`);
  }
  return dumps[0]!;
}

// ---------------------------------------------------------------------------------------------

describe('convergence of the engine', () => {
  it('random writes and random syncs; a final full sync makes every replica identical', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 3, max: 4 }).chain((n) => fc.tuple(fc.constant(n), fc.array(opArb(n), { minLength: 10, maxLength: 50, size: 'max' }))),
        ([n, ops]) => {
          const w = makeWorlds(n);
          const seen = { full: new ClockValues(), delta: new ClockValues(), stress: new ClockValues() };
          try {
            for (const op of ops) {
              if (op.k === 'write') for (const world of [w.full, w.delta, w.stress]) write(world[op.r]!, op.w);
              else if (op.k === 'seal') for (const world of [w.full, w.delta, w.stress]) world[op.r]!.seal();
              else if (op.from !== op.to) {
                syncFull(w.full[op.from]!, w.full[op.to]!);
                syncDelta(w.delta[op.from]!, w.delta[op.to]!);
                syncStress(w.stress[op.from]!, w.stress[op.to]!, op.how, op.seed);
                for (const [name, world] of [['full', w.full], ['delta', w.delta], ['stress', w.stress]] as const) {
                  seen[name].check(world[op.from]!, `${name} world, replica ${op.from}`);
                  seen[name].check(world[op.to]!, `${name} world, replica ${op.to}`);
                }
                // Delivering the same information differently must give the same state, step by step.
                const expected = core(dump(w.full[op.to]!));
                assert.deepStrictEqual(core(dump(w.delta[op.to]!)), expected, 'delta sync gives the state full sync gives');
                assert.deepStrictEqual(core(dump(w.stress[op.to]!)), expected, `${op.how} delivery gives the state ordered delivery gives`);
              }
            }
            for (const world of [w.full, w.delta, w.stress]) finalSync(world);
            const full = assertConverged(w.full, 'full sync');
            assert.deepStrictEqual(core(assertConverged(w.delta, 'delta sync')), core(full), 'delta world = full world');
            assert.deepStrictEqual(core(assertConverged(w.stress, 'stress')), core(full), 'stress world = full world');
            // Converged replicas have nothing new for each other.
            for (const to of w.full) for (const from of w.full) if (from !== to) assert.equal(to.applyChanges(from.changesSince(0)).applied, 0);
            // Clocks match the rows: a row in the table has a clock for every column and an odd causal
            // length; a row not there has no cell clocks and, if it has a sentinel, an even one.
            const live = new Set(full.liveKeys);
            const cellsOf = new Map<string, string[]>();
            for (const c of full.cells) {
              const [key, rest] = c.split('].') as [string, string];
              cellsOf.set(`${key}]`, [...(cellsOf.get(`${key}]`) ?? []), rest.split(' ')[0]!]);
            }
            for (const key of live) {
              const t = key.slice(0, key.indexOf('['));
              assert.deepStrictEqual((cellsOf.get(key) ?? []).sort(), [...TABLES[t]!.cols].sort(), `cell clocks of ${key}`);
            }
            for (const key of cellsOf.keys()) assert.ok(live.has(key), `a row that isn't there has cell clocks: ${key}`);
            for (const l of full.cls) {
              const [key, cl] = l.split(' cl ') as [string, string];
              assert.equal(Number(cl) % 2 === 1, live.has(key), `causal length of ${key}: ${cl}`);
            }
          } finally {
            closeAll(...w.full, ...w.delta, ...w.stress);
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it("after a final full sync the replicas agree on every sentinel's origin too", () => {
    fc.assert(
      fc.property(fc.array(opArb(3), { minLength: 10, maxLength: 50, size: 'max' }), (ops) => {
        const replicas = [1, 2, 3].map((i) => openReplica(siteId(i)));
        try {
          for (const op of ops) {
            if (op.k === 'write') write(replicas[op.r]!, op.w);
            else if (op.k === 'seal') replicas[op.r]!.seal();
            else if (op.from !== op.to) syncFull(replicas[op.from]!, replicas[op.to]!);
          }
          finalSync(replicas);
          const dumps = replicas.map(dump);
          for (const d of dumps.slice(1)) assert.deepStrictEqual(d.sentinelSites, dumps[0]!.sentinelSites);
        } finally {
          closeAll(...replicas);
        }
      }),
      { numRuns: 40 },
    );
  });

  it("relay: A's changes reach C through B and keep A's site id", () => {
    const [a, b, c] = [1, 2, 3].map((i) => openReplica(siteId(i))) as [Engine, Engine, Engine];
    try {
      a.db.prepare('INSERT INTO items (id, a, b) VALUES (?, ?, ?)').run(1n, 'from A', 2n ** 60n);
      a.db.prepare('INSERT INTO pairs (g, n, v) VALUES (?, ?, ?)').run('é', 7n, new Uint8Array([9]));
      syncDelta(a, b);
      b.db.prepare('UPDATE items SET b = ? WHERE id = ?').run('from B', 1n);
      syncDelta(b, c);
      const viaB = [...c.changesSince(0)];
      const origin = (cid: string, table = 'items'): string => hex(viaB.find((ch: Change) => ch.table === table && ch.cid === cid)!.siteId);
      assert.equal(origin('a'), hex(a.siteId), 'A wrote a');
      assert.equal(origin('b'), hex(b.siteId), 'B wrote b');
      assert.equal(origin('v', 'pairs'), hex(a.siteId));
      const cells = dump(c).cells;
      assert.ok(cells.includes(`items[int 1].a v1 @${hex(a.siteId)}`), cells.join('\n'));
      assert.ok(cells.includes(`items[int 1].b v2 @${hex(b.siteId)}`), cells.join('\n'));
      assert.deepStrictEqual(dump(c).rows, dump(b).rows);
      // A asking B, which had A's changes straight from A, gets B's write only, never its own back…
      const fromB = [...b.changesSince(0, { exceptSite: a.siteId })];
      assert.deepStrictEqual(
        fromB.map((ch) => `${ch.table}.${ch.cid}`),
        ['items.b'],
      );
      // …while C, which had them through B (who could have forged them), sends them too: A merges
      // them as no-ops. A change under A's site id that A lacks could only reach A this way.
      const fromC = [...c.changesSince(0, { exceptSite: a.siteId })];
      assert.deepStrictEqual(fromC.map((ch) => `${ch.table}.${ch.cid}`).sort(), [...fromB, ...[...b.changesSince(0)].filter((ch) => hex(ch.siteId) === hex(a.siteId))].map((ch) => `${ch.table}.${ch.cid}`).sort());
      syncDelta(c, a);
      assertConverged([a, b, c], 'relay');
    } finally {
      closeAll(a, b, c);
    }
  });

  it('concurrent resurrects and deletes of one row settle on the greatest causal length', () => {
    const [a, b, c] = [1, 2, 3].map((i) => openReplica(siteId(i))) as [Engine, Engine, Engine];
    try {
      a.db.prepare('INSERT INTO items (id, a) VALUES (?, ?)').run(5n, 'v1');
      syncFull(a, b);
      syncFull(a, c);
      // b deletes and re-inserts (cl 3); c deletes (cl 2); a updates the old life (cl 1).
      b.db.prepare('DELETE FROM items WHERE id = 5').run();
      b.db.prepare('INSERT INTO items (id, a, b) VALUES (?, ?, ?)').run(5n, 'b life', 2.0);
      c.db.prepare('DELETE FROM items WHERE id = 5').run();
      a.db.prepare('UPDATE items SET a = ?, c = ? WHERE id = 5').run('a edit', 'x');
      syncFull(c, a);
      assert.equal(dump(a).rows.filter((r) => r.startsWith('items(int 5')).length, 0, 'the delete wins over the update');
      finalSync([a, b, c]);
      const d = assertConverged([a, b, c], 'resurrect');
      assert.ok(d.rows.includes(`items(int 5, text "b life", real 2, NULL, real 0)`), d.rows.join('\n'));
      assert.ok(d.cls.includes('items[int 5] cl 3'), d.cls.join('\n'));
    } finally {
      closeAll(a, b, c);
    }
  });
});

describe('values that SQLite compares as equal still replicate', () => {
  // The update trigger logs a column when `NEW.x IS NOT OLD.x`. SQLite compares 2 and 2.0 as equal
  // and applies the column's collation, so changing only the type, or the case under NOCASE, is
  // never logged: the writer's col_version stays put and peers keep the old value forever.
  // cr-sqlite 0.16 bumps col_version for `UPDATE … SET a = 2.0` over 2 (checked with the real extension).
  const cases: { name: string; schema: string; before: SqlValue; after: SqlValue }[] = [
    { name: 'INTEGER 2 → REAL 2.0', schema: 'CREATE TABLE t (id INTEGER PRIMARY KEY NOT NULL, x)', before: 2n, after: 2.0 },
    { name: 'REAL 2.0 → INTEGER 2', schema: 'CREATE TABLE t (id INTEGER PRIMARY KEY NOT NULL, x)', before: 2.0, after: 2n },
    { name: "'a' → 'A' in a NOCASE column", schema: 'CREATE TABLE t (id INTEGER PRIMARY KEY NOT NULL, x TEXT COLLATE NOCASE)', before: 'a', after: 'A' },
  ];
  for (const { name, schema, before, after } of cases) {
    it(name, () => {
      const [a, b] = [1, 2].map((i) => openReplica(siteId(i), schema, ['t'])) as [Engine, Engine];
      try {
        a.db.prepare('INSERT INTO t (id, x) VALUES (1, ?)').run(before);
        syncFull(a, b);
        a.db.prepare('UPDATE t SET x = ? WHERE id = 1').run(after);
        syncFull(a, b);
        const read = (e: Engine): string => repr(rows(e.db as DatabaseSync, 'SELECT x FROM t WHERE id = 1')[0]![0]);
        assert.equal(read(a), repr(after));
        assert.equal(read(b), repr(after), 'the peer sees the update');
        const clock = rows(a.db as DatabaseSync, `SELECT col_version FROM t__ddcp_clock WHERE cid = 'x'`)[0]![0];
        assert.equal(clock, 2n, 'the update bumped col_version');
      } finally {
        closeAll(a, b);
      }
    });
  }
});
