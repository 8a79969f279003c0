/**
 * One merge scenario of this tree, repeated, for `perf`: the timed part alone is bracketed by
 * `enable` / `disable` written to the control FIFO named by PERF_CTL (`perf stat|record -D -1
 * --control fifo:PATH`), so counts and samples cover the merges and nothing of the set-up.
 * Prints the main thread's CPU per merge.
 *
 *   small N [new]  BENCH_ROUNDS (2,000) merges of N changes each from a peer (updates of one column
 *                  of rows spread over the table, or new rows) into a file-backed CRR `items` of
 *                  100,000 sealed rows, each `applyChanges` in its own transaction as a live push
 *                  (source label, tracked peer, direct) — bench/small-merge-ab.ts's merge.
 *   empty          the bench's 300,000 changes (100,000 rows) into an empty file-backed replica,
 *                  a collection before and a PASSIVE checkpoint after each (bench/ddcp.ts's way);
 *                  BENCH_REPS (5) merges, a fresh replica each.
 *   pull           a pull of updates: the same replica holding every row at an older version, and
 *                  the 300,000 changes of the source having since updated every column of every row;
 *                  BENCH_REPS merges, each into a fresh copy of the older replica.
 *
 * BENCH_DDL: the table's DDL instead of the bench's `items` (columns id, name, qty, price), e.g. a
 * hub's untyped table `CREATE TABLE items (id NOT NULL, name, qty, price, PRIMARY KEY (id))`.
 * Statement journals counted with uprobes on the node binary's SQLite (it has symbols): `perf probe`
 * takes the symbol's file offset, `nm`'s address less 0x400000 for this binary, e.g.
 * `echo "p:ddcp/pagerOpenSavepoint $NODE:0x…" >> /sys/kernel/tracing/uprobe_events`, then
 * `perf stat -e 'ddcp:*' -- node … small 1` (and with BENCH_ROUNDS=0 for the set-up's share).
 *
 *   mkfifo /tmp/ctl; perf stat -e … -D -1 --control fifo:/tmp/ctl -- env PERF_CTL=/tmp/ctl \
 *     node --disable-warning=ExperimentalWarning bench/merge-journal-probe.ts small 1
 */
import { copyFileSync, openSync, writeSync } from 'node:fs';
import { Engine, openDatabase, packColumns } from '../src/engine/index.ts';
import { gc, ITEMS_DDL, makeItems, Scratch, smallMerges, type Item } from './util.ts';

const [kind = 'small', arg = '1', arg2] = process.argv.slice(2);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2000);
const REPS = Number(process.env.BENCH_REPS ?? 5);
const ctl = process.env.PERF_CTL ? openSync(process.env.PERF_CTL, 'w') : undefined;
const perf = (cmd: 'enable' | 'disable'): void => {
  if (ctl !== undefined) writeSync(ctl, `${cmd}\n`);
};
const threadMs = (): number => {
  const u = process.threadCpuUsage();
  return (u.user + u.system) / 1000;
};
const scratch = new Scratch();
const times: number[] = [];
// The table's DDL (BENCH_DDL, default the bench's `items`): a schema with NOT NULL columns or a key
// that is not the rowid alias gets statement journals the bench's does not.
const DDL = process.env.BENCH_DDL ?? ITEMS_DDL;
function fill(engine: Engine, items: Item[]): void {
  engine.db.exec(DDL);
  engine.asCrr('items');
  const ins = engine.db.prepare('INSERT INTO items (id, name, qty, price) VALUES (?, ?, ?, ?)');
  engine.db.exec('BEGIN');
  for (const r of items) ins.run(r[0], r[1], r[2], r[3]);
  engine.db.exec('COMMIT');
}

if (kind === 'small') {
  const N = Number(arg);
  const NEW = arg2 === 'new';
  const ROWS = 100_000;
  const engine = Engine.open(openDatabase(scratch.file('small')));
  fill(engine, makeItems(ROWS));
  engine.seal();
  const round = smallMerges(engine, packColumns, N, ROWS, NEW);
  for (let i = 0; i < 200; i++) round();
  perf('enable');
  const t0 = threadMs();
  for (let i = 0; i < ROUNDS; i++) round();
  times.push(((threadMs() - t0) * 1000) / ROUNDS);
  perf('disable');
  engine.db.close();
  if (ROUNDS > 0) console.log(`small ${N} ${NEW ? 'new rows' : 'updates'}: ${times[0]!.toFixed(1)} µs main-thread CPU per merge`);
} else {
  const items = makeItems(100_000);
  const src = Engine.open(openDatabase(scratch.file('src')));
  fill(src, items);
  src.seal();
  let changes = [...src.changesSince(0)];
  let older: string | undefined;
  if (kind === 'pull') {
    // The replica pulled every row, then the source updated every column of every row.
    older = scratch.file('older');
    const r = Engine.open(openDatabase(older));
    r.db.exec(DDL);
    r.asCrr('items');
    r.applyChanges(changes);
    r.db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
    r.db.close();
    const since = src.currentDbVersion();
    src.db.exec("BEGIN; UPDATE items SET name = name || ' (2)', qty = qty + 1, price = price * 2; COMMIT");
    src.seal();
    changes = [...src.changesSince(since)];
  }
  // An engine open throughout (bench/merge-batch-ab.ts: a class with no instance left loses its code at a collection).
  const keep = Engine.open(openDatabase(':memory:'));
  keep.db.exec(DDL);
  keep.asCrr('items');
  for (let rep = 0; rep < REPS; rep++) {
    const file = scratch.file('dst');
    if (older) copyFileSync(older, file);
    const db = openDatabase(file);
    const e = Engine.open(db);
    if (!older) {
      db.exec(DDL);
      e.asCrr('items');
    }
    gc();
    perf('enable');
    const t0 = threadMs();
    const r = e.applyChanges(changes);
    db.exec('PRAGMA wal_checkpoint(PASSIVE)');
    times.push(threadMs() - t0);
    perf('disable');
    if (r.applied !== changes.length) throw new Error(`merge applied ${r.applied} of ${changes.length}`);
    db.close();
    scratch.remove(file);
  }
  keep.db.close();
  const s = [...times].sort((a, b) => a - b);
  // BENCH_REPS=0 (the set-up alone, for counts to subtract) merges nothing.
  if (s.length > 0) console.log(`${kind}: ${changes.length} changes, main-thread CPU ms per merge min / median ${s[0]!.toFixed(1)} / ${s[s.length >> 1]!.toFixed(1)}`);
}
scratch.cleanup();
