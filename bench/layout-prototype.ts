// Prototype of the row-level clock layout (docs/performance.md, "The row-level clock layout"): insert + seal and disk of 100,000 rows in pure SQL, today's layout beside it, CPU time, best of 3.
// node --disable-warning=ExperimentalWarning bench/layout-prototype.ts
import { ITEMS_DDL, makeItems } from './util.ts';
import { openDatabase } from '../src/engine/sqlite.ts';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
const N = 100000; const items = makeItems(N);
const cpu = (f: () => void): number => { const t = process.cpuUsage(); f(); const d = process.cpuUsage(t); return (d.user + d.system) / 1000; };
function run(kind: 'plain' | 'today' | 'rowclock' | 'intpk' | 'direct') {
  const path = join(tmpdir(), `ddcp-layout-prototype-${process.pid}-${kind}.db`); for (const s of ['', '-wal', '-shm']) rmSync(path + s, { force: true });
  const db = openDatabase(path); db.exec(ITEMS_DDL);
  db.exec(`CREATE TABLE log (seq INTEGER PRIMARY KEY, op INTEGER NOT NULL, k0, o0, m0);`);
  if (kind === 'intpk') db.exec(`CREATE TABLE pks (__key INTEGER PRIMARY KEY, cl INTEGER, cl_db_version INTEGER, cl_site INTEGER, cl_seq INTEGER, col_version INTEGER, db_version INTEGER, site INTEGER, seq INTEGER);
    CREATE INDEX pks_dbv ON pks (db_version, seq) WHERE db_version IS NOT NULL;`);
  if (kind === 'direct') db.exec(`CREATE TABLE pks (__key INTEGER PRIMARY KEY, cl INTEGER, cl_db_version INTEGER, cl_site INTEGER, cl_seq INTEGER, col_version INTEGER, db_version INTEGER, site INTEGER, seq INTEGER, pending INTEGER);
    CREATE INDEX pks_dbv ON pks (db_version, seq) WHERE db_version IS NOT NULL; CREATE INDEX pks_pending ON pks (pending) WHERE pending IS NOT NULL;
    CREATE TRIGGER ins AFTER INSERT ON items BEGIN INSERT INTO pks (__key, pending) VALUES (NEW.id, 1) ON CONFLICT DO UPDATE SET pending = 1; END;`);
  if (kind !== 'plain' && kind !== 'direct') db.exec(`CREATE TRIGGER ins AFTER INSERT ON items BEGIN INSERT INTO log (op, k0) VALUES (1, NEW.id); END;`);
  if (kind === 'today') db.exec(`CREATE TABLE pks (__key INTEGER PRIMARY KEY, id INTEGER, UNIQUE(id));
    CREATE TABLE clock (key INTEGER NOT NULL, cid TEXT NOT NULL, col_version INTEGER NOT NULL, db_version INTEGER NOT NULL, site INTEGER NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (key, cid)) WITHOUT ROWID;
    CREATE INDEX clock_dbv ON clock (db_version, seq);`);
  if (kind === 'rowclock') db.exec(`CREATE TABLE pks (__key INTEGER PRIMARY KEY, id INTEGER, cl INTEGER, cl_db_version INTEGER, cl_site INTEGER, cl_seq INTEGER, col_version INTEGER, db_version INTEGER, site INTEGER, seq INTEGER, UNIQUE(id));
    CREATE INDEX pks_dbv ON pks (db_version, seq) WHERE db_version IS NOT NULL; CREATE INDEX pks_cl ON pks (cl_db_version, cl_seq) WHERE cl_db_version IS NOT NULL;
    CREATE TABLE cells (key INTEGER NOT NULL, cid TEXT NOT NULL, col_version INTEGER, db_version INTEGER NOT NULL, site INTEGER NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (key, cid)) WITHOUT ROWID;
    CREATE INDEX cells_dbv ON cells (db_version, seq);`);
  const ins = db.prepare('INSERT INTO items (id, name, qty, price) VALUES (?, ?, ?, ?)');
  const app = cpu(() => { db.exec('BEGIN'); for (const r of items) ins.run(r[0], r[1], r[2], r[3]); db.exec('COMMIT'); });
  const seal = cpu(() => {
    db.exec('BEGIN');
    if (kind === 'today') {
      db.exec(`INSERT INTO pks (id) SELECT k0 FROM log ORDER BY seq`);
      db.exec(`INSERT INTO clock SELECT p.__key, c.column1, 1, 7, 0, (l.seq - 1) * 3 + c.column2 FROM log l CROSS JOIN pks p ON p.id = l.k0 CROSS JOIN (VALUES ('name', 0), ('qty', 1), ('price', 2)) c`);
    }
    if (kind === 'rowclock') db.exec(`INSERT INTO pks (id, col_version, db_version, site, seq) SELECT k0, 1, 7, 0, (seq - 1) * 3 FROM log ORDER BY seq`);
    if (kind === 'intpk') db.exec(`INSERT INTO pks (__key, col_version, db_version, site, seq) SELECT k0, 1, 7, 0, (seq - 1) * 3 FROM log ORDER BY seq`);
    if (kind === 'direct') db.exec(`UPDATE pks SET col_version = 1, db_version = 7, site = 0, seq = __key * 3, pending = NULL WHERE pending IS NOT NULL`);
    db.exec('DELETE FROM log'); db.exec('COMMIT');
  });
  db.exec('VACUUM'); db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
  const bytes = Number((db.prepare('SELECT page_count * page_size AS b FROM pragma_page_count, pragma_page_size').get() as { b: number }).b);
  db.close(); for (const s of ['', '-wal', '-shm']) rmSync(path + s, { force: true });
  return { app, seal, bytes };
}
const res: Record<string, { app: number[]; seal: number[]; total: number[]; bytes: number }> = {};
for (let i = 0; i < 3; i++) for (const k of ['plain', 'today', 'rowclock', 'intpk', 'direct'] as const) { const r = run(k); const x = (res[k] ??= { app: [], seal: [], total: [], bytes: r.bytes }); x.app.push(r.app); x.seal.push(r.seal); x.total.push(r.app + r.seal); }
const plain = Math.min(...res.plain!.total);
for (const [k, r] of Object.entries(res)) console.log(k, 'app', Math.min(...r.app).toFixed(0), 'seal', Math.min(...r.seal).toFixed(0), 'total', Math.min(...r.total).toFixed(0), 'ratio', (Math.min(...r.total) / plain).toFixed(2), 'bytes', r.bytes, (r.bytes / res.plain!.bytes).toFixed(2));
