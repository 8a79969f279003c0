/** Fetching into the staging area and merging from it. */
import type { Change } from '../engine/change.ts';
import type { Engine } from '../engine/engine.ts';
import { ChangeError } from '../engine/errors.ts';
import { SENTINEL, type TableInfo } from '../engine/schema.ts';
import type { ChangeSource } from './source.ts';
import type { Staging } from './staging.ts';

/**
 * Progress callback: what is being done, how many changes so far and, when known, of how many. A
 * fetch can't know its count of changes before they arrive; it tells instead how many of the peer's
 * versions (transactions) it has received of those it is getting, when the source says.
 */
export type Progress = (phase: 'fetch' | 'merge', done: number, total?: number, versions?: { done: number; total: number }) => void;

export interface FetchResult {
  remote: string;
  /** Changes transferred and staged by this fetch. */
  changes: number;
  /** The remote's db_version we now have everything up to. */
  version: number;
  /** Changes staged in all (this fetch and earlier, unmerged ones). */
  staged: number;
}

export interface MergeOutcome {
  remote: string;
  /** Staged changes merged. */
  received: number;
  /** Of those, how many changed something here. */
  applied: number;
  dbVersion: number;
  /** Cells where a value from the remote met a concurrent one here (see `ddcp conflicts`). */
  conflicts: number;
}

/** Refuses changes for tables or columns we don't have, before anything is staged. */
function schemaGuard(remote: string, ours: TableInfo[]): (c: Change) => void {
  const tables = new Map(ours.map((t) => [t.name, new Set(t.columns)]));
  return (c) => {
    const cols = tables.get(c.table);
    if (!cols) throw new ChangeError(`remote ${remote} sends changes for table ${c.table}, which is not a CRR here (schemas differ); nothing was fetched`);
    if (c.cid !== SENTINEL && !cols.has(c.cid)) {
      throw new ChangeError(`remote ${remote} sends changes for column ${c.table}.${c.cid}, which this database lacks (schemas differ); nothing was fetched`);
    }
  };
}

export async function fetchFrom(engine: Engine, staging: Staging, remote: string, source: ChangeSource, onProgress?: Progress): Promise<FetchResult> {
  const state = staging.state(remote);
  const read = await source.open({
    expectedSite: state?.siteId,
    exceptSite: engine.siteId,
    since: (siteId) => Math.max(state && Buffer.compare(state.siteId, siteId) === 0 ? state.version : 0, engine.trackedVersion(siteId)),
  });
  // Another database now answers at this location: start over rather than mix histories.
  if (state && Buffer.compare(state.siteId, read.siteId) !== 0) staging.forget(remote);
  else staging.dropIncomplete(remote);
  const guard = schemaGuard(remote, engine.crrs());
  const mark = staging.mark(remote);
  let changes = 0;
  try {
    for await (const batch of read.batches) {
      for (const c of batch.changes) guard(c);
      // Each batch is staged in its own transaction and complete ones record their version: an
      // interrupted fetch resumes after the last complete batch.
      changes += staging.stage(remote, read.siteId, batch);
      onProgress?.('fetch', changes, undefined, read.span && { done: Math.max(0, batch.version - read.span.since), total: read.span.version - read.span.since });
    }
  } catch (err) {
    // The error says "nothing was fetched": undo the batches this fetch staged before it.
    if (err instanceof ChangeError) staging.restore(mark);
    throw err;
  }
  return { remote, changes, version: staging.state(remote)?.version ?? 0, staged: staging.count(remote) };
}

export function mergeStaged(engine: Engine, staging: Staging, remote: string, onProgress?: Progress): MergeOutcome {
  // Batches past the last complete one hold part of a version: the next fetch gets it whole.
  staging.dropIncomplete(remote);
  const state = staging.state(remote);
  if (!state) return { remote, received: 0, applied: 0, dbVersion: engine.dbVersion(), conflicts: 0 };
  const total = state.staged;
  let done = 0;
  const counted = function* (changes: Iterable<Change>): Generator<Change> {
    for (const c of changes) {
      yield c;
      if (++done % 10_000 === 0) onProgress?.('merge', done, total);
    }
  };
  // The remote's name labels the merge in the history (`ddcp log`) and in recorded conflicts.
  const result = engine.applyChanges(counted(staging.changes(remote)), { source: remote, trackPeer: { siteId: state.siteId, version: state.version } });
  // Committed: the staged copy can go. If we die before this, the next merge re-applies the same
  // changes, which merging makes a no-op.
  staging.clear(remote);
  onProgress?.('merge', done, total);
  return { remote, received: result.received, applied: result.applied, dbVersion: result.dbVersion, conflicts: result.conflicts };
}
