/**
 * Where the bench's write phases spend their seal, statement by statement (issue 11): the bench's
 * insert, one-column update and delete of 100,000 rows of `items` as a CRR, each sealed, with every
 * statement the engine runs during the seal timed in CPU ms (summed by its SQL's first 90 characters)
 * and the transaction's COMMIT alone. Least of BENCH_REPS per statement.
 *
 *   node --disable-warning=ExperimentalWarning --expose-gc bench/write-seal-probe.ts [TREE]  (BENCH_ROWS, BENCH_REPS)
 */
import { resolve } from 'node:path';
import { cpuMsOf, gc, ITEMS_DDL, makeItems, Scratch } from './util.ts';

const ROWS = Number(process.env.BENCH_ROWS ?? 100_000);
const REPS = Number(process.env.BENCH_REPS ?? 5);
const root = resolve(process.argv[2] ?? resolve(import.meta.dirname, '..'));
const { Engine } = (await import(resolve(root, 'src/engine/engine.ts'))) as typeof import('../src/engine/engine.ts');
const { openDatabase } = (await import(resolve(root, 'src/engine/sqlite.ts'))) as typeof import('../src/engine/sqlite.ts');

const items = makeItems(ROWS);
const newQty = items.map((r) => r[2] + 1n);
const scratch = new Scratch();
type Times = Map<string, number>;

/** A connection whose statements add their CPU time to `into` while `on.value`. */
function timed(db: ReturnType<typeof openDatabase>, into: { times: Times | undefined }): ReturnType<typeof openDatabase> {
  const add = (sql: string, ms: number): void => {
    if (!into.times) return;
    const k = sql.replace(/\s+/g, ' ').trim().slice(0, 90);
    into.times.set(k, (into.times.get(k) ?? 0) + ms);
  };
  const time = <T>(sql: string, f: () => T): T => {
    if (!into.times) return f();
    let r!: T;
    add(sql, cpuMsOf(() => (r = f()), false));
    return r;
  };
  return new Proxy(db, {
    get(target, prop) {
      if (prop === 'exec') return (sql: string) => time(sql, () => target.exec(sql));
      if (prop === 'prepare')
        return (sql: string) => {
          const st = target.prepare(sql);
          return new Proxy(st, {
            get(s, p) {
              const v = Reflect.get(s, p, s) as unknown;
              if (typeof v !== 'function') return v;
              if (p === 'run' || p === 'get' || p === 'all') return (...a: unknown[]) => time(sql, () => (v as (...x: unknown[]) => unknown).apply(s, a));
              return (v as (...x: unknown[]) => unknown).bind(s);
            },
          });
        };
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? (v as (...x: unknown[]) => unknown).bind(target) : v;
    },
  });
}

const phases = ['insert', 'update', 'delete'] as const;
const all = new Map<string, Map<string, number[]>>(phases.map((p) => [p, new Map()]));
for (let rep = 0; rep < REPS; rep++) {
  const path = scratch.file('w');
  const raw = openDatabase(path);
  const into: { times: Times | undefined } = { times: undefined };
  const db = timed(raw, into);
  raw.exec(ITEMS_DDL);
  const engine = Engine.open(db);
  engine.asCrr('items');
  const ins = raw.prepare('INSERT INTO items (id, name, qty, price) VALUES (?, ?, ?, ?)');
  const upd = raw.prepare('UPDATE items SET qty = ? WHERE id = ?');
  const del = raw.prepare('DELETE FROM items WHERE id = ?');
  const write = {
    insert: () => { for (const r of items) ins.run(r[0], r[1], r[2], r[3]); },
    update: () => { for (let i = 0; i < items.length; i++) upd.run(newQty[i]!, items[i]![0]); },
    delete: () => { for (const r of items) del.run(r[0]); },
  };
  for (const p of phases) {
    gc();
    const app = cpuMsOf(() => { raw.exec('BEGIN'); write[p](); raw.exec('COMMIT'); }, false);
    into.times = new Map();
    const seal = cpuMsOf(() => engine.seal(), false);
    const t = into.times;
    into.times = undefined;
    t.set('(app-visible)', app);
    t.set('(seal, whole)', seal);
    t.set('(seal, statements)', [...t.entries()].filter(([k]) => !k.startsWith('(')).reduce((a, [, v]) => a + v, 0));
    const m = all.get(p)!;
    for (const [k, v] of t) m.set(k, [...(m.get(k) ?? []), v]);
  }
  raw.close();
  scratch.remove(path);
}
for (const p of phases) {
  console.log(`\n${p} (${ROWS} rows, CPU ms least / median of ${REPS})`);
  const rows = [...all.get(p)!.entries()].map(([k, xs]) => {
    const s = [...xs].sort((a, b) => a - b);
    return { k, least: s[0]!, median: s[s.length >> 1]! };
  });
  rows.sort((a, b) => b.median - a.median);
  for (const r of rows) if (r.median >= 0.3) console.log(`${r.least.toFixed(1).padStart(7)} ${r.median.toFixed(1).padStart(7)}  ${r.k}`);
}
scratch.cleanup();
