/**
 * What the tracking triggers cost a small merge (a live push into a served repository): this tree's
 * bench/small-merge-ab.ts merge (BENCH_N changes per `applyChanges` into a file-backed CRR `items` of
 * BENCH_ROWS (100,000) sealed rows; updates of one column spread over the table, or new rows with
 * BENCH_NEW=1) into two databases alike but for the four tracking triggers, which the second has
 * dropped behind the engine's back (its schema check told the drop is known: a measurement only —
 * such a database tracks no app write). The merge then writes no log entries and its log clear
 * finds the log empty. µs of this process's CPU per merge over BENCH_ROUNDS (2,000) merges,
 * BENCH_REPS (9) times per database, alternating; the median of the paired differences; WAL pages
 * per commit.
 *
 * BENCH_DDL: the table's DDL instead of the bench's `items` (same columns), as in small-merge-ab.ts.
 *
 *   BENCH_N=10 node --disable-warning=ExperimentalWarning bench/small-merge-triggers.ts
 */
import { statSync } from 'node:fs';
import { Engine, openDatabase, packColumns } from '../src/engine/index.ts';
import { ITEMS_DDL, Scratch, smallMerges, timeSmallMerges } from './util.ts';

const ROWS = Number(process.env.BENCH_ROWS ?? 100_000);
const N = Number(process.env.BENCH_N ?? 1);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2000);
const REPS = Number(process.env.BENCH_REPS ?? 9);
const NEW = process.env.BENCH_NEW === '1';
const scratch = new Scratch();

function setup(triggers: boolean) {
  const path = scratch.file('small');
  const db = openDatabase(path);
  const engine = Engine.open(db);
  db.exec(process.env.BENCH_DDL ?? ITEMS_DDL);
  engine.asCrr('items');
  const ins = db.prepare('INSERT INTO items (id, name, qty, price) VALUES (?, ?, ?, ?)');
  db.exec('BEGIN');
  for (let i = 1; i <= ROWS; i++) ins.run(BigInt(i), `item ${i}`, BigInt(i % 100), i + 0.25);
  db.exec('COMMIT');
  engine.seal();
  if (!triggers) {
    for (const s of ['ins', 'upd', 'updkey', 'del']) db.exec(`DROP TRIGGER items__ddcp_${s}`);
    // Not drift to repair: the engine is told the schema it last checked is this one.
    (engine as unknown as { schemaVersion: number }).schemaVersion = Number((db.prepare('PRAGMA schema_version').get() as { schema_version: number }).schema_version);
  }
  db.exec('PRAGMA wal_autocheckpoint = 0');
  db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
  const round = smallMerges(engine, packColumns, N, ROWS, NEW);
  const wal = (): number => statSync(`${path}-wal`, { throwIfNoEntry: false })?.size ?? 0;
  const count = (): number => Number((db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'items'").get() as { n: number }).n);
  return { round, wal, db, count };
}

const envs = { triggers: setup(true), none: setup(false) };
const keys = Object.keys(envs) as (keyof typeof envs)[];
const { cpu: res, frames } = timeSmallMerges(envs, REPS, ROUNDS);
// The trigger-less database stayed so (the engine did not repair it), the other kept its triggers.
if (envs.none.count() !== 0 || envs.triggers.count() !== 4) throw new Error(`triggers: ${envs.triggers.count()} and ${envs.none.count()}`);
const med = (a: number[]): number => [...a].sort((x, y) => x - y)[a.length >> 1]!;
console.log(
  `${N} ${NEW ? 'new rows' : 'updates'} per merge into ${ROWS} rows:`,
  keys.map((k) => `${k} ${med(res[k]!).toFixed(1)} µs (min ${Math.min(...res[k]!).toFixed(1)}; ${med(frames[k]!).toFixed(2)} WAL pages)`).join('; '),
);
const diffs = res.none!.map((x, i) => x - res.triggers![i]!);
console.log(`paired (none − triggers): median ${med(diffs).toFixed(1)} µs per merge, ${diffs.filter((d) => d < 0).length} of ${diffs.length} reps lower`);
for (const e of Object.values(envs)) e.db.close();
scratch.cleanup();
