/**
 * A model of the key map's width (issue 11: disk ≤ 2× plain): today's row-level key map (nine
 * columns, the sentinel clock's four beside the row clock's four) against narrower ones, in plain
 * `node:sqlite` with the engine's statements written out for the bench's shape (100,000 rows of
 * `items`, keys 1..n, sealed in key order: row clock (1, 1, 0, 3·(key−1)), no sentinel). Per variant:
 * the bookkeeping's bytes after `VACUUM` (dbstat, per object), and in CPU ms, interleaved, the insert
 * seal (key-map rows from the log), a read of every row clock joined to its row in (db_version, seq)
 * order (the read's row stream), and the delete seal of every row (the key-stretch `UPDATE`).
 *
 *   node --disable-warning=ExperimentalWarning bench/keymap-width-ab.ts      (BENCH_ROWS, BENCH_REPS)
 *
 * Variants:
 * - today: `(__key, cl, cl_dbv, cl_site, cl_seq, cv, dbv, site, seq)`, indexes (dbv, seq), (cl_dbv, cl_seq).
 * - nulls-last: today's columns with the sentinel's four last — SQLite (without the compile-time
 *   SQLITE_ENABLE_NULL_TRIM, which node's build lacks) writes every column's serial type, NULL or not,
 *   trailing or not: the same bytes.
 * - side: `(__key, cv, dbv, site, seq, cl)` and the sentinel's (dbv, site, seq) in a table of their own
 *   keyed by `__key` with its (dbv, seq) index — only rows with a sentinel clock have a row there.
 * - five: `(__key, cv, dbv, site, seq)`, the whole sentinel (cl too) in the side table; the read then
 *   looks every row's cl up there.
 * - packed: cv, site, cl and cl_site in one stored column, read through virtual generated columns.
 *
 * docs/performance.md's *4 Dec 2026: disk* has the figures; `five` was built afterwards as format 5
 * (the *disk5* paragraph after it).
 */
import { DatabaseSync } from 'node:sqlite';
import { cpuMsOf, ITEMS_DDL, makeItems, Scratch } from './util.ts';

const ROWS = Number(process.env.BENCH_ROWS ?? 100_000);
const REPS = Number(process.env.BENCH_REPS ?? 7);

interface Variant {
  name: string;
  ddl: string;
  /** The insert seal: key-map rows of the logged keys. */
  seal: string;
  /** The read's row stream (one SQL row per table row). */
  read: string;
  /** The delete seal of keys ?1..?2, stamped with db_version 2 and seq key − 1. */
  del: string[];
}

const next = 'coalesce(p.cl, 0) + 2 - (coalesce(p.cl, 0) & 1)';
const DBV = 'CREATE INDEX k_dbv ON k (dbv, seq) WHERE dbv IS NOT NULL;';
const SIDE = 'CREATE TABLE s (key INTEGER PRIMARY KEY, dbv INTEGER, site INTEGER, seq INTEGER); CREATE INDEX s_dbv ON s (dbv, seq);';
const SEAL = 'INSERT INTO k (__key, cv, dbv, site, seq) SELECT k0, 1, 1, 0, (seq - 1) * 3 FROM log ORDER BY seq';
const read = (cl: string, join = ''): string =>
  `SELECT t.id, r.cv, r.dbv, r.site, r.seq, coalesce(${cl}, 1), t.name, t.qty, t.price FROM k r JOIN items t ON t.id = r.__key${join}
   WHERE r.dbv > 0 AND r.cv IS NOT NULL ORDER BY r.dbv, r.seq`;
const sideInsert = `INSERT INTO s (key, dbv, site, seq) SELECT __key, 2, 0, __key - 1 FROM k WHERE __key BETWEEN ?1 AND ?2
  ON CONFLICT (key) DO UPDATE SET dbv = excluded.dbv, site = excluded.site, seq = excluded.seq`;

const VARIANTS: Variant[] = [
  {
    name: 'today',
    ddl: `CREATE TABLE k (__key INTEGER PRIMARY KEY, cl INTEGER, cl_dbv INTEGER, cl_site INTEGER, cl_seq INTEGER, cv INTEGER, dbv INTEGER, site INTEGER, seq INTEGER);
      ${DBV} CREATE INDEX k_cl ON k (cl_dbv, cl_seq) WHERE cl_dbv IS NOT NULL;`,
    seal: SEAL,
    read: read('r.cl'),
    del: [`UPDATE k AS p SET cl = ${next}, cl_dbv = 2, cl_site = 0, cl_seq = p.__key - 1, cv = NULL WHERE p.__key BETWEEN ?1 AND ?2`],
  },
  {
    name: 'nulls-last',
    ddl: `CREATE TABLE k (__key INTEGER PRIMARY KEY, cv INTEGER, dbv INTEGER, site INTEGER, seq INTEGER, cl INTEGER, cl_dbv INTEGER, cl_site INTEGER, cl_seq INTEGER);
      ${DBV} CREATE INDEX k_cl ON k (cl_dbv, cl_seq) WHERE cl_dbv IS NOT NULL;`,
    seal: SEAL,
    read: read('r.cl'),
    del: [`UPDATE k AS p SET cl = ${next}, cl_dbv = 2, cl_site = 0, cl_seq = p.__key - 1, cv = NULL WHERE p.__key BETWEEN ?1 AND ?2`],
  },
  {
    name: 'side',
    ddl: `CREATE TABLE k (__key INTEGER PRIMARY KEY, cv INTEGER, dbv INTEGER, site INTEGER, seq INTEGER, cl INTEGER); ${DBV} ${SIDE}`,
    seal: SEAL,
    read: read('r.cl'),
    del: [`UPDATE k AS p SET cl = ${next}, cv = NULL WHERE p.__key BETWEEN ?1 AND ?2`, sideInsert],
  },
  {
    name: 'five',
    ddl: `CREATE TABLE k (__key INTEGER PRIMARY KEY, cv INTEGER, dbv INTEGER, site INTEGER, seq INTEGER); ${DBV} ${SIDE.replace('key INTEGER PRIMARY KEY,', 'key INTEGER PRIMARY KEY, cl INTEGER,')}`,
    seal: SEAL,
    read: read('x.cl', ' LEFT JOIN s x ON x.key = r.__key'),
    del: [
      'UPDATE k AS p SET cv = NULL WHERE p.__key BETWEEN ?1 AND ?2',
      `INSERT INTO s (key, cl, dbv, site, seq) SELECT __key, 2, 2, 0, __key - 1 FROM k WHERE __key BETWEEN ?1 AND ?2
        ON CONFLICT (key) DO UPDATE SET cl = cl + 2 - (cl & 1), dbv = excluded.dbv, site = excluded.site, seq = excluded.seq`,
    ],
  },
  {
    // cv, site, cl, cl_site packed into one stored integer, read through virtual generated columns:
    // (cv − 1)·2^16 + site for a row without a sentinel (0 for the common local row), a JSON array
    // otherwise (here: the tombstones).
    name: 'packed',
    ddl: `CREATE TABLE k (__key INTEGER PRIMARY KEY, m, dbv INTEGER, seq INTEGER, cl_dbv INTEGER, cl_seq INTEGER,
      cv INTEGER AS (CASE WHEN typeof(m) = 'integer' THEN (m >> 16) + 1 ELSE m ->> 0 END) VIRTUAL,
      site INTEGER AS (CASE WHEN typeof(m) = 'integer' THEN m & 65535 ELSE m ->> 1 END) VIRTUAL,
      cl INTEGER AS (CASE WHEN typeof(m) = 'integer' THEN NULL ELSE m ->> 2 END) VIRTUAL,
      cl_site INTEGER AS (CASE WHEN typeof(m) = 'integer' THEN NULL ELSE m ->> 3 END) VIRTUAL);
      ${DBV} CREATE INDEX k_cl ON k (cl_dbv, cl_seq) WHERE cl_dbv IS NOT NULL;`,
    seal: 'INSERT INTO k (__key, m, dbv, seq) SELECT k0, 0, 1, (seq - 1) * 3 FROM log ORDER BY seq',
    read: read('r.cl'),
    del: [`UPDATE k AS p SET m = json_array(NULL, p.site, ${next}, 0), cl_dbv = 2, cl_seq = p.__key - 1 WHERE p.__key BETWEEN ?1 AND ?2`],
  },
];

interface Run {
  seal: number;
  read: number;
  del: number;
  bytes: Record<string, number>;
}

function open(path: string): DatabaseSync {
  const db = new DatabaseSync(path);
  db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL');
  return db;
}

function run(v: Variant, scratch: Scratch, items: ReturnType<typeof makeItems>, measureDisk: boolean): Run {
  const path = scratch.file(v.name);
  const db = open(path);
  db.exec(`${ITEMS_DDL}; CREATE TABLE log (seq INTEGER PRIMARY KEY, op INTEGER, k0); ${v.ddl}`);
  const ins = db.prepare('INSERT INTO items (id, name, qty, price) VALUES (?, ?, ?, ?)');
  const log = db.prepare('INSERT INTO log (op, k0) VALUES (1, ?)');
  db.exec('BEGIN');
  for (const r of items) {
    ins.run(r[0], r[1], r[2], r[3]);
    log.run(r[0]);
  }
  db.exec('COMMIT');
  const tx = (sqls: string[], params: (number | bigint)[] = []): number =>
    cpuMsOf(() => {
      db.exec('BEGIN');
      for (const s of sqls) db.prepare(s).run(...params);
      db.exec('DELETE FROM log');
      db.exec('COMMIT');
    });
  const seal = tx([v.seal]);
  const bytes: Record<string, number> = {};
  if (measureDisk) {
    db.exec('VACUUM');
    for (const r of db.prepare(`SELECT name, sum(pgsize) AS b FROM dbstat WHERE name IN ('k', 'k_dbv', 'k_cl', 's', 's_dbv') GROUP BY name`).all() as { name: string; b: number }[]) bytes[r.name] = Number(r.b);
  }
  const st = db.prepare(v.read);
  const readMs = cpuMsOf(() => {
    let n = 0;
    for (const _ of st.iterate()) n++;
    if (n !== items.length) throw new Error(`read ${n} rows`);
  });
  db.prepare('INSERT INTO log (op, k0) SELECT 3, __key FROM k').run();
  const del = tx(v.del, [1, items.length]);
  db.close();
  scratch.remove(path);
  return { seal, read: readMs, del, bytes };
}

function main(): void {
  const scratch = new Scratch();
  try {
    const items = makeItems(ROWS);
    const runs = new Map<string, Run[]>(VARIANTS.map((v) => [v.name, []]));
    for (const v of VARIANTS) run(v, scratch, makeItems(2_000), false);
    for (let i = 0; i < REPS; i++) for (const v of i % 2 === 0 ? VARIANTS : [...VARIANTS].reverse()) runs.get(v.name)!.push(run(v, scratch, items, i === 0));
    const min = (xs: number[]): number => Math.min(...xs);
    const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
    const today = Object.values(runs.get('today')![0]!.bytes).reduce((a, b) => a + b, 0);
    const out = [`${ROWS} rows, ${REPS} rounds interleaved; CPU ms least / median`, '| variant | bookkeeping bytes (objects) | vs today | insert seal | read | delete seal |', '|---|---|---:|---:|---:|---:|'];
    for (const v of VARIANTS) {
      const rs = runs.get(v.name)!;
      const b = rs[0]!.bytes;
      const total = Object.values(b).reduce((a, x) => a + x, 0);
      const f = (k: keyof Run): string => `${min(rs.map((r) => r[k] as number)).toFixed(1)} / ${med(rs.map((r) => r[k] as number)).toFixed(1)}`;
      out.push(`| ${v.name} | ${total} (${Object.entries(b).map(([k, x]) => `${k} ${x}`).join(', ')}) | ${total - today >= 0 ? '+' : ''}${total - today} | ${f('seal')} | ${f('read')} | ${f('del')} |`);
    }
    console.log(out.join('\n'));
  } finally {
    scratch.cleanup();
  }
}

main();
