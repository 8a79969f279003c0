/**
 * What a merge into an empty replica costs beyond its unavoidable writes, on the main thread: per
 * repetition, the plain INSERT OR REPLACE of 100,000 rows, the *floor* — the merge's own two 64-row
 * statements (the table upsert and the key map's row clocks, tracking triggers dropped) with their
 * parameters built in a loop, committed — and the merge of the same 300,000 changes, each into a
 * fresh file-backed database and ending with a PASSIVE checkpoint (as bench/ddcp.ts times them).
 * Main-thread CPU (bench/merge-floor.ts takes the process's, which adds the collector's threads):
 * min / median of BENCH_REPS (9), and the median of each repetition's ratio to plain.
 *
 *   node --expose-gc --disable-warning=ExperimentalWarning bench/merge-excess.ts      (BENCH_REPS)
 */
import { Engine } from '../src/engine/engine.ts';
import { openDatabase, type SqlValue } from '../src/engine/sqlite.ts';
import { placeholders } from '../src/engine/bulk.ts';
import { crrNames, keyMapKeyedByRowid } from '../src/engine/names.ts';
import { dropTriggersSql } from '../src/engine/triggers.ts';
import { K } from '../src/engine/layout.ts';
import { fillItemsCrr, gc, ITEMS_DDL, makeItems, Scratch } from './util.ts';

const ROWS = 100_000;
const REPS = Number(process.env.BENCH_REPS ?? 9);
const GROUP = 64;
const items = makeItems(ROWS);
const keys = items.map((r) => r[0]);
const scratch = new Scratch();
const src = Engine.open(openDatabase(scratch.file('src')));
fillItemsCrr(src, items);
src.seal();
const all = [...src.changesSince(0)];
const threadMs = (): number => {
  const u = process.threadCpuUsage();
  return (u.user + u.system) / 1000;
};
const timed = (f: () => void): number => {
  gc();
  const t0 = threadMs();
  f();
  return threadMs() - t0;
};
const res: Record<'plain' | 'floor' | 'merge', number[]> = { plain: [], floor: [], merge: [] };
for (let rep = 0; rep < REPS; rep++) {
  for (const kind of ['plain', 'floor', 'merge'] as const) {
    const file = scratch.file(kind);
    const db = openDatabase(file);
    db.exec(ITEMS_DDL);
    if (kind === 'plain') {
      const ior = db.prepare('INSERT OR REPLACE INTO items (id, name, qty, price) VALUES (?, ?, ?, ?)');
      res.plain.push(
        timed(() => {
          db.exec('BEGIN');
          for (const r of items) ior.run(r[0], r[1], r[2], r[3]);
          db.exec('COMMIT');
          db.exec('PRAGMA wal_checkpoint(PASSIVE)');
        }),
      );
    } else {
      const e = Engine.open(db);
      e.asCrr('items');
      if (kind === 'merge') {
        res.merge.push(
          timed(() => {
            e.applyChanges(all);
            db.exec('PRAGMA wal_checkpoint(PASSIVE)');
          }),
        );
      } else {
        const n = crrNames('items', keyMapKeyedByRowid(db, 'items'));
        if (!n.rowidKeyed) throw new Error('expected a key map keyed by the rowid alias');
        const table = db.prepare(`INSERT INTO items (id, name, qty, price) VALUES ${placeholders(GROUP, 4)} ON CONFLICT (id) DO UPDATE SET name = excluded.name, qty = excluded.qty, price = excluded.price`);
        const keyMap = db.prepare(`INSERT INTO ${n.pks} (__key, ${K.cv}, ${K.dbv}, ${K.site}, ${K.seq}) VALUES ${placeholders(GROUP, 5)}`);
        res.floor.push(
          timed(() => {
            db.exec('BEGIN IMMEDIATE');
            db.exec(dropTriggersSql(n));
            for (let i = 0; i + GROUP <= ROWS; i += GROUP) {
              const t: SqlValue[] = new Array(GROUP * 4);
              const k: SqlValue[] = new Array(GROUP * 5);
              for (let j = 0; j < GROUP; j++) {
                const r = items[i + j]!;
                const key = keys[i + j]!;
                t[4 * j] = key;
                t[4 * j + 1] = r[1];
                t[4 * j + 2] = r[2];
                t[4 * j + 3] = r[3];
                k[5 * j] = key;
                k[5 * j + 1] = 1;
                k[5 * j + 2] = 1;
                k[5 * j + 3] = 1;
                k[5 * j + 4] = 3 * (i + j);
              }
              table.run(...t);
              keyMap.run(...k);
            }
            db.exec('COMMIT');
            db.exec('PRAGMA wal_checkpoint(PASSIVE)');
          }),
        );
      }
    }
    db.close();
    scratch.remove(file);
  }
}
scratch.cleanup();
const stat = (v: number[]): string => {
  const s = [...v].sort((a, b) => a - b);
  return `${s[0]!.toFixed(0)} / ${s[s.length >> 1]!.toFixed(0)}`;
};
const ratio = (v: number[]): string => {
  const r = v.map((x, i) => x / res.plain[i]!).sort((a, b) => a - b);
  return `${r[r.length >> 1]!.toFixed(2)}×`;
};
console.log(`${ROWS} rows (${all.length} changes), ${REPS} reps; main-thread CPU ms, min / median; median ratio to plain`);
console.log(`plain INSERT OR REPLACE ${stat(res.plain)}; floor (the merge's two statements) ${stat(res.floor)} = ${ratio(res.floor)}; merge ${stat(res.merge)} = ${ratio(res.merge)}`);
