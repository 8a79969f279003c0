/**
 * A/B of the insert seal for keys in no order (seal-runs.ts, insertOrder): another source tree against
 * this one, interleaved in one process, CPU ms. Per repetition and tree: `items` made a CRR, BENCH_BASE
 * rows with scattered keys inserted and sealed (not timed), then BENCH_ROWS more inserted in one
 * transaction and sealed — the seal timed (the app-visible insert too, for reference).
 *
 *   node --disable-warning=ExperimentalWarning bench/insert-order-ab.ts /tmp/base   (BENCH_ROWS, BENCH_BASE, BENCH_REPS)
 */
import { resolve } from 'node:path';
import { cpuMsOf, gc, ITEMS_DDL, Scratch } from './util.ts';

type EngineModule = typeof import('../src/engine/engine.ts');
type SqliteModule = typeof import('../src/engine/sqlite.ts');

const ROWS = Number(process.env.BENCH_ROWS ?? 100_000);
const BASE = Number(process.env.BENCH_BASE ?? 100_000);
const REPS = Number(process.env.BENCH_REPS ?? 5);

const trees = await Promise.all(
  [['before', process.argv[2]!], ['after', resolve(import.meta.dirname, '..')]].map(async ([label, root]) => ({
    label: label!,
    engine: (await import(resolve(root!, 'src/engine/engine.ts'))) as EngineModule,
    sqlite: (await import(resolve(root!, 'src/engine/sqlite.ts'))) as SqliteModule,
  })),
);

/** Distinct keys in no order: i × 2654435761 modulo a prime above 2^32. */
const key = (i: number): bigint => (BigInt(i) * 2654435761n) % 4294967311n;

const scratch = new Scratch();
const samples = new Map<string, { insert: number[]; seal: number[] }>();
for (let rep = 0; rep < REPS; rep++) {
  for (const t of trees) {
    const path = scratch.file(t.label);
    const db = t.sqlite.openDatabase(path);
    db.exec(ITEMS_DDL);
    const engine = t.engine.Engine.open(db);
    engine.asCrr('items');
    const ins = db.prepare('INSERT INTO items (id, name, qty, price) VALUES (?, ?, ?, ?)');
    const fill = (lo: number, hi: number): void => {
      db.exec('BEGIN');
      for (let i = lo; i <= hi; i++) ins.run(key(i), `item ${i}`, BigInt(i % 100), i + 0.25);
      db.exec('COMMIT');
    };
    if (BASE > 0) {
      fill(1, BASE);
      engine.seal();
    }
    gc();
    const insert = cpuMsOf(() => fill(BASE + 1, BASE + ROWS), false);
    gc();
    const seal = cpuMsOf(() => engine.seal(), false);
    const s = samples.get(t.label) ?? { insert: [], seal: [] };
    s.insert.push(insert);
    s.seal.push(seal);
    samples.set(t.label, s);
    db.close();
    scratch.remove(path);
  }
}
scratch.cleanup();
const fmt = (xs: number[]): string => {
  const s = [...xs].sort((a, b) => a - b);
  return `${s[0]!.toFixed(1)} / ${s[s.length >> 1]!.toFixed(1)}`;
};
console.log(`${ROWS} rows with scattered keys into ${BASE}, ${REPS} reps, CPU ms least / median`);
console.log('| tree | app-visible insert | seal |\n|---|---:|---:|');
for (const [label, s] of samples) console.log(`| ${label} | ${fmt(s.insert)} | ${fmt(s.seal)} |`);
