/**
 * Where a CRR insert's bookkeeping goes (issue 11, insert incl. seal ≤ 2.0×): the bench's 100,000-row
 * insert into `items`, in one transaction, under variants of the insert trigger and its log, and the
 * insert seal's one statement under variants of the key map — CPU ms, variants interleaved, least
 * and median of BENCH_REPS. Plain node:sqlite with the engine's DDL written out (the same tables,
 * indexes and trigger as `asCrr('items')` makes, names shortened), so each piece is timed alone.
 *
 *   node --disable-warning=ExperimentalWarning bench/insert-log-probe.ts   (BENCH_ROWS, BENCH_REPS)
 *
 * "auto rowid" inserts leave `id` out (SQLite picks it): the statement then has no rowid-uniqueness
 * check that may abort, so SQLite gives it no statement journal even with a trigger — the difference
 * to the explicit-id insert is what that journal costs.
 */
import { DatabaseSync } from 'node:sqlite';
import { cpuMsOf, gc, ITEMS_DDL, makeItems, Scratch } from './util.ts';

const ROWS = Number(process.env.BENCH_ROWS ?? 100_000);
const REPS = Number(process.env.BENCH_REPS ?? 9);
const items = makeItems(ROWS);
const scratch = new Scratch();

const LOG5 = 'CREATE TABLE log (seq INTEGER PRIMARY KEY, op INTEGER, k0, o0, m0);';
const TRIGGER = 'CREATE TRIGGER ins AFTER INSERT ON items BEGIN INSERT INTO log (op, k0) VALUES (1, NEW.id); END;';
const keyMap = (opts: { generated?: boolean; indexes?: boolean } = {}): string => `
CREATE TABLE pks (__key INTEGER PRIMARY KEY, ${opts.generated === false ? '' : 'id INTEGER AS (__key) VIRTUAL,'}
  cl INTEGER, cl_dbv INTEGER, cl_site INTEGER, cl_seq INTEGER, cv INTEGER, dbv INTEGER, site INTEGER, seq INTEGER);
${opts.indexes === false ? '' : `CREATE INDEX pks_dbv ON pks (dbv, seq) WHERE dbv IS NOT NULL;
CREATE INDEX pks_cl ON pks (cl_dbv, cl_seq) WHERE cl_dbv IS NOT NULL;`}`;
/** sealInsertRun's statement for the whole log (db_version 7, seqs from 0, three columns). */
const SEAL_SELECT = `SELECT k0, 1, 7, 0, 0 + (seq - 1) * 3 FROM log WHERE seq BETWEEN 1 AND ${ROWS} ORDER BY seq`;
const SEAL = `INSERT INTO pks (__key, cv, dbv, site, seq) ${SEAL_SELECT}`;

interface Variant {
  name: string;
  ddl: string;
  /** The app gives the key (the bench does), or leaves it to SQLite. */
  explicitId: boolean;
  /** Timed after the insert, in its own transaction: the seal's statement. */
  seal?: string;
}
const variants: Variant[] = [
  { name: 'plain', ddl: '', explicitId: true },
  { name: 'plain, auto rowid', ddl: '', explicitId: false },
  { name: 'empty trigger', ddl: 'CREATE TRIGGER ins AFTER INSERT ON items BEGIN SELECT 1; END;', explicitId: true },
  { name: 'empty trigger, auto rowid', ddl: 'CREATE TRIGGER ins AFTER INSERT ON items BEGIN SELECT 1; END;', explicitId: false },
  { name: "today's trigger and log", ddl: LOG5 + TRIGGER + keyMap(), explicitId: true, seal: SEAL },
  { name: "today's, auto rowid", ddl: LOG5 + TRIGGER, explicitId: false },
  { name: 'log (seq, op, k0)', ddl: 'CREATE TABLE log (seq INTEGER PRIMARY KEY, op INTEGER, k0);' + TRIGGER, explicitId: true },
  { name: 'log (seq, k0)', ddl: 'CREATE TABLE log (seq INTEGER PRIMARY KEY, k0); CREATE TRIGGER ins AFTER INSERT ON items BEGIN INSERT INTO log (k0) VALUES (NEW.id); END;', explicitId: true },
  { name: 'seal: INSERT OR FAIL', ddl: LOG5 + TRIGGER + keyMap(), explicitId: true, seal: SEAL.replace('INSERT', 'INSERT OR FAIL') },
  { name: 'seal: no generated key column', ddl: LOG5 + TRIGGER + keyMap({ generated: false }), explicitId: true, seal: SEAL },
  { name: 'seal: key map without its indexes', ddl: LOG5 + TRIGGER + keyMap({ indexes: false }), explicitId: true, seal: SEAL },
  { name: 'seal: the log scan alone', ddl: LOG5 + TRIGGER + keyMap(), explicitId: true, seal: `SELECT count(*) FROM (${SEAL_SELECT})` },
];

function run(v: Variant): { insert: number; seal?: number } {
  const path = scratch.file('p');
  const db = new DatabaseSync(path);
  db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;');
  db.exec(ITEMS_DDL);
  if (v.ddl) db.exec(v.ddl);
  const ins = db.prepare(v.explicitId ? 'INSERT INTO items (id, name, qty, price) VALUES (?, ?, ?, ?)' : 'INSERT INTO items (name, qty, price) VALUES (?, ?, ?)');
  gc();
  const insert = cpuMsOf(() => {
    db.exec('BEGIN');
    if (v.explicitId) for (const r of items) ins.run(r[0], r[1], r[2], r[3]);
    else for (const r of items) ins.run(r[1], r[2], r[3]);
    db.exec('COMMIT');
  }, false);
  let seal: number | undefined;
  if (v.seal) {
    gc();
    // As the engine runs it: in a transaction, inside a savepoint (seal-runs.ts's attempt).
    db.exec('BEGIN; SAVEPOINT s');
    seal = cpuMsOf(() => db.exec(v.seal!), false);
    db.exec('RELEASE s; DELETE FROM log; COMMIT');
  }
  db.close();
  scratch.remove(path);
  return { insert, seal };
}

const samples = new Map<string, { insert: number[]; seal: number[] }>();
for (let rep = 0; rep < REPS; rep++) {
  for (const v of variants) {
    const r = run(v);
    const s = samples.get(v.name) ?? { insert: [], seal: [] };
    s.insert.push(r.insert);
    if (r.seal !== undefined) s.seal.push(r.seal);
    samples.set(v.name, s);
  }
}
const fmt = (xs: number[]): string => {
  if (xs.length === 0) return '';
  const s = [...xs].sort((a, b) => a - b);
  return `${s[0]!.toFixed(1)} / ${s[s.length >> 1]!.toFixed(1)}`;
};
console.log(`${ROWS} rows, ${REPS} reps, CPU ms least / median`);
console.log('variant'.padEnd(36), 'insert'.padStart(14), 'seal statement'.padStart(16));
for (const [name, s] of samples) console.log(name.padEnd(36), fmt(s.insert).padStart(14), fmt(s.seal).padStart(16));
scratch.cleanup();
