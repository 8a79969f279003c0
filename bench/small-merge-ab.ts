/**
 * The engine's fixed cost of a small merge (a hub's group commit, a peer's live push), in one
 * process: per tree (this one and, with BENCH_BASE=DIR, that one), a file-backed database (WAL, as
 * openDatabase opens it) whose CRR `items` holds BENCH_ROWS (100,000) sealed rows, merging batches of
 * BENCH_N (1) changes from a peer — `applyChanges` in its own transaction with a source label, the
 * peer's tracked version and `direct`, as a live push is merged — each an update of an existing row
 * (spread over the table) or, with BENCH_NEW=1, a new row. µs of this process's CPU per merge (commit
 * included) over BENCH_ROUNDS (2,000) merges, BENCH_REPS (9) times per tree, alternating; also the
 * WAL frames (pages) written per commit. BENCH_DDL: the table's DDL instead of the bench's `items`
 * (the columns id, name, qty, price), e.g. a hub's table: `CREATE TABLE items (id NOT NULL, name,
 * qty, price, PRIMARY KEY (id))`.
 *
 *   BENCH_BASE=/path/to/base-worktree node --disable-warning=ExperimentalWarning bench/small-merge-ab.ts
 */
import { statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ITEMS_DDL, Scratch, smallMerges, timeSmallMerges } from './util.ts';

const ROWS = Number(process.env.BENCH_ROWS ?? 100_000);
const N = Number(process.env.BENCH_N ?? 1);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2000);
const REPS = Number(process.env.BENCH_REPS ?? 9);
const NEW = process.env.BENCH_NEW === '1';
const DDL = process.env.BENCH_DDL ?? ITEMS_DDL;
const here = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');
const roots: [string, string][] = [...(process.env.BENCH_BASE ? [['base', process.env.BENCH_BASE] as [string, string]] : []), ['this', here]];
const scratch = new Scratch();

async function setup(root: string) {
  const { Engine, openDatabase, packColumns } = await import(`${root}/src/engine/index.ts`);
  const path = scratch.file('small');
  const db = openDatabase(path);
  const engine = Engine.open(db);
  db.exec(DDL);
  engine.asCrr('items');
  const ins = db.prepare('INSERT INTO items (id, name, qty, price) VALUES (?, ?, ?, ?)');
  db.exec('BEGIN');
  for (let i = 1; i <= ROWS; i++) ins.run(BigInt(i), `item ${i}`, BigInt(i % 100), i + 0.25);
  db.exec('COMMIT');
  engine.seal();
  // No automatic checkpoint while measuring (it would restart the WAL): the file's growth counts the frames.
  db.exec('PRAGMA wal_autocheckpoint = 0');
  db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
  const round = smallMerges(engine, packColumns, N, ROWS, NEW);
  const wal = () => statSync(`${path}-wal`, { throwIfNoEntry: false })?.size ?? 0;
  return { round, wal, db };
}

const envs: Record<string, Awaited<ReturnType<typeof setup>>> = {};
for (const [k, r] of roots) envs[k] = await setup(r);
const { cpu: res, frames } = timeSmallMerges(envs, REPS, ROUNDS);
const med = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1]!;
console.log(
  `${N} ${NEW ? 'new rows' : 'updates'} per merge into ${ROWS} rows:`,
  Object.entries(res)
    .map(([k, a]) => `${k} ${med(a).toFixed(1)} µs per merge (min ${Math.min(...a).toFixed(1)}, max ${Math.max(...a).toFixed(1)}; ${med(frames[k]!).toFixed(2)} WAL pages per commit)`)
    .join('  →  '),
);
// Each rep ran both trees back to back: the median of the paired differences cancels the machine's drift.
if (res.base && res.this) {
  const diffs = res.this.map((x, i) => x - res.base![i]!);
  console.log(`paired (this − base) per merge: median ${med(diffs).toFixed(1)} µs, ${diffs.filter((d) => d < 0).length} of ${diffs.length} reps lower`);
}
for (const e of Object.values(envs)) e.db.close();
scratch.cleanup();
