/**
 * A/B of the engine's writes and sync phases between another source tree (a checkout or `git archive`
 * of an older commit, with node_modules) and this one, interleaved in one process so a loaded machine
 * slows both alike; plus the bytes on disk per row inserted and sealed. Writes are timed in CPU time
 * of this process (a loaded machine inflates wall time several-fold, CPU time much less), the bench's
 * phases: insert, update one column, delete, every row, one transaction each, then `seal()`; the
 * read/merge figures are bench/ddcp.ts's own (wall time).
 *
 *   node --disable-warning=ExperimentalWarning bench/ab.ts /tmp/base      (BENCH_ROWS, BENCH_REPS)
 *
 * BENCH_AB_WRITES=1 measures the write phases only (a minute instead of several at 100,000 rows).
 * BENCH_DDL: the write phases' table instead of the bench's `items` (the same columns id, name, qty,
 * price), e.g. untyped columns as a hub declares them: `CREATE TABLE items (id NOT NULL, name, qty,
 * price, PRIMARY KEY (id))`.
 */
import { resolve } from 'node:path';
import { cpuMsOf, gc, ITEMS_DDL, makeItems, Scratch, type Item } from './util.ts';
import { diskUse } from './disk.ts';

type DdcpBench = typeof import('./ddcp.ts');
type EngineModule = typeof import('../src/engine/engine.ts');
type SqliteModule = typeof import('../src/engine/sqlite.ts');

interface Tree {
  label: string;
  bench: DdcpBench;
  engine: EngineModule;
  sqlite: SqliteModule;
}

const ROWS = Number(process.env.BENCH_ROWS ?? 100_000);
const REPS = Number(process.env.BENCH_REPS ?? 3);
/** BENCH_AB_WRITES=1: the write phases only (no read/merge or disk). */
const WRITES_ONLY = process.env.BENCH_AB_WRITES === '1';

async function load(label: string, root: string): Promise<Tree> {
  return {
    label,
    bench: (await import(resolve(root, 'bench/ddcp.ts'))) as DdcpBench,
    engine: (await import(resolve(root, 'src/engine/engine.ts'))) as EngineModule,
    sqlite: (await import(resolve(root, 'src/engine/sqlite.ts'))) as SqliteModule,
  };
}

interface CpuRun {
  crr: boolean;
  insert: number;
  update: number;
  delete: number;
  seals: { insert: number; update: number; delete: number };
}

/** CPU ms of this process spent in `fn` (no collection first: the phases are timed back to back). */
const cpu = (fn: () => void): number => cpuMsOf(fn, false);

/** The bench's write phases (bench/ddcp.ts's writeRun) in CPU time, sealing after each if CRR. */
function cpuWrites(tree: Tree, scratch: Scratch, items: Item[], crr: boolean): CpuRun {
  const path = scratch.file('cpu');
  const db = tree.sqlite.openDatabase(path);
  db.exec(process.env.BENCH_DDL ?? ITEMS_DDL);
  const engine = crr ? tree.engine.Engine.open(db) : undefined;
  engine?.asCrr('items');
  const ins = db.prepare('INSERT INTO items (id, name, qty, price) VALUES (?, ?, ?, ?)');
  const upd = db.prepare('UPDATE items SET qty = ? WHERE id = ?');
  const del = db.prepare('DELETE FROM items WHERE id = ?');
  const newQty = items.map((r) => r[2] + 1n);
  const tx = (fn: () => void): number =>
    cpu(() => {
      db.exec('BEGIN');
      fn();
      db.exec('COMMIT');
    });
  const seal = (): number => (engine ? cpu(() => engine.seal()) : 0);
  gc();
  const insert = tx(() => {
    for (const r of items) ins.run(r[0], r[1], r[2], r[3]);
  });
  const s1 = seal();
  gc();
  const update = tx(() => {
    for (let i = 0; i < items.length; i++) upd.run(newQty[i]!, items[i]![0]);
  });
  const s2 = seal();
  gc();
  const remove = tx(() => {
    for (const r of items) del.run(r[0]);
  });
  const s3 = seal();
  db.close();
  scratch.remove(path);
  return { crr, insert, update, delete: remove, seals: { insert: s1, update: s2, delete: s3 } };
}

async function main(): Promise<void> {
  const other = process.argv[2];
  if (!other) throw new Error('usage: bench/ab.ts OTHER_TREE');
  const trees = [await load('before', other), await load('after', resolve(import.meta.dirname, '..'))];
  const scratch = new Scratch();
  try {
    const items = makeItems(ROWS);
    const warm = makeItems(Math.min(ROWS, 5_000));
    for (const t of trees) {
      cpuWrites(t, scratch, warm, true);
      if (!WRITES_ONLY) t.bench.measureSync(scratch, warm, 1);
    }
    const writes = new Map<string, CpuRun[]>();
    const syncs = new Map<string, ReturnType<DdcpBench['measureSync']>[]>();
    for (let i = 0; i < REPS; i++) {
      for (const t of i % 2 === 0 ? trees : [...trees].reverse()) {
        (writes.get(t.label) ?? writes.set(t.label, []).get(t.label)!).push(cpuWrites(t, scratch, items, false), cpuWrites(t, scratch, items, true));
        if (!WRITES_ONLY) (syncs.get(t.label) ?? syncs.set(t.label, []).get(t.label)!).push(t.bench.measureSync(scratch, items, 1));
      }
    }
    const best = (xs: number[]): number => Math.min(...xs);
    const out: string[] = [`${ROWS} rows, best of ${REPS}, trees interleaved; writes in CPU ms of this process`];
    out.push('| tree | phase | plain | app-visible | seal | incl. seal | ratio incl. seal |', '|---|---|---:|---:|---:|---:|---:|');
    for (const t of trees) {
      const runs = writes.get(t.label)!;
      for (const phase of ['insert', 'update', 'delete'] as const) {
        const plain = best(runs.filter((r) => !r.crr).map((r) => r[phase]));
        const crr = runs.filter((r) => r.crr);
        const app = best(crr.map((r) => r[phase]));
        const seal = best(crr.map((r) => r.seals[phase]));
        const total = best(crr.map((r) => r[phase] + r.seals[phase]));
        out.push(`| ${t.label} | ${phase} | ${plain.toFixed(0)} | ${app.toFixed(0)} | ${seal.toFixed(0)} | ${total.toFixed(0)} | ${(total / plain).toFixed(2)}× |`);
      }
    }
    if (WRITES_ONLY) {
      console.log(out.join('\n'));
      return;
    }
    out.push('', '| tree | read /s | merge /s | plain INSERT OR REPLACE ms | merge ms | merge ratio |', '|---|---:|---:|---:|---:|---:|');
    for (const t of trees) {
      const s = syncs.get(t.label)!;
      const read = best(s.map((x) => x.read.best));
      const merge = best(s.map((x) => x.merge.best));
      const plain = best(s.map((x) => x.plainReplace.best));
      const n = s[0]!.changes;
      out.push(`| ${t.label} | ${Math.round((n / read) * 1000)} | ${Math.round((n / merge) * 1000)} | ${plain.toFixed(1)} | ${merge.toFixed(1)} | ${(merge / plain).toFixed(2)}× |`);
    }
    out.push('', '| tree | plain bytes | CRR bytes | ratio | bytes/row | CRR objects |', '|---|---:|---:|---:|---:|---|');
    for (const t of trees) {
      const plain = diskUse(t, scratch, items, false);
      const crr = diskUse(t, scratch, items, true);
      out.push(`| ${t.label} | ${plain.total} | ${crr.total} | ${(crr.total / plain.total).toFixed(2)}× | ${(crr.total / ROWS).toFixed(1)} | ${Object.entries(crr.objects).map(([k, v]) => `${k} ${v}`).join(', ')} |`);
    }
    console.log(out.join('\n'));
  } finally {
    scratch.cleanup();
  }
}

await main();
