/**
 * Merge ÷ plain `INSERT OR REPLACE` on the main thread: the bench's 300,000 changes (100,000 rows
 * inserted and sealed) merged into an empty file-backed replica, then the plain INSERT OR REPLACE of
 * the same rows into an empty table, BENCH_REPS (15) pairs back to back in one process. The main
 * thread's CPU leaves out what other threads do meanwhile (the sweeping after the collection before
 * each timing, ~60 ms a merge, which `npm run bench`'s wall clock runs beside on the second core).
 * Run it in two trees one after the other for an A/B.
 *
 *   node --expose-gc --disable-warning=ExperimentalWarning bench/merge-ratio.ts      (BENCH_ROWS, BENCH_REPS)
 */
import { Engine } from '../src/engine/engine.ts';
import { openDatabase } from '../src/engine/sqlite.ts';
import { fillItemsCrr, gc, ITEMS_DDL, makeItems, Scratch } from './util.ts';

const ROWS = Number(process.env.BENCH_ROWS ?? 100_000);
const REPS = Number(process.env.BENCH_REPS ?? 15);
const items = makeItems(ROWS);
const scratch = new Scratch();
const src = Engine.open(openDatabase(scratch.file('src')));
fillItemsCrr(src, items);
src.seal();
const all = [...src.changesSince(0)];

const threadMs = (f: () => void): number => {
  gc();
  const u = process.threadCpuUsage();
  f();
  const d = process.threadCpuUsage(u);
  return (d.user + d.system) / 1000;
};
const merges: number[] = [];
const plains: number[] = [];
for (let i = 0; i < REPS; i++) {
  const file = scratch.file('replica');
  const db = openDatabase(file);
  db.exec(ITEMS_DDL);
  const replica = Engine.open(db);
  replica.asCrr('items');
  merges.push(threadMs(() => void replica.applyChanges(all)));
  db.close();
  scratch.remove(file);
  const plainFile = scratch.file('plain');
  const plain = openDatabase(plainFile);
  plain.exec(ITEMS_DDL);
  const ior = plain.prepare('INSERT OR REPLACE INTO items (id, name, qty, price) VALUES (?, ?, ?, ?)');
  plains.push(
    threadMs(() => {
      plain.exec('BEGIN');
      for (const r of items) ior.run(r[0], r[1], r[2], r[3]);
      plain.exec('COMMIT');
    }),
  );
  plain.close();
  scratch.remove(plainFile);
}
scratch.cleanup();
const sorted = (v: number[]): number[] => [...v].sort((a, b) => a - b);
const [m, p] = [sorted(merges), sorted(plains)];
const ratios = sorted(merges.map((x, i) => x / plains[i]!));
const mid = REPS >> 1;
console.log(`${ROWS} rows (${all.length} changes), ${REPS} pairs; main thread CPU ms, min / median`);
console.log(`merge ${m[0]!.toFixed(0)} / ${m[mid]!.toFixed(0)}; plain INSERT OR REPLACE ${p[0]!.toFixed(0)} / ${p[mid]!.toFixed(0)}`);
console.log(`merge ÷ plain: ${ratios[mid]!.toFixed(2)}× (median of the pairs; least ${ratios[0]!.toFixed(2)}×, of the minimums ${(m[0]! / p[0]!).toFixed(2)}×)`);
