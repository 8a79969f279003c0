/** Fetching into the staging area and merging from it. */
import { bytesEqual, type Change, type Engine, type Refusal } from '../engine/index.ts';
import type { Batch } from '../sync/batches.ts';
import type { PullTarget } from '../sync/client.ts';
import { misfitObject } from '../sync/compat.ts';
import { growingFit, SchemaFitError, type Gate, type Misfit } from '../sync/gate.ts';
import type { Welcome } from '../sync/messages.ts';
import { startAfter } from '../sync/server.ts';
import type { Staging, StagingMark } from './staging.ts';

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
  /** Source transactions the gate refused whole (a pusher's write policy; absent if none); nothing of them landed. */
  refused?: Refusal[];
}

/**
 * The pull side of a session into the staging area (sync/client.ts's PullTarget), shared by fetch and
 * follow: it asks for the remote's changes after what we hold of it, starts over when another
 * database answers at the location, drops what an interrupted fetch left incomplete, checks each
 * change fits our schema before anything is staged, and stages every batch in its own transaction —
 * complete ones record their version, so a cut session resumes after the last complete batch. With
 * `mergeEach` (a follower) each complete batch is merged at once.
 */
export interface TargetOptions {
  onProgress?: Progress;
  /** Merge each complete batch at once (a follower). */
  mergeEach?: boolean;
  onMerged?: (o: MergeOutcome) => void;
  onWelcome?: (w: Welcome) => void;
  onCaughtUp?: (version: number) => void;
}

export class StagingTarget implements PullTarget {
  /** A batch is copied into the staging database: nothing keeps a view of its bytes. */
  readonly copiesBatches = true;
  /** Changes staged by this session. */
  changes = 0;
  private siteId: Uint8Array | undefined;
  /** The server's address, as its welcome proved it (bound when a merge records what we hold of it). */
  private owner: string | undefined;
  private span: { since: number; version: number } | undefined;
  private readonly fits: (c: Pick<Change, 'table' | 'cid'>) => Misfit | undefined;
  private readonly mark: StagingMark;
  private readonly engine: Engine;
  private readonly gate: Pick<Gate, 'admit'>;
  private readonly staging: Staging;
  private readonly remote: string;
  private readonly options: TargetOptions;

  constructor(engine: Engine, gate: Pick<Gate, 'admit'>, staging: Staging, remote: string, options: TargetOptions = {}) {
    this.engine = engine;
    this.gate = gate;
    this.staging = staging;
    this.remote = remote;
    this.options = options;
    this.fits = growingFit(() => engine.crrs());
    this.mark = staging.mark(remote);
  }

  from(): { since: number; expect?: Uint8Array; held: { siteId: Uint8Array; version: number }[] } {
    // The peer's site id is known only after its welcome: say what we hold of the one we expect, and
    // of every database we track (the server picks its own).
    const state = this.staging.state(this.remote);
    const held = this.engine.trackedPeers();
    return state ? { since: Math.max(state.version, this.engine.trackedVersion(state.siteId)), expect: state.siteId, held } : { since: 0, held };
  }

  /** The server's version this session starts after (as the server works it out, see sync/server.ts). */
  private sinceFor(siteId: Uint8Array): number {
    return startAfter(this.from(), siteId);
  }

  welcome(w: Welcome): void {
    const state = this.staging.state(this.remote);
    const since = this.sinceFor(w.siteId);
    // Another database now answers at this location: start over rather than mix histories.
    if (state && !bytesEqual(state.siteId, w.siteId)) this.staging.forget(this.remote);
    else this.staging.dropIncomplete(this.remote);
    this.siteId = w.siteId;
    this.owner = w.proof.address;
    this.span = { since, version: w.version };
    this.options.onWelcome?.(w);
  }

  batch(batch: Batch): void {
    // A received batch lists its (table, column) pairs: checking those is checking every change.
    for (const c of batch.scan ? batch.scan.columns : batch.changes) {
      const misfit = this.fits(c);
      if (misfit) {
        // The error says "nothing was fetched": undo the batches this session staged before it.
        if (!this.options.mergeEach) this.staging.restore(this.mark);
        throw new SchemaFitError(`remote ${this.remote} sends changes for ${misfitObject(misfit)} (schemas differ); nothing was fetched`, misfit);
      }
    }
    this.changes += this.staging.stage(this.remote, this.siteId!, batch, this.owner);
    const span = this.span!;
    this.options.onProgress?.('fetch', this.changes, undefined, { done: Math.max(0, batch.version - span.since), total: span.version - span.since });
    if (batch.complete && this.options.mergeEach) this.options.onMerged?.(this.mergeNow());
  }

  caughtUp(version: number): void {
    this.staging.stage(this.remote, this.siteId!, { changes: [], version, complete: true }, this.owner);
    if (this.options.mergeEach) {
      if (this.staging.count(this.remote) > 0) this.options.onMerged?.(this.mergeNow());
      else if (version > this.engine.trackedVersion(this.siteId!)) {
        this.engine.bindSite(this.siteId!, this.owner!);
        this.engine.trackPeer({ siteId: this.siteId!, version });
      }
    }
    this.options.onCaughtUp?.(version);
  }

  private mergeNow(): MergeOutcome {
    return mergeStaged(this.engine, this.gate, this.staging, this.remote, { owner: this.owner! });
  }

  /** What this fetch came to. */
  result(): FetchResult {
    return { remote: this.remote, changes: this.changes, version: this.staging.state(this.remote)?.version ?? 0, staged: this.staging.count(this.remote) };
  }
}

export interface MergeStagedOptions {
  onProgress?: Progress;
  /** Labels the merge in the history (default: the remote's name). */
  source?: string;
  /** The pusher's address: its write policy applies. Omitted for what we pulled (ours to take). */
  peer?: string;
  /**
   * The site the changes came straight from, its claim proved in the handshake: a pusher's. (What
   * we pulled came straight from the staged site, whose welcome proved it.)
   */
  direct?: Uint8Array;
  /**
   * The staged site's owner (the address that proved it in the session): bound in the merge's
   * transaction, with the tracked version. Omitted when unknown (an app's own transport).
   */
  owner?: string;
}

/**
 * Merges a remote's staged changes in one transaction, through the gate ({@link Gate.admit}): each
 * change must fit our schema (else nothing is merged), and for a pusher's `peer` a source
 * transaction its write policy forbids is refused whole, listed in the outcome.
 */
export function mergeStaged(engine: Engine, gate: Pick<Gate, 'admit'>, staging: Staging, remote: string, options: MergeStagedOptions = {}): MergeOutcome {
  const { onProgress, source = remote, peer, direct, owner } = options;
  // Batches past the last complete one hold part of a version: the next fetch gets it whole.
  staging.dropIncomplete(remote);
  const state = staging.state(remote);
  if (!state) return { remote, received: 0, applied: 0, dbVersion: engine.dbVersion(), conflicts: 0 };
  const total = state.staged;
  // The remote's name labels the merge in the history (`ddcp log`) and in recorded conflicts.
  const result = gate.admit(engine, staging.changes(remote), {
    source,
    trackPeer: { siteId: state.siteId, version: state.version },
    direct: direct ?? state.siteId,
    ...(owner !== undefined ? { bind: { siteId: state.siteId, owner } } : {}),
    context: `staged change from ${source}`,
    ...(peer !== undefined ? { peer } : {}),
    ...(onProgress ? { onProgress: (done: number) => onProgress('merge', done, total) } : {}),
  });
  // Committed: the staged copy can go. If we die before this, the next merge re-applies the same
  // changes, which merging makes a no-op.
  staging.clear(remote);
  onProgress?.('merge', result.received, total);
  return { remote, received: result.received, applied: result.applied, dbVersion: result.dbVersion, conflicts: result.conflicts, ...(result.refused.length > 0 ? { refused: result.refused } : {}) };
}
