/**
 * The CRR schema a client declared in its hello, and noticing that its own schema moved since (a
 * table made a CRR, a column added while a session follows). The other side judges our changes by
 * what we declared, so a following session must end and say hello again before it sends changes of
 * the new shape — otherwise they are refused as not fitting, and following would stop for good.
 */
import { DdcpError } from '../base/errors.ts';
import type { TableInfo } from '../engine/index.ts';
import type { ChangeFeed } from './ports.ts';

/** Our CRR schema changed since the session's hello: reconnect to declare it (nothing was sent of it). */
export class SchemaChangedError extends DdcpError {
  override name = 'SchemaChangedError';
}

/** A schema as comparable text: each table's name, key columns and columns, in name order. */
export function schemaKey(tables: readonly TableInfo[]): string {
  return tables
    .map((t) => JSON.stringify([t.name, t.pks, t.columns]))
    .sort()
    .join('\n');
}

const sameList = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

/**
 * Whether `now` has exactly `declared`'s tables, in the same order: then their {@link schemaKey}s are
 * equal, and it is checked without making them (a pushing client checks before each commit's read).
 * False does not mean they differ (another order): the caller then compares the keys.
 */
function sameTables(now: readonly TableInfo[], declared: readonly TableInfo[]): boolean {
  if (now.length !== declared.length) return false;
  for (let i = 0; i < now.length; i++) {
    const a = now[i]!;
    const b = declared[i]!;
    if (a.name !== b.name || !sameList(a.pks, b.pks) || !sameList(a.columns, b.columns)) return false;
  }
  return true;
}

/** What changed between two schemas, in a few words (for the session's end). */
function schemaChange(before: readonly TableInfo[], now: readonly TableInfo[]): string {
  const was = new Map(before.map((t) => [t.name, schemaKey([t])]));
  const added = now.filter((t) => !was.has(t.name)).map((t) => t.name);
  const changed = now.filter((t) => was.has(t.name) && was.get(t.name) !== schemaKey([t])).map((t) => t.name);
  const gone = before.filter((t) => !now.some((n) => n.name === t.name)).map((t) => t.name);
  const parts = [added.length ? `new CRR ${added.join(', ')}` : '', changed.length ? `changed ${changed.join(', ')}` : '', gone.length ? `no longer a CRR: ${gone.join(', ')}` : ''];
  return parts.filter(Boolean).join('; ') || 'the schema changed';
}

/**
 * `feed` for a session that declared `declared`: before each read of changes it checks the feed's
 * schema and throws {@link SchemaChangedError} if it moved, so nothing of the new shape is sent
 * under the old declaration.
 */
export function declaredFeed(feed: ChangeFeed, declared: readonly TableInfo[]): ChangeFeed {
  const key = schemaKey(declared);
  // as declared now (the caller's array may change later; the key would not)
  const tables: TableInfo[] = declared.map((t) => ({ name: t.name, pks: [...t.pks], columns: [...t.columns] }));
  return {
    get siteId() {
      return feed.siteId;
    },
    schema: () => feed.schema(),
    version: () => feed.version(),
    changed: (signal) => feed.changed(signal),
    async *batches(since, request) {
      const now = await feed.schema();
      if (!sameTables(now, tables) && schemaKey(now) !== key) throw new SchemaChangedError(`our CRR schema changed during the session (${schemaChange(declared, now)}): reconnecting to declare it`);
      yield* feed.batches(since, request);
    },
  };
}
