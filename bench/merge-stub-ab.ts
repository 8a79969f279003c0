/**
 * A/B of the merge's own work (its JavaScript and the statements other than INSERTs), in main-thread
 * CPU time, between another source tree (a worktree of an older commit) and this one, interleaved in
 * one process: the bench's 300,000 changes (100,000 rows of `items` inserted and sealed) merged into
 * empty in-memory replicas with every INSERT a no-op (the results are then wrong, the work the same).
 * Each sample times BENCH_PER (8) merges back to back: the thread CPU clock advances in steps of up
 * to ~4 ms on this kernel (tick-based accounting; `process.cpuUsage` is finer but counts the other
 * threads), too coarse for one ~30 ms merge. BENCH_SAMPLES (11) samples per tree; prints min / median
 * per merge and the median of the samples' paired after − before.
 *
 *   node --expose-gc --disable-warning=ExperimentalWarning bench/merge-stub-ab.ts <other tree>
 */
import { resolve } from 'node:path';
import { StatementSync } from 'node:sqlite';
import { fillItemsCrr, gc, ITEMS_DDL, makeItems, Scratch } from './util.ts';
import { engineTrees } from './trees.ts';

type EngineModule = typeof import('../src/engine/engine.ts');
type SqliteModule = typeof import('../src/engine/sqlite.ts');

const PER = Number(process.env.BENCH_PER ?? 8);
const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 11);
const trees = await engineTrees('bench/merge-stub-ab.ts');

let stubbed = false;
const run = StatementSync.prototype.run;
StatementSync.prototype.run = function (this: StatementSync, ...params: unknown[]) {
  return stubbed && this.sourceSQL.startsWith('INSERT INTO') ? { changes: 0, lastInsertRowid: 0 } : run.apply(this, params as never);
} as typeof run;

const scratch = new Scratch();
const { engine, sqlite } = trees[0]!;
const src = engine.Engine.open(sqlite.openDatabase(scratch.file('src')));
fillItemsCrr(src, makeItems(100_000));
src.seal();
const all = [...src.changesSince(0)];
const threadMs = (): number => {
  const u = process.threadCpuUsage();
  return (u.user + u.system) / 1000;
};
const times: Record<string, number[]> = { before: [], after: [] };
for (let s = 0; s < SAMPLES; s++) {
  for (const t of trees) {
    const replicas = Array.from({ length: PER }, () => {
      const db = t.sqlite.openDatabase(':memory:');
      db.exec(ITEMS_DDL);
      const e = t.engine.Engine.open(db);
      e.asCrr('items');
      return e;
    });
    gc();
    const t0 = threadMs();
    stubbed = true;
    for (const e of replicas) e.applyChanges(all);
    stubbed = false;
    times[t.label]!.push((threadMs() - t0) / PER);
    for (const e of replicas) e.db.close();
  }
}
scratch.cleanup();
const stat = (v: number[]): string => {
  const s = [...v].sort((a, b) => a - b);
  return `${s[0]!.toFixed(1)} / ${s[s.length >> 1]!.toFixed(1)}`;
};
const d = times.after!.map((x, i) => x - times.before![i]!).sort((a, b) => a - b);
console.log(`${all.length} changes into an empty replica, INSERTs stubbed; main-thread CPU ms per merge, min / median (${SAMPLES} samples of ${PER} merges)`);
console.log(`before ${stat(times.before!)}; after ${stat(times.after!)}; after − before, paired median ${d[d.length >> 1]!.toFixed(2)} (least ${d[0]!.toFixed(1)}, greatest ${d[d.length - 1]!.toFixed(1)})`);
