/**
 * A/B of a full read of a table with many deleted rows, in CPU time, between another source tree (a
 * worktree of an older commit, with node_modules) and this one, interleaved in one process: BENCH_ROWS
 * rows of `items` inserted, one column of every other row updated, the first half of the rows deleted
 * by one DELETE (sealed set-based: since format 4 their row clocks' db_version, site and seq stay in
 * the key map and its (db_version, seq) index, which reads step over), then every change read with
 * `changesSince(0)`. Best of BENCH_REPS (5).
 *
 *   node --disable-warning=ExperimentalWarning bench/deleted-read-ab.ts /work/wt/main-base
 */
import { resolve } from 'node:path';
import { cpuMsOf, ITEMS_DDL, makeItems, Scratch } from './util.ts';

type EngineModule = typeof import('../src/engine/engine.ts');
type SqliteModule = typeof import('../src/engine/sqlite.ts');

const ROWS = Number(process.env.BENCH_ROWS ?? 100_000);
const REPS = Number(process.env.BENCH_REPS ?? 5);

async function load(label: string, root: string): Promise<{ label: string; engine: EngineModule; sqlite: SqliteModule }> {
  return {
    label,
    engine: (await import(resolve(root, 'src/engine/engine.ts'))) as EngineModule,
    sqlite: (await import(resolve(root, 'src/engine/sqlite.ts'))) as SqliteModule,
  };
}

const other = process.argv[2];
if (!other) throw new Error('usage: bench/deleted-read-ab.ts OTHER_TREE');
const trees = [await load('before', other), await load('after', resolve(import.meta.dirname, '..'))];
const scratch = new Scratch();
try {
  const items = makeItems(ROWS);
  const times = new Map<string, number[]>();
  let changes = 0;
  for (let rep = 0; rep < REPS; rep++) {
    for (const t of rep % 2 === 0 ? trees : [...trees].reverse()) {
      const db = t.sqlite.openDatabase(scratch.file('read'));
      db.exec(ITEMS_DDL);
      const e = t.engine.Engine.open(db);
      e.asCrr('items');
      const ins = db.prepare('INSERT INTO items (id, name, qty, price) VALUES (?, ?, ?, ?)');
      db.exec('BEGIN');
      for (const r of items) ins.run(r[0], r[1], r[2], r[3]);
      db.exec('COMMIT');
      e.seal();
      db.exec('UPDATE items SET qty = qty + 1 WHERE id % 2 = 0');
      e.seal();
      db.prepare('DELETE FROM items WHERE id <= ?').run(BigInt(ROWS / 2));
      e.seal();
      let n = 0;
      const ms = cpuMsOf(() => {
        for (const _ of e.changesSince(0)) n++;
      });
      changes = n;
      (times.get(t.label) ?? times.set(t.label, []).get(t.label)!).push(ms);
      db.close();
    }
  }
  console.log(`${ROWS} rows, half deleted, ${changes} changes read, best of ${REPS}, trees interleaved, CPU ms`);
  for (const [label, xs] of times) console.log(`${label}: ${Math.min(...xs).toFixed(1)} (${xs.map((x) => x.toFixed(0)).join(', ')})`);
} finally {
  scratch.cleanup();
}
