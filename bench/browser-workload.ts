/**
 * The browser benchmark's workload, the same code in Node (node:sqlite) and in Chromium
 * (sqlite-wasm): insert N rows into a CRR in one transaction and seal them; read the changes; merge
 * them into a fresh replica in one transaction. Best of `reps`, fresh databases each time.
 */
import { Engine, type Change, type SqliteConnection } from '../src/engine/index.ts';

export const WORKLOAD_DDL = 'CREATE TABLE items (id INTEGER PRIMARY KEY NOT NULL, name TEXT, qty INTEGER, price REAL)';

export interface WorkloadResult {
  rows: number;
  changes: number;
  /** Best ms: insert of every row and the seal that stamps them. */
  insertMs: number;
  /** Best ms: merging every change into an empty replica. */
  mergeMs: number;
}

/** Runs the workload; `open(tag)` gives a fresh connection, `drop(tag)` disposes of it after. */
export async function runWorkload(open: (tag: string) => Promise<SqliteConnection>, drop: (tag: string, db: SqliteConnection) => Promise<void>, rows: number, reps: number, now: () => number): Promise<WorkloadResult> {
  let insertMs = Infinity;
  let mergeMs = Infinity;
  let changes = 0;
  for (let rep = 0; rep < reps; rep++) {
    const src = await open(`src${rep}`);
    const dst = await open(`dst${rep}`);
    try {
      const a = Engine.open(src);
      const b = Engine.open(dst);
      for (const e of [a, b]) {
        e.db.exec(WORKLOAD_DDL);
        e.asCrr('items');
      }
      const ins = src.prepare('INSERT INTO items VALUES (?, ?, ?, ?)');
      let t = now();
      src.exec('BEGIN');
      for (let i = 1; i <= rows; i++) ins.run(BigInt(i), `item ${i}`, BigInt(i % 100), i + 0.25);
      src.exec('COMMIT');
      a.seal();
      insertMs = Math.min(insertMs, now() - t);
      const all: Change[] = [...a.changesSince(0)];
      changes = all.length;
      t = now();
      b.applyChanges(all);
      mergeMs = Math.min(mergeMs, now() - t);
      const got = Number((dst.prepare('SELECT count(*) AS n FROM items').get() as { n: number }).n);
      if (got !== rows) throw new Error(`merged ${got} rows, expected ${rows}`);
    } finally {
      await drop(`src${rep}`, src);
      await drop(`dst${rep}`, dst);
    }
  }
  return { rows, changes, insertMs, mergeMs };
}
