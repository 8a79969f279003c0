/**
 * What the COMMIT of a merge into an empty replica costs beside the plain INSERT OR REPLACE's, with
 * SQLite's automatic WAL checkpoint as it is (1,000 pages) and turned off for both. The bench's
 * plain table of 100,000 rows leaves ~750 pages in the WAL, under the threshold, so its commit never
 * checkpoints; the merge's ~1,500 pages (table, key map, its index) make its commit copy them all to
 * the database file. CPU ms of this process, interleaved, BENCH_REPS (7) of each.
 *
 *   node --disable-warning=ExperimentalWarning bench/merge-checkpoint.ts      (BENCH_ROWS, BENCH_REPS)
 */
import { DatabaseSync } from 'node:sqlite';
import { Engine } from '../src/engine/engine.ts';
import { openDatabase } from '../src/engine/sqlite.ts';
import { cpuMsOf, fillItemsCrr, ITEMS_DDL, makeItems, Scratch } from './util.ts';

const ROWS = Number(process.env.BENCH_ROWS ?? 100_000);
const REPS = Number(process.env.BENCH_REPS ?? 7);
const items = makeItems(ROWS);
const scratch = new Scratch();
const src = Engine.open(openDatabase(scratch.file('src')));
fillItemsCrr(src, items);
src.seal();
const all = [...src.changesSince(0)];

// The CPU of every COMMIT (the engine's own included), summed while `commits` is counting.
let commits = 0;
const exec = DatabaseSync.prototype.exec;
DatabaseSync.prototype.exec = function (this: DatabaseSync, sql: string) {
  if (sql !== 'COMMIT') return exec.call(this, sql);
  const u = process.cpuUsage();
  exec.call(this, sql);
  const d = process.cpuUsage(u);
  commits += (d.user + d.system) / 1000;
} as typeof exec;

const open = (tag: string, checkpoints: boolean): { db: DatabaseSync; file: string } => {
  const file = scratch.file(tag);
  const db = openDatabase(file);
  if (!checkpoints) db.exec('PRAGMA wal_autocheckpoint = 0');
  db.exec(ITEMS_DDL);
  return { db, file };
};

const out: Record<string, { total: number[]; commit: number[] }> = {};
const note = (k: string, total: number, commit: number): void => {
  const o = (out[k] ??= { total: [], commit: [] });
  o.total.push(total);
  o.commit.push(commit);
};
for (let rep = 0; rep < REPS; rep++) {
  for (const checkpoints of [true, false]) {
    const label = checkpoints ? 'autocheckpoint 1000' : 'autocheckpoint off';
    const m = open('merge', checkpoints);
    const replica = Engine.open(m.db);
    replica.asCrr('items');
    commits = 0;
    const merge = cpuMsOf(() => void replica.applyChanges(all));
    note(`merge, ${label}`, merge, commits);
    m.db.close();
    scratch.remove(m.file);
    const p = open('plain', checkpoints);
    const ior = p.db.prepare('INSERT OR REPLACE INTO items (id, name, qty, price) VALUES (?, ?, ?, ?)');
    commits = 0;
    const plain = cpuMsOf(() => {
      p.db.exec('BEGIN');
      for (const r of items) ior.run(r[0], r[1], r[2], r[3]);
      p.db.exec('COMMIT');
    });
    note(`plain, ${label}`, plain, commits);
    p.db.close();
    scratch.remove(p.file);
  }
}
scratch.cleanup();
const stat = (v: number[]): string => {
  const s = [...v].sort((a, b) => a - b);
  return `${s[0]!.toFixed(0)} / ${s[s.length >> 1]!.toFixed(0)}`;
};
console.log(`${ROWS} rows, ${REPS} reps interleaved; CPU ms of this process, min / median`);
console.log('| | whole | its COMMIT |');
console.log('|---|---:|---:|');
for (const [k, o] of Object.entries(out)) console.log(`| ${k} | ${stat(o.total)} | ${stat(o.commit)} |`);
