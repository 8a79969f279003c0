/** A repository holding the bench's `items` rows, inserted in one transaction and sealed: the source the CLI benches read and apply. */
import { Repository } from '../src/index.ts';
import { ITEMS_DDL, makeItems, type Item } from './util.ts';

/** Creates the repository at `dir` with `items` (or that many made by {@link makeItems}). */
export async function itemsRepo(dir: string, items: Item[] | number): Promise<void> {
  const repo = await Repository.init(dir);
  repo.db.exec(ITEMS_DDL);
  repo.engine.asCrr('items');
  const ins = repo.db.prepare('INSERT INTO items VALUES (?, ?, ?, ?)');
  repo.db.exec('BEGIN');
  for (const item of typeof items === 'number' ? makeItems(items) : items) ins.run(...item);
  repo.db.exec('COMMIT');
  repo.engine.seal();
  repo.close();
}
