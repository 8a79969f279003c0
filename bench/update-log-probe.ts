/**
 * Where a CRR update's app-visible bookkeeping goes (issue 11, update incl. seal ≤ 3.0×): the bench's
 * one-column update of 100,000 rows (`UPDATE items SET qty = ? WHERE id = ?`, one transaction) under
 * variants of the update triggers and the log — CPU ms, variants interleaved, least and median of
 * BENCH_REPS. Plain node:sqlite with the engine's DDL written out (names shortened), every variant
 * starting from a copy of one file holding the 100,000 rows.
 *
 *   node --disable-warning=ExperimentalWarning bench/update-log-probe.ts   (BENCH_ROWS, BENCH_REPS)
 */
import { copyFileSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { cpuMsOf, gc, ITEMS_DDL, makeItems, Scratch } from './util.ts';

const ROWS = Number(process.env.BENCH_ROWS ?? 100_000);
const REPS = Number(process.env.BENCH_REPS ?? 9);
const items = makeItems(ROWS);
const newQty = items.map((r) => r[2] + 1n);
const scratch = new Scratch();

const LOG5 = 'CREATE TABLE log (seq INTEGER PRIMARY KEY, op INTEGER, k0, o0, m0);';
const same = 'NEW.id IS OLD.id';
/** triggers.ts's masks for (name TEXT, qty INTEGER, price REAL). */
const MASK = `((NEW.name IS NOT OLD.name COLLATE BINARY) << 0) | ((CASE WHEN NEW.qty IS NOT OLD.qty COLLATE BINARY THEN 1 WHEN NEW.qty < -9223372036854775807 THEN (NEW.qty || '') IS NOT (OLD.qty || '') ELSE 0 END) << 1) | ((NEW.price IS NOT OLD.price COLLATE BINARY) << 2)`;
const TODAY = `${LOG5}
CREATE TRIGGER upd AFTER UPDATE ON items WHEN ${same} BEGIN INSERT INTO log (op, k0, m0) VALUES (2, NEW.id, ${MASK}); END;
CREATE TRIGGER updk AFTER UPDATE ON items WHEN NOT (${same}) BEGIN INSERT INTO log (op, k0, o0) VALUES (4, NEW.id, OLD.id); END;`;
const ONE_CASE = `${LOG5}
CREATE TRIGGER upd AFTER UPDATE ON items BEGIN INSERT INTO log (op, k0, o0, m0) VALUES (CASE WHEN ${same} THEN 2 ELSE 4 END, NEW.id, CASE WHEN ${same} THEN NULL ELSE OLD.id END, CASE WHEN ${same} THEN ${MASK} END); END;`;
const ONE_TWO = `${LOG5}
CREATE TRIGGER upd AFTER UPDATE ON items BEGIN
  INSERT INTO log (op, k0, m0) SELECT 2, NEW.id, ${MASK} WHERE ${same};
  INSERT INTO log (op, k0, o0) SELECT 4, NEW.id, OLD.id WHERE NOT (${same});
END;`;

/** The masks as a sum of one CASE per column (fewer VDBE ops than `(a IS NOT b) << i | …`). */
const MASK_CASE = `CASE WHEN NEW.name IS OLD.name COLLATE BINARY THEN 0 ELSE 1 END + CASE WHEN NEW.qty IS NOT OLD.qty COLLATE BINARY THEN 2 WHEN NEW.qty < -9223372036854775807 THEN ((NEW.qty || '') IS NOT (OLD.qty || '')) * 2 ELSE 0 END + CASE WHEN NEW.price IS OLD.price COLLATE BINARY THEN 0 ELSE 4 END`;
/** The key-change trigger only for statements that name a key column or the rowid (UPDATE OF). */
const KEYED = `CREATE TRIGGER updk AFTER UPDATE OF id, rowid, oid, _rowid_ ON items WHEN NOT (${same}) BEGIN INSERT INTO log (op, k0, o0) VALUES (4, NEW.id, OLD.id); END;`;
const variants: { name: string; ddl: string }[] = [
  { name: 'UPDATE OF key trigger', ddl: `${LOG5} CREATE TRIGGER upd AFTER UPDATE ON items WHEN ${same} BEGIN INSERT INTO log (op, k0, m0) VALUES (2, NEW.id, ${MASK}); END; ${KEYED}` },
  { name: 'UPDATE OF key trigger, CASE masks', ddl: `${LOG5} CREATE TRIGGER upd AFTER UPDATE ON items WHEN ${same} BEGIN INSERT INTO log (op, k0, m0) VALUES (2, NEW.id, ${MASK_CASE}); END; ${KEYED}` },
  { name: 'plain', ddl: '' },
  { name: "today's two triggers", ddl: TODAY },
  { name: 'one trigger, CASE', ddl: ONE_CASE },
  { name: 'one trigger, two INSERT … WHERE', ddl: ONE_TWO },
  { name: 'one trigger, op 2 only', ddl: `${LOG5} CREATE TRIGGER upd AFTER UPDATE ON items BEGIN INSERT INTO log (op, k0, m0) VALUES (2, NEW.id, ${MASK}); END;` },
  { name: 'one trigger, no mask', ddl: `${LOG5} CREATE TRIGGER upd AFTER UPDATE ON items BEGIN INSERT INTO log (op, k0) VALUES (2, NEW.id); END;` },
  { name: 'empty trigger', ddl: 'CREATE TRIGGER upd AFTER UPDATE ON items BEGIN SELECT 1; END;' },
  { name: 'two empty triggers (WHEN)', ddl: `CREATE TRIGGER upd AFTER UPDATE ON items WHEN ${same} BEGIN SELECT 1; END; CREATE TRIGGER updk AFTER UPDATE ON items WHEN NOT (${same}) BEGIN SELECT 1; END;` },
];

/** BENCH_ONLY=<substring>: only the variants whose names contain it (for a profiler). */
const only = process.env.BENCH_ONLY;
if (only) variants.splice(0, variants.length, ...variants.filter((v) => v.name.includes(only)));

const template = scratch.file('template');
{
  const db = new DatabaseSync(template);
  db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;');
  db.exec(ITEMS_DDL);
  const ins = db.prepare('INSERT INTO items (id, name, qty, price) VALUES (?, ?, ?, ?)');
  db.exec('BEGIN');
  for (const r of items) ins.run(r[0], r[1], r[2], r[3]);
  db.exec('COMMIT');
  db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
  db.close();
}

function run(v: { ddl: string }): number {
  const path = scratch.file('p');
  copyFileSync(template, path);
  const db = new DatabaseSync(path);
  db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;');
  if (v.ddl) db.exec(v.ddl);
  const upd = db.prepare('UPDATE items SET qty = ? WHERE id = ?');
  gc();
  const t = cpuMsOf(() => {
    db.exec('BEGIN');
    for (let i = 0; i < items.length; i++) upd.run(newQty[i]!, items[i]![0]);
    db.exec('COMMIT');
  }, false);
  db.close();
  scratch.remove(path);
  return t;
}

const samples = new Map<string, number[]>();
for (let rep = 0; rep < REPS; rep++) for (const v of rep % 2 ? [...variants].reverse() : variants) samples.set(v.name, [...(samples.get(v.name) ?? []), run(v)]);
const fmt = (xs: number[]): string => {
  const s = [...xs].sort((a, b) => a - b);
  return `${s[0]!.toFixed(1)} / ${s[s.length >> 1]!.toFixed(1)}`;
};
console.log(`${ROWS} rows, ${REPS} reps, CPU ms least / median`);
/** Each variant against today's triggers (or the first variant, if BENCH_ONLY left them out), per repetition (they ran side by side): the median difference. */
const base = samples.get("today's two triggers") ?? [...samples.values()][0];
const paired = (xs: number[]): string => {
  if (!base || xs.length !== base.length) return '';
  const d = xs.map((x, i) => x - base[i]!).sort((a, b) => a - b);
  return `${d[d.length >> 1]! >= 0 ? '+' : ''}${d[d.length >> 1]!.toFixed(1)}`;
};
console.log('variant'.padEnd(36), 'least / median'.padStart(14), 'paired vs today'.padStart(16));
for (const [name, s] of samples) console.log(name.padEnd(36), fmt(s).padStart(14), paired(s).padStart(16));
scratch.cleanup();
