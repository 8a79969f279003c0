/**
 * The reference half of the benchmark: real cr-sqlite 0.16 (`@vlcn.io/crsqlite-wasm`), in-memory
 * databases. Every call into the wasm build is async and goes through a mutex, so per-row statements
 * would measure JS promise overhead rather than SQLite; each phase instead runs prepared multi-row
 * statements (inserts: 100 rows per statement; updates and deletes: 1,000-row id ranges) inside one
 * `db.tx`, the same statements for the plain and the CRR table.
 */
import { openCr, type CrDb } from '../test/support/crsqlite.ts';
import { gc, ITEMS_DDL, now, timing, type Item, type Timing } from './util.ts';

/** The parts of the wasm API the typed `CrDb` leaves out (see `@vlcn.io/crsqlite-wasm/dist/DB.js`). */
interface CrTx {
  exec(sql: string, bind?: unknown[]): Promise<void>;
  execA<T = unknown[]>(sql: string, bind?: unknown[]): Promise<T[]>;
}
interface CrStmt {
  run(tx: CrTx | undefined, ...bind: unknown[]): Promise<void>;
  finalize(tx?: CrTx): Promise<void>;
}
interface CrDbFull extends CrDb {
  prepare(sql: string): Promise<CrStmt>;
  tx(cb: (tx: CrTx) => Promise<void>): Promise<void>;
}

export const INSERT_BATCH = 100;
export const RANGE_BATCH = 1000;
export const CHANGES_BATCH = 100;

export const CHANGES_QUERY = 'SELECT [table], pk, cid, val, col_version, db_version, site_id, cl, seq FROM crsql_changes WHERE db_version > 0';
const CHANGES_COLUMNS = '[table], pk, cid, val, col_version, db_version, site_id, cl, seq';

async function open(crr: boolean): Promise<CrDbFull> {
  const db = (await openCr()) as CrDbFull;
  await db.exec(ITEMS_DDL);
  if (crr) await db.exec(`SELECT crsql_as_crr('items')`);
  return db;
}

/**
 * Runs `rows` (flat lists of binds, `width` per row) through `INSERT … VALUES (…), (…)` statements of
 * `batch` rows (one more statement for the remainder), inside the caller's transaction.
 */
class BatchedInsert {
  private readonly stmts = new Map<number, CrStmt>();
  private readonly db: CrDbFull;
  private readonly head: string;
  private readonly width: number;
  private readonly batch: number;
  constructor(db: CrDbFull, head: string, width: number, batch: number) {
    this.db = db;
    this.head = head;
    this.width = width;
    this.batch = batch;
  }
  private sql(rows: number): string {
    const one = `(${Array(this.width).fill('?').join(', ')})`;
    return `${this.head} VALUES ${Array(rows).fill(one).join(', ')}`;
  }
  /** Prepares the statements outside the timed transaction. */
  async prepare(total: number): Promise<void> {
    for (const rows of new Set([Math.min(this.batch, total), total % this.batch].filter((r) => r > 0))) {
      this.stmts.set(rows, await this.db.prepare(this.sql(rows)));
    }
  }
  async run(tx: CrTx, rows: readonly (readonly unknown[])[]): Promise<void> {
    for (let i = 0; i < rows.length; i += this.batch) {
      const end = Math.min(i + this.batch, rows.length);
      const bind: unknown[] = [];
      for (let j = i; j < end; j++) for (const v of rows[j]!) bind.push(v);
      await this.stmts.get(end - i)!.run(tx, ...bind);
    }
  }
  async finalize(): Promise<void> {
    for (const s of this.stmts.values()) await s.finalize();
  }
}

/** Rows with plain JS numbers (wa-sqlite binds integral numbers as INTEGER, others as REAL). */
function wasmRows(items: Item[]): unknown[][] {
  return items.map((r) => [Number(r[0]), r[1], Number(r[2]), r[3]]);
}

export interface CrPhase {
  plain: Timing;
  crr: Timing;
}

export interface CrWriteResults {
  insert: CrPhase;
  update: CrPhase;
  delete: CrPhase;
}

export interface CrSyncResults {
  changes: number;
  read: Timing;
  merge: Timing;
  plainReplace: Timing;
}

async function timedTx(db: CrDbFull, fn: (tx: CrTx) => Promise<void>): Promise<number> {
  gc();
  const t0 = now();
  await db.tx(fn);
  return now() - t0;
}

async function writeRun(rows: unknown[][], crr: boolean): Promise<{ insert: number; update: number; delete: number }> {
  const db = await open(crr);
  const ins = new BatchedInsert(db, 'INSERT INTO items (id, name, qty, price)', 4, INSERT_BATCH);
  await ins.prepare(rows.length);
  // Same effect as ddcp's per-row `SET qty = old + 1`: one column of every row changes.
  const upd = await db.prepare('UPDATE items SET qty = id % 100 + 1 WHERE id >= ? AND id < ?');
  const del = await db.prepare('DELETE FROM items WHERE id >= ? AND id < ?');
  const n = rows.length;
  const ranges = async (tx: CrTx, stmt: CrStmt): Promise<void> => {
    for (let id = 1; id <= n; id += RANGE_BATCH) await stmt.run(tx, id, Math.min(id + RANGE_BATCH, n + 1));
  };
  const insert = await timedTx(db, (tx) => ins.run(tx, rows));
  const update = await timedTx(db, (tx) => ranges(tx, upd));
  const remove = await timedTx(db, (tx) => ranges(tx, del));
  const left = (await db.execA<[number]>('SELECT count(*) FROM items'))[0]![0];
  if (left !== 0) throw new Error(`cr-sqlite bench: ${left} rows left after delete`);
  await ins.finalize();
  await upd.finalize();
  await del.finalize();
  await db.close();
  return { insert, update, delete: remove };
}

export async function measureCrWrites(items: Item[], reps: number): Promise<CrWriteResults> {
  const rows = wasmRows(items);
  const plain: Awaited<ReturnType<typeof writeRun>>[] = [];
  const crr: Awaited<ReturnType<typeof writeRun>>[] = [];
  for (let i = 0; i < reps; i++) {
    plain.push(await writeRun(rows, false));
    crr.push(await writeRun(rows, true));
  }
  const phase = (k: 'insert' | 'update' | 'delete'): CrPhase => ({ plain: timing(plain.map((r) => r[k])), crr: timing(crr.map((r) => r[k])) });
  return { insert: phase('insert'), update: phase('update'), delete: phase('delete') };
}

export async function measureCrSync(items: Item[], reps: number): Promise<CrSyncResults> {
  const rows = wasmRows(items);
  const src = await open(true);
  const ins = new BatchedInsert(src, 'INSERT INTO items (id, name, qty, price)', 4, INSERT_BATCH);
  await ins.prepare(rows.length);
  await src.tx((tx) => ins.run(tx, rows));
  await ins.finalize();

  const reads: number[] = [];
  let changeset: unknown[][] = [];
  for (let i = 0; i < reps; i++) {
    changeset = [];
    gc();
    const t0 = now();
    changeset = await src.execA<unknown[]>(CHANGES_QUERY);
    reads.push(now() - t0);
  }
  await src.close();

  const merges: number[] = [];
  for (let i = 0; i < reps; i++) {
    const dst = await open(true);
    const merge = new BatchedInsert(dst, `INSERT INTO crsql_changes (${CHANGES_COLUMNS})`, 9, CHANGES_BATCH);
    await merge.prepare(changeset.length);
    merges.push(await timedTx(dst, (tx) => merge.run(tx, changeset)));
    const merged = (await dst.execA<[number]>('SELECT count(*) FROM items'))[0]![0];
    if (merged !== rows.length) throw new Error(`cr-sqlite bench: merged ${merged} of ${rows.length} rows`);
    await merge.finalize();
    await dst.close();
  }

  const replaces: number[] = [];
  for (let i = 0; i < reps; i++) {
    const dst = await open(false);
    const ior = new BatchedInsert(dst, 'INSERT OR REPLACE INTO items (id, name, qty, price)', 4, INSERT_BATCH);
    await ior.prepare(rows.length);
    replaces.push(await timedTx(dst, (tx) => ior.run(tx, rows)));
    await ior.finalize();
    await dst.close();
  }
  return { changes: changeset.length, read: timing(reads), merge: timing(merges), plainReplace: timing(replaces) };
}

export async function crVersions(): Promise<{ sqlite: string }> {
  const db = await openCr();
  const v = (await db.execA<[string]>('SELECT sqlite_version()'))[0]![0];
  await db.close();
  return { sqlite: v };
}
