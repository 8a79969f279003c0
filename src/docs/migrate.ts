/**
 * Moving the history of the first release (`ddcpdoc_history`: a CRR row of 12 columns per change,
 * the document state after it included) into the changes table (one compact value per change),
 * then dropping the old table. Deterministic: replicas that held the same old entries write the
 * same new rows (same keys, same bytes), so when they sync those merge as no-ops.
 */
import type { Engine } from '../engine/index.ts';
import { fromHex } from '../base/hex.ts';
import { encodeEntry, type ChangeKind, type EntryBody } from './entry.ts';
import type { Operation } from './patch.ts';

interface OldRow {
  id: string;
  collection: string | null;
  doc: string | null;
  seq: number | bigint | null;
  at: number | bigint | null;
  site: string | null;
  author: string | null;
  op: string | null;
  forward: string | null;
  reverse: string | null;
  undoes: string | null;
}

/**
 * Copies every complete old entry into `changes` and drops `old` (its CRR tracking first), in the
 * caller's transaction. An undo's reference becomes the undone change's seq (0 if that change is
 * not here); an incomplete row (a partial sync of the old layout) is left out.
 */
export function migrateHistory(engine: Engine, old: string, changes: string): number {
  const db = engine.db;
  const rows = db.prepare(`SELECT id, collection, doc, seq, at, site, author, op, forward, reverse, undoes FROM ${old} ORDER BY collection, doc, seq, site, id`).all() as unknown as OldRow[];
  const seqOf = new Map(rows.map((r) => [r.id, Number(r.seq)]));
  const insert = db.prepare(`INSERT INTO ${changes} (collection, doc, site, seq, entry) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`);
  let moved = 0;
  for (const r of rows) {
    if (r.collection === null || r.doc === null || r.seq === null || r.at === null || r.site === null || r.op === null || r.forward === null || r.reverse === null) continue;
    const body: EntryBody = { at: Number(r.at), op: r.op as ChangeKind, forward: JSON.parse(r.forward) as Operation[], reverse: JSON.parse(r.reverse) as Operation[] };
    if (r.author !== null) body.author = r.author;
    if (r.undoes !== null) body.undoes = seqOf.get(r.undoes) ?? 0;
    moved += Number(insert.run(r.collection, r.doc, fromHex(r.site, 'site id'), BigInt(r.seq), encodeEntry(body)).changes);
  }
  engine.untrack(old);
  db.exec(`DROP TABLE ${old}`);
  return moved;
}
