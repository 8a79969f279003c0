/**
 * A/B of merges of several shapes, in CPU time, between another source tree (a worktree of an older
 * commit, with node_modules) and this one, interleaved in one process. The source: 100,000 rows of
 * `items` inserted and sealed (300,000 changes; with BENCH_DELETES=1 a tenth of the rows then deleted
 * and a seventh updated before the seal). Shapes (BENCH_SHAPES, comma-separated, default all):
 * `empty` merges every change into an empty replica; `half` the second half into a replica holding
 * the first; `tie` every change again into a replica that has them (every cell a tie). Per shape and
 * tree: the process's CPU (what bench/sync-cpu-ab.ts reports: it includes other threads, e.g. the
 * sweeping that follows the collection before each timing) and the main thread's, min and median
 * of BENCH_REPS (7), and the median of the repetitions' paired differences. BENCH_STUB=1 turns every INSERT into a no-op, in both trees alike, so the
 * figures are the merge's JavaScript (and its reads) alone: the results are then wrong, the work the
 * same for `empty`.
 *
 *   node --disable-warning=ExperimentalWarning bench/merge-shapes-ab.ts /tmp/base
 */
import { resolve } from 'node:path';
import { StatementSync } from 'node:sqlite';
import { cpuMsOf, fillItemsCrr, ITEMS_DDL, makeItems, Scratch } from './util.ts';
import { engineTrees } from './trees.ts';

type EngineModule = typeof import('../src/engine/engine.ts');
type SqliteModule = typeof import('../src/engine/sqlite.ts');

const ROWS = Number(process.env.BENCH_ROWS ?? 100_000);
const REPS = Number(process.env.BENCH_REPS ?? 7);
const SHAPES = (process.env.BENCH_SHAPES ?? 'empty,half,tie').split(',');
const trees = await engineTrees('bench/merge-shapes-ab.ts');

let stubbed = false;
if (process.env.BENCH_STUB) {
  const run = StatementSync.prototype.run;
  StatementSync.prototype.run = function (this: StatementSync, ...params: unknown[]) {
    return stubbed && this.sourceSQL.startsWith('INSERT INTO') ? { changes: 0, lastInsertRowid: 0 } : run.apply(this, params as never);
  } as typeof run;
}

const threadMs = (): number => {
  const u = process.threadCpuUsage();
  return (u.user + u.system) / 1000;
};

const items = makeItems(ROWS);
const scratch = new Scratch();
const { engine, sqlite } = trees[0]!;
const src = engine.Engine.open(sqlite.openDatabase(scratch.file('src')));
fillItemsCrr(src, items);
if (process.env.BENCH_DELETES) {
  src.seal();
  src.db.exec('DELETE FROM items WHERE id % 10 = 3');
  src.db.exec('UPDATE items SET qty = qty + 1 WHERE id % 7 = 1');
}
src.seal();
const all = [...src.changesSince(0)];
const half = Math.floor(all.length / 2);

const times: Record<string, { cpu: number[]; thread: number[] }> = {};
for (let rep = 0; rep < REPS; rep++) {
  for (const shape of SHAPES) {
    for (const t of trees) {
      const file = scratch.file(`dst-${t.label}`);
      const dst = t.engine.Engine.open(t.sqlite.openDatabase(file));
      dst.db.exec(ITEMS_DDL);
      dst.asCrr('items');
      let batch = all;
      if (shape === 'half') {
        dst.applyChanges(all.slice(0, half));
        batch = all.slice(half);
      } else if (shape === 'tie') dst.applyChanges(all);
      let thread = 0;
      const cpu = cpuMsOf(() => {
        stubbed = true;
        const t0 = threadMs();
        dst.applyChanges(batch);
        thread = threadMs() - t0;
        stubbed = false;
      });
      const m = (times[`${shape} | ${t.label}`] ??= { cpu: [], thread: [] });
      m.cpu.push(cpu);
      m.thread.push(thread);
      dst.db.close();
      scratch.remove(file);
    }
  }
}
scratch.cleanup();

const stat = (v: number[]): string => {
  const s = [...v].sort((a, b) => a - b);
  return `${s[0]!.toFixed(0)} / ${s[s.length >> 1]!.toFixed(0)}`;
};
console.log(`${ROWS} rows (${all.length} changes${process.env.BENCH_DELETES ? ', with deletes and updates' : ''}${process.env.BENCH_STUB ? ', INSERTs stubbed' : ''}), ${REPS} reps interleaved; CPU ms, min / median`);
console.log('| shape | tree | process CPU | main thread CPU |');
console.log('|---|---|---:|---:|');
for (const [k, m] of Object.entries(times)) console.log(`| ${k} | ${stat(m.cpu)} | ${stat(m.thread)} |`);
// Under load the spread between repetitions exceeds small differences: the median of each
// repetition's after − before (the two trees ran back to back) is steadier than either median.
console.log('\n| shape | after − before, main thread CPU ms: median of the paired differences (least, greatest) |');
console.log('|---|---:|');
for (const shape of SHAPES) {
  const a = times[`${shape} | after`]!.thread;
  const b = times[`${shape} | before`]!.thread;
  const d = a.map((x, i) => x - b[i]!).sort((x, y) => x - y);
  console.log(`| ${shape} | ${d[d.length >> 1]!.toFixed(1)} (${d[0]!.toFixed(0)}, ${d[d.length - 1]!.toFixed(0)}) |`);
}
