/**
 * The cost of a read policy on initial sync: reading every change of N rows (3 changes a row) with no
 * filter, with a row predicate that keeps every row (the predicate's pure overhead: the issue's
 * target is ≤ 1.5× of no filter), with one keeping half, and with a column filter.
 *
 *   node --disable-warning=ExperimentalWarning bench/policy.ts       # N = 100,000 rows, best of 3
 *   BENCH_ROWS=20000 BENCH_REPS=5 node … bench/policy.ts
 */
import { fileURLToPath } from 'node:url';
import { Engine } from '../src/engine/engine.ts';
import type { ReadFilter } from '../src/engine/filter.ts';
import { openDatabase } from '../src/engine/sqlite.ts';
import { gc, ITEMS_DDL, makeItems, now, Scratch, timing, type Item, type Timing } from './util.ts';

export interface ReadFilterResults {
  changes: number;
  none: Timing;
  /** `qty >= 0 OR name = :peer`: true for every row, so the same changes are read. */
  whereAll: Timing;
  whereAllChanges: number;
  /** `qty % 2 = 0`: half the rows. */
  whereHalf: Timing;
  whereHalfChanges: number;
  /** Two of the three columns. */
  columns: Timing;
  columnsChanges: number;
}

/** Reads every change since 0 through `read`, `reps` times; best time and how many changes. */
function readAll(engine: Engine, read: ReadFilter | undefined, reps: number): { t: Timing; n: number } {
  const samples: number[] = [];
  let n = 0;
  for (let i = 0; i < reps; i++) {
    gc();
    const t0 = now();
    n = 0;
    for (const c of engine.changesSince(0, read ? { read } : {})) if (c.cl > 0) n++;
    samples.push(now() - t0);
  }
  return { t: timing(samples), n };
}

export function measureReadFilter(scratch: Scratch, items: Item[], reps: number): ReadFilterResults {
  const path = scratch.file('policy');
  const db = openDatabase(path);
  db.exec(ITEMS_DDL);
  const engine = Engine.open(db);
  engine.asCrr('items');
  const ins = db.prepare('INSERT INTO items (id, name, qty, price) VALUES (?, ?, ?, ?)');
  db.exec('BEGIN');
  for (const r of items) ins.run(r[0], r[1], r[2], r[3]);
  db.exec('COMMIT');
  engine.seal();
  const params = { peer: '12D3KooWPX8CPSfyUAQs89e1XoMPenW7kYCty1ovA3JyefsXtmH4' };
  // Interleaved so drift on a shared machine hits every variant alike.
  const none = readAll(engine, undefined, reps);
  const whereAll = readAll(engine, { rules: [{ table: 'items', where: 'qty >= 0 OR name = :peer' }], params }, reps);
  const whereHalf = readAll(engine, { rules: [{ table: 'items', where: 'qty % 2 = 0' }], params }, reps);
  const columns = readAll(engine, { rules: [{ table: 'items', columns: ['name', 'qty'] }], params }, reps);
  db.close();
  scratch.remove(path);
  return {
    changes: none.n,
    none: none.t,
    whereAll: whereAll.t,
    whereAllChanges: whereAll.n,
    whereHalf: whereHalf.t,
    whereHalfChanges: whereHalf.n,
    columns: columns.t,
    columnsChanges: columns.n,
  };
}

/** The figures as a Markdown section (also printed by `npm run bench`). */
export function readFilterReport(r: ReadFilterResults, rows: number, reps: number): string {
  const line = (what: string, t: Timing, n: number): string =>
    `| ${what} | ${n.toLocaleString('en-US')} | ${t.best.toFixed(1)} | ${Math.round((n * 1000) / t.best).toLocaleString('en-US')} | ${(t.best / r.none.best).toFixed(2)}× |`;
  const ratio = r.whereAll.best / r.none.best;
  return [
    `\n## Read policies\n\nReading the changes of ${rows.toLocaleString('en-US')} rows through a read filter (best of ${reps}):\n`,
    '| read filter | changes | ms | changes/s | vs none |\n|---|---:|---:|---:|---:|',
    line('none', r.none, r.changes),
    line('WHERE true for every row', r.whereAll, r.whereAllChanges),
    line('WHERE true for half the rows', r.whereHalf, r.whereHalfChanges),
    line('2 of 3 columns', r.columns, r.columnsChanges),
    `\nrow predicate on initial sync: ${ratio.toFixed(2)}× of no filter (target ≤ 1.5×): ${ratio <= 1.5 ? 'met' : 'MISSED'}\n`,
  ].join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const rows = Number(process.env.BENCH_ROWS ?? 100_000);
  const reps = Number(process.env.BENCH_REPS ?? 3);
  const scratch = new Scratch();
  try {
    measureReadFilter(scratch, makeItems(Math.min(rows, 10_000)), 1); // warm-up
    process.stdout.write(readFilterReport(measureReadFilter(scratch, makeItems(rows), reps), rows, reps));
  } finally {
    scratch.cleanup();
  }
}
