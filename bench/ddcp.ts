/**
 * ddcp's half of the benchmark: file-backed node:sqlite (WAL, synchronous=NORMAL) in a temp dir,
 * per-row prepared statements, one transaction per phase.
 */
import type { DatabaseSync } from 'node:sqlite';
import type { Change } from '../src/engine/change.ts';
import { Engine } from '../src/engine/engine.ts';
import { openDatabase } from '../src/engine/sqlite.ts';
import { gc, ITEMS_DDL, now, timing, type Item, type Scratch, type Timing } from './util.ts';
import { diskUse } from './disk.ts';

const thisTree = { engine: { Engine }, sqlite: { openDatabase } };

export interface PhaseResult {
  plain: Timing;
  /** The app-visible write: the statements plus the triggers' log appends, committed. */
  crr: Timing;
  /** `engine.seal()` right after the phase: the log turned into clocks. */
  seal: Timing;
  /** Best of (phase + seal) taken together per repetition. */
  crrTotal: Timing;
}

export interface WriteResults {
  insert: PhaseResult;
  update: PhaseResult;
  delete: PhaseResult;
}

export interface SyncResults {
  changes: number;
  read: Timing;
  merge: Timing;
  /** INSERT OR REPLACE of the same rows into an empty plain table. */
  plainReplace: Timing;
}

function openItems(scratch: Scratch, tag: string): { path: string; db: DatabaseSync } {
  const path = scratch.file(tag);
  const db = openDatabase(path);
  db.exec(ITEMS_DDL);
  return { path, db };
}

/**
 * Writes its pages to the database file. Every timed write — plain or CRR, a phase, a seal or a
 * merge — ends with this, so each pays for persisting exactly the pages it wrote: left to SQLite's
 * auto-checkpoint (at 1,000 WAL pages), the CRR's bigger commits crossed the line inside their timing
 * while the plain table's (~750 pages) never did and were checkpointed, unmeasured, at close.
 */
function checkpoint(db: DatabaseSync): void {
  db.exec('PRAGMA wal_checkpoint(PASSIVE)');
}

function inTx(db: DatabaseSync, fn: () => void): number {
  const t0 = now();
  db.exec('BEGIN');
  fn();
  db.exec('COMMIT');
  checkpoint(db);
  return now() - t0;
}

interface OneRun {
  insert: number;
  update: number;
  delete: number;
  seals: [number, number, number];
}

/** Insert, update one column, delete: every row, one transaction each, sealing after each phase if CRR. */
function writeRun(scratch: Scratch, items: Item[], crr: boolean): OneRun {
  const { path, db } = openItems(scratch, crr ? 'crr' : 'plain');
  const engine = crr ? Engine.open(db) : undefined;
  engine?.asCrr('items');
  const seal = (): number => {
    if (!engine) return 0;
    const t0 = now();
    engine.seal();
    checkpoint(db);
    return now() - t0;
  };
  const ins = db.prepare('INSERT INTO items (id, name, qty, price) VALUES (?, ?, ?, ?)');
  const upd = db.prepare('UPDATE items SET qty = ? WHERE id = ?');
  const del = db.prepare('DELETE FROM items WHERE id = ?');
  const newQty = items.map((r) => r[2] + 1n);
  gc();
  const insert = inTx(db, () => {
    for (const r of items) ins.run(r[0], r[1], r[2], r[3]);
  });
  const s1 = seal();
  gc();
  const update = inTx(db, () => {
    for (let i = 0; i < items.length; i++) upd.run(newQty[i]!, items[i]![0]);
  });
  const s2 = seal();
  gc();
  const remove = inTx(db, () => {
    for (const r of items) del.run(r[0]);
  });
  const s3 = seal();
  db.close();
  scratch.remove(path);
  return { insert, update, delete: remove, seals: [s1, s2, s3] };
}

export function measureWrites(scratch: Scratch, items: Item[], reps: number): WriteResults {
  const plain: OneRun[] = [];
  const crr: OneRun[] = [];
  for (let i = 0; i < reps; i++) {
    plain.push(writeRun(scratch, items, false));
    crr.push(writeRun(scratch, items, true));
  }
  const phase = (k: 'insert' | 'update' | 'delete', s: 0 | 1 | 2): PhaseResult => ({
    plain: timing(plain.map((r) => r[k])),
    crr: timing(crr.map((r) => r[k])),
    seal: timing(crr.map((r) => r.seals[s])),
    crrTotal: timing(crr.map((r) => r[k] + r.seals[s])),
  });
  return { insert: phase('insert', 0), update: phase('update', 1), delete: phase('delete', 2) };
}

export interface DiskResult {
  plain: number;
  crr: number;
}

/** What a CRR costs on disk: the file holding the rows inserted and sealed, against the plain table's. */
export function measureDisk(scratch: Scratch, items: Item[]): DiskResult {
  return { plain: diskUse(thisTree, scratch, items, false).total, crr: diskUse(thisTree, scratch, items, true).total };
}

/** Changes read and merged per second, and the plain INSERT OR REPLACE baseline. */
export function measureSync(scratch: Scratch, items: Item[], reps: number): SyncResults {
  // The source: N rows inserted and sealed (3 changes a row: name, qty, price).
  const src = openItems(scratch, 'source');
  const engine = Engine.open(src.db);
  engine.asCrr('items');
  const ins = src.db.prepare('INSERT INTO items (id, name, qty, price) VALUES (?, ?, ?, ?)');
  inTx(src.db, () => {
    for (const r of items) ins.run(r[0], r[1], r[2], r[3]);
  });
  engine.seal();

  const reads: number[] = [];
  let changes = 0;
  for (let i = 0; i < reps; i++) {
    gc();
    const t0 = now();
    let n = 0;
    for (const c of engine.changesSince(0)) if (c.cl > 0) n++; // touch each change
    reads.push(now() - t0);
    changes = n;
  }

  const changeset: Change[] = [...engine.changesSince(0)];
  const merges: number[] = [];
  for (let i = 0; i < reps; i++) {
    const dst = openItems(scratch, 'replica');
    const replica = Engine.open(dst.db);
    replica.asCrr('items');
    gc();
    const t0 = now();
    const r = replica.applyChanges(changeset);
    checkpoint(dst.db);
    merges.push(now() - t0);
    if (r.applied !== changeset.length) throw new Error(`merge applied ${r.applied} of ${changeset.length}`);
    dst.db.close();
    scratch.remove(dst.path);
  }

  const replaces: number[] = [];
  for (let i = 0; i < reps; i++) {
    const dst = openItems(scratch, 'plain-replace');
    const ior = dst.db.prepare('INSERT OR REPLACE INTO items (id, name, qty, price) VALUES (?, ?, ?, ?)');
    gc();
    replaces.push(
      inTx(dst.db, () => {
        for (const r of items) ior.run(r[0], r[1], r[2], r[3]);
      }),
    );
    dst.db.close();
    scratch.remove(dst.path);
  }
  src.db.close();
  scratch.remove(src.path);
  return { changes, read: timing(reads), merge: timing(merges), plainReplace: timing(replaces) };
}
