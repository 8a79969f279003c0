/** Timing helpers, data generation and machine facts shared by the benchmark's two halves. */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import type { ApplyOptions, Change } from '../src/engine/index.ts';
import { execFileSync } from 'node:child_process';
import { availableParallelism, cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** The schema both engines benchmark. */
export const ITEMS_DDL = 'CREATE TABLE items (id INTEGER PRIMARY KEY NOT NULL, name TEXT, qty INTEGER, price REAL)';

/**
 * A merge benchmark's source: `items` made a CRR in `engine`'s database and every row inserted in one
 * transaction (not sealed: the caller seals, before or after more writes of its own). Structural, so
 * the A/B scripts can pass engines loaded from another tree.
 */
export function fillItemsCrr(engine: { db: { exec(sql: string): void; prepare(sql: string): { run(...v: (bigint | string | number)[]): unknown } }; asCrr(table: string): void }, items: Item[]): void {
  engine.db.exec(ITEMS_DDL);
  engine.asCrr('items');
  const ins = engine.db.prepare('INSERT INTO items (id, name, qty, price) VALUES (?, ?, ?, ?)');
  engine.db.exec('BEGIN');
  for (const r of items) ins.run(r[0], r[1], r[2], r[3]);
  engine.db.exec('COMMIT');
}

/** One row of `items`: INTEGER as bigint (node:sqlite binds JS numbers as REAL). */
export type Item = [id: bigint, name: string, qty: bigint, price: number];

/** Rows 1..n: distinct names, small integer quantities, non-integral prices (stay REAL everywhere). */
export function makeItems(n: number): Item[] {
  const rows: Item[] = new Array(n);
  for (let i = 1; i <= n; i++) rows[i - 1] = [BigInt(i), `item ${i}`, BigInt(i % 100), i + 0.25];
  return rows;
}

// A collection between timed phases keeps one phase's garbage out of the next one's time.
setFlagsFromString('--expose-gc');
const gcFn = runInNewContext('gc') as (() => void) | undefined;
export function gc(): void {
  gcFn?.();
}

export const now = (): number => performance.now();

/** CPU ms (user + system) of this process spent in `f`, after a collection unless `collect` is false. */
export function cpuMsOf(f: () => void, collect = true): number {
  if (collect) gc();
  const t = process.cpuUsage();
  f();
  const d = process.cpuUsage(t);
  return (d.user + d.system) / 1000;
}

/** Best (minimum) of some samples, and the samples themselves, in ms. */
export interface Timing {
  best: number;
  samples: number[];
}

export function timing(samples: number[]): Timing {
  return { best: round1(Math.min(...samples)), samples: samples.map(round1) };
}

export function round1(x: number): number {
  return Math.round(x * 10) / 10;
}

/** A scratch directory for database files, removed by `cleanup`. */
export class Scratch {
  readonly dir = mkdtempSync(join(tmpdir(), 'ddcp-bench-'));
  private n = 0;
  /** A fresh file path (never reused). */
  file(tag: string): string {
    return join(this.dir, `${tag}-${++this.n}.db`);
  }
  /** Removes one database and its WAL/SHM files. */
  remove(path: string): void {
    for (const suffix of ['', '-wal', '-shm', '-journal']) rmSync(path + suffix, { force: true });
  }
  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface Machine {
  cpu: string;
  cores: number;
  memoryGiB: number;
  node: string;
  platform: string;
  /** 1-minute load average when asked: other work on the machine skews the figures. */
  loadAverage: number;
}

export function machine(): Machine {
  return {
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    cores: availableParallelism(),
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    loadAverage: Math.round(loadavg()[0]! * 100) / 100,
  };
}

/** The commit the engine was measured at, `+dirty` if src/engine has uncommitted changes (null outside git). */
export function revision(root: string): string | null {
  try {
    const git = (...args: string[]): string => execFileSync('git', ['-C', root, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const rev = git('rev-parse', '--short', 'HEAD');
    return git('status', '--porcelain', '--', 'src/engine') === '' ? rev : `${rev}+dirty`;
  } catch {
    return null;
  }
}

/**
 * Peak RSS of this process image in MiB. Linux's VmHWM starts afresh at exec; getrusage's maxRSS
 * does not (it keeps the forking parent's peak), so prefer VmHWM where there is one.
 */
export function peakRssMiB(): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]) / 1024;
  } catch {
    // not Linux
  }
  return process.resourceUsage().maxRSS / 1024;
}

/** CPU ticks (1/100 s) of the PostgreSQL server's processes, and what its ended children used. */
export function pgTicks(): number {
  let pids: string[] = [];
  try {
    pids = execFileSync('pgrep', ['-u', 'postgres'], { encoding: 'utf8' }).split('\n').filter(Boolean);
  } catch {
    return NaN;
  }
  let t = 0;
  for (const pid of pids) {
    try {
      const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      t += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    } catch {
      // ended meanwhile
    }
  }
  return t;
}

/**
 * The set-up the hub's in-process A/B benches share: the SQLite hub store of the tree at `root`
 * (this checkout or a base worktree) in a fresh folder named `prefix…`, its database `db1` declaring
 * `notes(id, body)`, an open gate, the database's fan-out and a stop signal for followers.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- modules of another tree, loaded by path
export async function hostedNotes(root: string, prefix: string): Promise<Record<'store' | 'hosted' | 'gate' | 'fanout' | 'packColumns', any> & { dir: string; stop: AbortController }> {
  const { SqliteHubStore } = await import(`${root}/src/hub/storage/sqlite/store.ts`);
  const { Gate } = await import(`${root}/src/sync/gate.ts`);
  const { fanoutOf } = await import(`${root}/src/hub/fanout.ts`);
  const { packColumns } = await import(`${root}/src/engine/index.ts`);
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const store = new SqliteHubStore(dir);
  const hosted = await store.open('db1', { app: 'a', user: 'u' });
  await hosted.declare([{ name: 'notes', pks: ['id'], columns: ['body'] }]);
  const gate = new Gate(() => ({ read: 'all', write: 'all' }));
  return { store, hosted, gate, fanout: fanoutOf(hosted), packColumns, dir, stop: new AbortController() };
}

/**
 * A peer's small merges into `engine`'s `items` table of `rows` rows, as a live push is merged
 * (`applyChanges` with a source, the peer's tracked version and `direct`): each call merges `n`
 * changes of the next version — updates of `qty` spread over the table, or with `fresh` new rows.
 * `packColumns` comes with the engine (A/B benches load another tree's).
 */
export function smallMerges(
  engine: { applyChanges(changes: Change[], options: ApplyOptions): unknown },
  packColumns: (values: bigint[]) => Uint8Array,
  n: number,
  rows: number,
  fresh: boolean,
): () => void {
  const site = randomBytes(16);
  let v = 0;
  let next = rows;
  return () => {
    const version = ++v;
    const changes: Change[] = [];
    for (let j = 0; j < n; j++) {
      const id = fresh ? ++next : (((version * n + j) * 7919) % rows) + 1;
      changes.push({ table: 'items', pk: packColumns([BigInt(id)]), cid: 'qty', val: BigInt(version), colVersion: 1 + version, dbVersion: version, siteId: site, seq: j, cl: 1 });
    }
    engine.applyChanges(changes, { source: 'peer', trackPeer: { siteId: site, version }, direct: site });
  };
}

/** A variant of a small-merge A/B: its merge, its database, and the size of its WAL file. */
export interface SmallMergeVariant {
  round: () => void;
  db: { exec(sql: string): void };
  wal: () => number;
}

/**
 * Times `rounds` merges of each variant, `reps` times, alternating (the order reversed every other
 * rep), after a warm-up and a TRUNCATE checkpoint each time: per variant, µs of this process's CPU
 * per merge and the WAL frames (a 24-byte header and a 4,096-byte page) each commit wrote.
 */
export function timeSmallMerges(variants: Record<string, SmallMergeVariant>, reps: number, rounds: number): { cpu: Record<string, number[]>; frames: Record<string, number[]> } {
  const keys = Object.keys(variants);
  const cpu: Record<string, number[]> = {};
  const frames: Record<string, number[]> = {};
  for (let rep = 0; rep < reps; rep++) {
    for (const k of rep % 2 === 0 ? keys : [...keys].reverse()) {
      const e = variants[k]!;
      for (let i = 0; i < Math.min(50, rounds); i++) e.round();
      e.db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
      const w0 = e.wal();
      const t = process.cpuUsage();
      for (let i = 0; i < rounds; i++) e.round();
      const d = process.cpuUsage(t);
      (cpu[k] ??= []).push((d.user + d.system) / rounds);
      // The WAL restarts only at the checkpoint before each block, so its growth counts the frames.
      (frames[k] ??= []).push((e.wal() - w0) / (4096 + 24) / rounds);
    }
  }
  return { cpu, frames };
}
