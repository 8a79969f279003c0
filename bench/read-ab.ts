/**
 * A/B of the changes feed's read alone, in CPU time, between another source tree (a worktree of an
 * older commit, with node_modules) and this one, interleaved in one process:
 * - all changes of BENCH_ROWS rows of `items` inserted and sealed (3 changes a row), read with
 *   `changesSince(0)`;
 * - the same after an update of one column of every third row (overrides beside row clocks);
 * - the first read through a read filter (two of the three columns, of rows with qty > 10: a hub
 *   share's or a peer policy's initial sync);
 * - small reads: the last version's changes (10 rows, 30 changes) of a database of 2,000 rows in
 *   200 versions and a second table, read 2,000 times (a hub reads once per merge, a live follower
 *   once per commit), in µs per read.
 * Best of BENCH_REPS (5).
 *
 *   node --disable-warning=ExperimentalWarning bench/read-ab.ts /work/wt/main-base
 */
import { resolve } from 'node:path';
import { cpuMsOf, ITEMS_DDL, makeItems, Scratch } from './util.ts';
import { engineTrees } from './trees.ts';

type EngineModule = typeof import('../src/engine/engine.ts');
type SqliteModule = typeof import('../src/engine/sqlite.ts');
type Engine = import('../src/engine/engine.ts').Engine;

const ROWS = Number(process.env.BENCH_ROWS ?? 100_000);
const REPS = Number(process.env.BENCH_REPS ?? 5);
const SMALL_READS = 2_000;


const trees = await engineTrees('bench/read-ab.ts');
const items = makeItems(ROWS);
const scratch = new Scratch();

const open = (t: (typeof trees)[number], tag: string): Engine => {
  const e = t.engine.Engine.open(t.sqlite.openDatabase(scratch.file(`${tag}-${t.label}`)));
  e.db.exec(ITEMS_DDL);
  e.asCrr('items');
  return e;
};

const setups = trees.map((t) => {
  const big = open(t, 'big');
  const ins = big.db.prepare('INSERT INTO items (id, name, qty, price) VALUES (?, ?, ?, ?)');
  big.db.exec('BEGIN');
  for (const r of items) ins.run(r[0], r[1], r[2], r[3]);
  big.db.exec('COMMIT');
  big.seal();
  const updated = open(t, 'updated');
  const ins2 = updated.db.prepare('INSERT INTO items (id, name, qty, price) VALUES (?, ?, ?, ?)');
  updated.db.exec('BEGIN');
  for (const r of items) ins2.run(r[0], r[1], r[2], r[3]);
  updated.db.exec('COMMIT');
  updated.seal();
  updated.db.exec('UPDATE items SET qty = qty + 1 WHERE id % 3 = 0');
  updated.seal();
  const small = open(t, 'small');
  small.db.exec('CREATE TABLE other (k TEXT PRIMARY KEY NOT NULL, v)');
  small.asCrr('other');
  const ins3 = small.db.prepare('INSERT INTO items (id, name, qty, price) VALUES (?, ?, ?, ?)');
  for (let i = 0; i < 2_000; i++) {
    const r = items[i % items.length]!;
    ins3.run(BigInt(i + 1), r[1], r[2], r[3]);
    if (i % 10 === 9) small.seal();
  }
  return { t, big, updated, small, top: small.currentDbVersion() };
});

const FILTER = { rules: [{ table: 'items', columns: ['name', 'qty'], where: 'qty > 10' }] };
const count = (e: Engine, since: number, read?: typeof FILTER): number => {
  let n = 0;
  for (const c of e.changesSince(since, read ? { read } : {})) if (c.cl > 0) n++;
  return n;
};
const best: Record<string, { changes: number; updatedChanges: number; filteredChanges: number; read: number; updated: number; filtered: number; small: number }> = {};
for (let rep = 0; rep < REPS; rep++) {
  for (const s of setups) {
    const b = (best[s.t.label] ??= {
      changes: count(s.big, 0),
      updatedChanges: count(s.updated, 0),
      filteredChanges: count(s.big, 0, FILTER),
      ...{ read: Infinity, updated: Infinity, filtered: Infinity, small: Infinity },
    });
    b.read = Math.min(b.read, cpuMsOf(() => count(s.big, 0)));
    b.updated = Math.min(b.updated, cpuMsOf(() => count(s.updated, 0)));
    b.filtered = Math.min(b.filtered, cpuMsOf(() => count(s.big, 0, FILTER)));
    b.small = Math.min(b.small, (cpuMsOf(() => {
      for (let i = 0; i < SMALL_READS; i++) count(s.small, s.top - 1);
    }) * 1000) / SMALL_READS);
  }
}
for (const s of setups) for (const e of [s.big, s.updated, s.small]) e.db.close();
scratch.cleanup();
console.log(`${ROWS} rows, best of ${REPS}, trees interleaved; CPU of this process`);
console.log('| tree | read ms | read /s (CPU) | read after updates ms | /s (CPU) | filtered read ms | /s (CPU) | small read µs |');
console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
for (const [label, b] of Object.entries(best)) {
  console.log(`| ${label} | ${b.read.toFixed(0)} | ${Math.round((b.changes / b.read) * 1000)} | ${b.updated.toFixed(0)} | ${Math.round((b.updatedChanges / b.updated) * 1000)} | ${b.filtered.toFixed(0)} | ${Math.round((b.filteredChanges / b.filtered) * 1000)} | ${b.small.toFixed(0)} |`);
}
