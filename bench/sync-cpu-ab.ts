/**
 * A/B of changes read and merged, in CPU time (the machine is shared: wall time swings with others'
 * load), between another source tree (a `git archive` of an older commit, with node_modules) and this
 * one, interleaved in one process: 100,000 rows of `items` inserted and sealed at a source (300,000
 * changes), all read with `changesSince(0)`, and merged into an empty file-backed replica; beside it
 * the plain INSERT OR REPLACE of the same rows into an empty table. Best of BENCH_REPS (3).
 *
 *   node --disable-warning=ExperimentalWarning bench/sync-cpu-ab.ts /tmp/base      (BENCH_ROWS, BENCH_REPS)
 */
import { resolve } from 'node:path';
import { cpuMsOf, fillItemsCrr, ITEMS_DDL, makeItems, Scratch } from './util.ts';

type EngineModule = typeof import('../src/engine/engine.ts');
type SqliteModule = typeof import('../src/engine/sqlite.ts');

const ROWS = Number(process.env.BENCH_ROWS ?? 100_000);
const REPS = Number(process.env.BENCH_REPS ?? 3);

const trees = [
  { label: 'before', root: resolve(process.argv[2] ?? '') },
  { label: 'after', root: resolve(import.meta.dirname, '..') },
];
if (!process.argv[2]) throw new Error('usage: bench/sync-cpu-ab.ts <other tree>');
const loaded = await Promise.all(
  trees.map(async (t) => ({
    ...t,
    engine: (await import(resolve(t.root, 'src/engine/engine.ts'))) as EngineModule,
    sqlite: (await import(resolve(t.root, 'src/engine/sqlite.ts'))) as SqliteModule,
  })),
);
const items = makeItems(ROWS);
const scratch = new Scratch();
const best: Record<string, { read: number; merge: number; plain: number; changes: number }> = {};
for (let rep = 0; rep < REPS; rep++) {
  for (const t of loaded) {
    const files = ['src', 'dst', 'plain'].map((f) => scratch.file(`${f}-${t.label}`));
    const src = t.engine.Engine.open(t.sqlite.openDatabase(files[0]!));
    fillItemsCrr(src, items);
    src.seal();
    let changes = 0;
    const read = cpuMsOf(() => {
      for (const c of src.changesSince(0)) if (c.cl > 0) changes++;
    });
    const all = [...src.changesSince(0)];
    const dst = t.engine.Engine.open(t.sqlite.openDatabase(files[1]!));
    dst.db.exec(ITEMS_DDL);
    dst.asCrr('items');
    const merge = cpuMsOf(() => void dst.applyChanges(all));
    const plainDb = t.sqlite.openDatabase(files[2]!);
    plainDb.exec(ITEMS_DDL);
    const ior = plainDb.prepare('INSERT OR REPLACE INTO items (id, name, qty, price) VALUES (?, ?, ?, ?)');
    const plain = cpuMsOf(() => {
      plainDb.exec('BEGIN');
      for (const r of items) ior.run(r[0], r[1], r[2], r[3]);
      plainDb.exec('COMMIT');
    });
    for (const db of [src.db, dst.db, plainDb]) db.close();
    for (const f of files) scratch.remove(f);
    const b = (best[t.label] ??= { read: Infinity, merge: Infinity, plain: Infinity, changes });
    b.read = Math.min(b.read, read);
    b.merge = Math.min(b.merge, merge);
    b.plain = Math.min(b.plain, plain);
  }
}
scratch.cleanup();
console.log(`${ROWS} rows, best of ${REPS}, trees interleaved; CPU ms of this process`);
console.log('| tree | changes | read ms | read /s (CPU) | merge ms | merge /s (CPU) | plain INSERT OR REPLACE ms | merge ratio |');
console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
for (const [label, b] of Object.entries(best)) {
  console.log(`| ${label} | ${b.changes} | ${b.read.toFixed(0)} | ${Math.round((b.changes / b.read) * 1000)} | ${b.merge.toFixed(0)} | ${Math.round((b.changes / b.merge) * 1000)} | ${b.plain.toFixed(0)} | ${(b.merge / b.plain).toFixed(2)}× |`);
}
