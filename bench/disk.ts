/** What a CRR costs on disk: a file holding the bench's rows, plain or as a CRR inserted and sealed, VACUUMed. */
import { ITEMS_DDL, type Item, type Scratch } from './util.ts';

type EngineModule = typeof import('../src/engine/engine.ts');
type SqliteModule = typeof import('../src/engine/sqlite.ts');

export interface DiskUse {
  /** Bytes of the database file, checkpointed. */
  total: number;
  /** Bytes per table and index of `items` (dbstat). */
  objects: Record<string, number>;
}

/** The file with `items` holding the rows (as a CRR, inserted and sealed, or plain), through a tree's engine. */
export function diskUse(tree: { engine: Pick<EngineModule, 'Engine'>; sqlite: Pick<SqliteModule, 'openDatabase'> }, scratch: Scratch, items: Item[], crr: boolean): DiskUse {
  const path = scratch.file(crr ? 'disk-crr' : 'disk-plain');
  const db = tree.sqlite.openDatabase(path);
  db.exec(ITEMS_DDL);
  const engine = crr ? tree.engine.Engine.open(db) : undefined;
  engine?.asCrr('items');
  const ins = db.prepare('INSERT INTO items (id, name, qty, price) VALUES (?, ?, ?, ?)');
  db.exec('BEGIN');
  for (const r of items) ins.run(r[0], r[1], r[2], r[3]);
  db.exec('COMMIT');
  engine?.seal();
  db.exec('VACUUM');
  db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
  const objects: Record<string, number> = {};
  for (const r of db.prepare(`SELECT name, sum(pgsize) AS bytes FROM dbstat GROUP BY name HAVING name LIKE 'items%' ORDER BY name`).all() as { name: string; bytes: number }[]) objects[r.name] = Number(r.bytes);
  const total = Number((db.prepare('SELECT page_count * page_size AS b FROM pragma_page_count, pragma_page_size').get() as { b: number }).b);
  db.close();
  scratch.remove(path);
  return { total, objects };
}
