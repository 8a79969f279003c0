/**
 * A/B of a real merge into empty file-backed replicas, in main-thread CPU time, between another source
 * tree (a worktree of an older commit, with node_modules) and this one, interleaved in one process:
 * the bench's 300,000 changes (100,000 rows of `items` inserted and sealed), each merge preceded by
 * a full collection and followed by a PASSIVE checkpoint, as bench/ddcp.ts times it. Each sample adds
 * up BENCH_PER (4) merges (the thread CPU clock advances in steps of up to ~4 ms on this kernel, too
 * coarse for one merge); the trees alternate which goes first (A B, B A, …). Each tree keeps an
 * engine of its own open throughout, as the bench keeps its source (a class with no instance left
 * loses its hidden classes, and the code built for them, at a full collection: src/base/hidden-classes.ts).
 * Per sample the plain `INSERT OR REPLACE` of the same rows is timed too, for the ratio.
 * BENCH_SAMPLES (11); prints min / median per merge and the median of the samples' paired after − before.
 * BENCH_DDL: the table's DDL instead of the bench's `items` (the same columns id, name, qty, price),
 * e.g. a hub's untyped table `CREATE TABLE items (id NOT NULL, name, qty, price, PRIMARY KEY (id))`.
 * BENCH_PULL=1: a pull of updates instead — each merge into a copy of a replica (made by that tree)
 * holding every row as first inserted, the changes those of the source having since updated every
 * column of every row.
 *
 *   node --expose-gc --disable-warning=ExperimentalWarning bench/merge-batch-ab.ts <other tree>
 */
import { copyFileSync } from 'node:fs';
import { gc, ITEMS_DDL, makeItems, Scratch } from './util.ts';
import { engineTrees } from './trees.ts';

type EngineModule = typeof import('../src/engine/engine.ts');
type SqliteModule = typeof import('../src/engine/sqlite.ts');

const PER = Number(process.env.BENCH_PER ?? 4);
const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 11);
const trees = await engineTrees('bench/merge-batch-ab.ts');

const DDL = process.env.BENCH_DDL ?? ITEMS_DDL;
const PULL = process.env.BENCH_PULL === '1';
const scratch = new Scratch();
const items = makeItems(100_000);
const { engine, sqlite } = trees[0]!;
const src = engine.Engine.open(sqlite.openDatabase(scratch.file('src')));
src.db.exec(DDL);
src.asCrr('items');
const ins = src.db.prepare('INSERT INTO items (id, name, qty, price) VALUES (?, ?, ?, ?)');
src.db.exec('BEGIN');
for (const r of items) ins.run(r[0], r[1], r[2], r[3]);
src.db.exec('COMMIT');
src.seal();
let all = [...src.changesSince(0)];
// BENCH_PULL: per tree, a replica holding the rows as first inserted; then every column of every row updated.
const older = new Map<string, string>();
if (PULL) {
  for (const t of trees) {
    const file = scratch.file(`older-${t.label}`);
    const e = t.engine.Engine.open(t.sqlite.openDatabase(file));
    e.db.exec(DDL);
    e.asCrr('items');
    e.applyChanges(all);
    e.db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
    e.db.close();
    older.set(t.label, file);
  }
  const since = src.currentDbVersion();
  src.db.exec("BEGIN; UPDATE items SET name = name || ' (2)', qty = qty + 1, price = price * 2; COMMIT");
  src.seal();
  all = [...src.changesSince(since)];
}
// An engine per tree, open throughout (see above).
const open = trees.map((t) => {
  const e = t.engine.Engine.open(t.sqlite.openDatabase(':memory:'));
  e.db.exec(DDL);
  e.asCrr('items');
  return e;
});
const threadMs = (): number => {
  const u = process.threadCpuUsage();
  return (u.user + u.system) / 1000;
};
const times: Record<string, number[]> = { before: [], after: [], plain: [] };
for (let s = 0; s < SAMPLES; s++) {
  for (const t of s % 2 === 0 ? trees : [...trees].reverse()) {
    const replicas = Array.from({ length: PER }, () => {
      const file = scratch.file(`dst-${t.label}`);
      if (PULL) copyFileSync(older.get(t.label)!, file);
      const db = t.sqlite.openDatabase(file);
      if (!PULL) db.exec(DDL);
      const e = t.engine.Engine.open(db);
      if (!PULL) e.asCrr('items');
      return { e, file };
    });
    let ms = 0;
    for (const { e } of replicas) {
      gc();
      const t0 = threadMs();
      const r = e.applyChanges(all);
      e.db.exec('PRAGMA wal_checkpoint(PASSIVE)');
      ms += threadMs() - t0;
      if (r.applied !== all.length) throw new Error(`merge applied ${r.applied} of ${all.length}`);
    }
    times[t.label]!.push(ms / PER);
    for (const { e, file } of replicas) {
      e.db.close();
      scratch.remove(file);
    }
  }
  const plains = Array.from({ length: PER }, () => {
    const file = scratch.file('plain');
    const db = sqlite.openDatabase(file);
    db.exec(DDL);
    return { db, file, ior: db.prepare('INSERT OR REPLACE INTO items (id, name, qty, price) VALUES (?, ?, ?, ?)') };
  });
  let ms = 0;
  for (const { db, ior } of plains) {
    gc();
    const t0 = threadMs();
    db.exec('BEGIN');
    for (const r of items) ior.run(r[0], r[1], r[2], r[3]);
    db.exec('COMMIT');
    db.exec('PRAGMA wal_checkpoint(PASSIVE)');
    ms += threadMs() - t0;
  }
  times.plain!.push(ms / PER);
  for (const { db, file } of plains) {
    db.close();
    scratch.remove(file);
  }
}
for (const e of open) e.db.close();
scratch.cleanup();
const stat = (v: number[]): string => {
  const s = [...v].sort((a, b) => a - b);
  return `${s[0]!.toFixed(1)} / ${s[s.length >> 1]!.toFixed(1)}`;
};
const median = (v: number[]): number => [...v].sort((a, b) => a - b)[v.length >> 1]!;
const d = times.after!.map((x, i) => x - times.before![i]!).sort((a, b) => a - b);
console.log(`${all.length} changes into ${PULL ? 'a file-backed replica holding older versions of the rows' : 'an empty file-backed replica'}; main-thread CPU ms per merge, min / median (${SAMPLES} samples of ${PER} merges)`);
console.log(`before ${stat(times.before!)}; after ${stat(times.after!)}; after − before, paired median ${d[d.length >> 1]!.toFixed(2)} (least ${d[0]!.toFixed(1)}, greatest ${d[d.length - 1]!.toFixed(1)})`);
const ratio = (label: string): string => median(times[label]!.map((x, i) => x / times.plain![i]!)).toFixed(2);
console.log(`plain INSERT OR REPLACE ${stat(times.plain!)}; merge ÷ plain, median of the samples: before ${ratio('before')}×, after ${ratio('after')}×`);
