/**
 * The floor of a merge into an empty replica under the row-level clock layout: only the SQLite
 * writes a merge of new rows must make — the table rows and the key-map rows with their row clocks
 * (multi-row INSERTs, tracking triggers dropped as a large merge drops them), no lookups and no
 * decisions, committed — beside the plain INSERT OR REPLACE of the same rows. CPU ms of this process, best of
 * BENCH_REPS (3), each in one transaction on a fresh file-backed database.
 *
 *   node --disable-warning=ExperimentalWarning bench/merge-floor.ts      (BENCH_ROWS, BENCH_REPS)
 */
import { Engine } from '../src/engine/engine.ts';
import { K } from '../src/engine/layout.ts';
import { crrNames, keyMapKeyedByRowid } from '../src/engine/names.ts';
import { openDatabase, type SqlValue } from '../src/engine/sqlite.ts';
import { dropTriggersSql } from '../src/engine/triggers.ts';
import { placeholders } from '../src/engine/bulk.ts';
import { cpuMsOf, ITEMS_DDL, makeItems, Scratch } from './util.ts';

const ROWS = Number(process.env.BENCH_ROWS ?? 100_000);
const REPS = Number(process.env.BENCH_REPS ?? 3);
const GROUP = 64;
const items = makeItems(ROWS);
const scratch = new Scratch();


/** Runs `rows(i)`'s values through a multi-row statement, GROUP rows at a time (the rest one by one). */
function insertAll(run: (rows: number, params: SqlValue[]) => void, width: (i: number, out: SqlValue[]) => void): void {
  let i = 0;
  for (; i + GROUP <= ROWS; i += GROUP) {
    const p: SqlValue[] = [];
    for (let j = i; j < i + GROUP; j++) width(j, p);
    run(GROUP, p);
  }
  for (; i < ROWS; i++) {
    const p: SqlValue[] = [];
    width(i, p);
    run(1, p);
  }
}

const best: Record<string, number> = {};
for (let rep = 0; rep < REPS; rep++) {
  const plainFile = scratch.file('plain');
  const plain = openDatabase(plainFile);
  plain.exec(ITEMS_DDL);
  const ior = plain.prepare('INSERT OR REPLACE INTO items (id, name, qty, price) VALUES (?, ?, ?, ?)');
  const p = cpuMsOf(() => {
    plain.exec('BEGIN');
    for (const r of items) ior.run(r[0], r[1], r[2], r[3]);
    plain.exec('COMMIT');
  });
  plain.close();
  scratch.remove(plainFile);

  const crrFile = scratch.file('crr');
  const e = Engine.open(openDatabase(crrFile));
  e.db.exec(ITEMS_DDL);
  e.asCrr('items');
  // The key map as the engine made it: keyed by the rowid alias (the key is `__key`), or numbered beside a copy of the key.
  const n = crrNames('items', keyMapKeyedByRowid(e.db, 'items'));
  const table = new Map<number, ReturnType<typeof e.db.prepare>>();
  const keys = new Map<number, ReturnType<typeof e.db.prepare>>();
  const stmt = (cache: typeof table, rows: number, sql: (rows: number) => string) => {
    let s = cache.get(rows);
    if (!s) cache.set(rows, (s = e.db.prepare(sql(rows))));
    return s;
  };
  const parts = { table: 0, keys: 0 };
  const total = cpuMsOf(() => {
    e.db.exec('BEGIN');
    e.db.exec(dropTriggersSql(n));
    parts.table = cpuMsOf(() =>
      insertAll(
        (rows, params) => void stmt(table, rows, (k) => `INSERT INTO items (id, name, qty, price) VALUES ${placeholders(k, 4)}`).run(...params),
        (i, out) => void out.push(...items[i]!),
      ),
    false);
    parts.keys = cpuMsOf(() =>
      insertAll(
        (rows, params) => void stmt(keys, rows, (k) => `INSERT INTO ${n.pks} (__key, ${n.rowidKeyed ? '' : 'id, '}${K.cv}, ${K.dbv}, ${K.site}, ${K.seq}) VALUES ${placeholders(k, n.rowidKeyed ? 5 : 6)}`).run(...params),
        (i, out) => void (n.rowidKeyed ? out.push(items[i]![0], 1, 1, 1, 3 * i) : out.push(i + 1, items[i]![0], 1, 1, 1, 3 * i)),
      ),
    false);
    e.db.exec('COMMIT');
  });
  e.db.close();
  scratch.remove(crrFile);
  for (const [k, v] of Object.entries({ plain: p, table: parts.table, keyMap: parts.keys, both: parts.table + parts.keys, withCommit: total })) best[k] = Math.min(best[k] ?? Infinity, v);
}
scratch.cleanup();
console.log(`${ROWS} rows, best of ${REPS}; CPU ms of this process`);
console.log(`plain INSERT OR REPLACE (incl. commit): ${best.plain!.toFixed(0)}`);
console.log(`table rows: ${best.table!.toFixed(0)}; key-map rows: ${best.keyMap!.toFixed(0)}; both with the commit: ${best.withCommit!.toFixed(0)} = ${(best.withCommit! / best.plain!).toFixed(2)}x plain`);
