/**
 * A hosted database's feed: the repository feed (repo/feed.ts), with reads made cheap for a hub.
 * - Reads go through a small pool of engines on connections of their own, instead of a new
 *   connection and engine per read.
 * - Reads never seal (a seal is a write transaction): only merges write to a hosted database, and a
 *   merge stamps its own version, so there is never anything pending to seal.
 * - Pushes are merged in group commits: the batches pushed (by every session) while the event loop
 *   was busy are merged in one SQLite transaction — each session's waiting batches as one, at its
 *   own version, refused or failed alone — and acknowledged once that commits: one WAL commit for
 *   many pushes, not one each. The merges run straight in the transaction, without a savepoint each
 *   (whose sub-journal copied every page again per merge); if one throws, the group is rolled back
 *   and merged again with a savepoint per session, so the failure stays that session's. None of a
 *   session's pushes is merged after one of its pushes failed (they come after it).
 * - Followers are told of changes by the merges themselves, after they commit (nothing else writes
 *   a hosted database: the data folder is the hub's), without sealing or polling data_version.
 * Fan-out to many followers (one read per merge, frames encoded once) is the hub's (hub/fanout.ts);
 * `directVersions` gives it what it needs to leave each pusher's own changes out for it.
 * The pool is dropped when the schema changes (declare), so no read sees an old shape, and its
 * readers are closed once they went unused for a while, the last one too (a quiet database a follower
 * holds open kept every reader a burst of reads opened, up to 8 at ~300 KiB and 2 file handles each).
 * Readers keep a small page cache (READER_CACHE_KIB).
 */
import { EventEmitter } from 'node:events';
import { Engine, openDatabase, StoredReport, type Change } from '../../../engine/index.ts';
import { RepoFeed, type FeedRepository } from '../../../repo/feed.ts';
import type { Staging } from '../../../repo/staging.ts';
import { batchByVersion, type Batch } from '../../../sync/batches.ts';
import type { FeedRequest, PushOrigin, Received } from '../../../sync/ports.ts';
import { refusalText } from '../../../sync/gate.ts';

/** A pushed batch waiting for the next group commit. */
interface Queued {
  batch: Batch;
  from: PushOrigin;
  resolve: (r: Received | undefined) => void;
  reject: (err: unknown) => void;
}

/** A hosted database's staging area, opened on demand (see HostedFeed.stagingSlot). */
interface StagingSlot {
  open: () => Staging;
  staging: Staging | undefined;
  empty: boolean;
}

/** A group commit's answers (per queued push, in queue order) and the version after it. */
interface Group {
  results: ({ ok: Received | undefined } | { err: unknown })[];
  after: number;
}

/** A merge of a group merged straight failed: the group is undone and merged again, origin by origin (HostedFeed.commitGroup). */
class MergeFailed extends Error {
  constructor(cause: unknown) {
    super('a merge of the group failed', { cause });
  }
}

/** The most pushes of one origin merged as one (bounds one merge's size). */
const MAX_RUN = 256;

const siteKey = (site: Uint8Array): string => Buffer.from(site.buffer, site.byteOffset, site.byteLength).toString('hex');

/** Idle read engines kept per database (more concurrent reads open more, closed after). */
export const READ_POOL_SIZE = 8;

/**
 * How long (ms) a pooled reader may go unused before it is closed: a quiet database keeps only its
 * writer (a reader costs ~300 KiB; the next read opens one again, ~0.7 ms of CPU).
 */
export const READ_TRIM_MS = 5_000;

/**
 * A pooled reader's page cache, KiB (`PRAGMA cache_size = -N`; SQLite's default is 2,000): in WAL
 * mode a reader's cache is dropped whenever another connection committed since its last read, so on
 * a database being written it keeps nothing from one read to the next, and a read's own working set
 * (the interior pages of the few B-trees it walks, the leaf under each) fits within this — about the
 * 20 pages SQLite allocates for a cache at once anyway. Up to 8 readers per open database each kept
 * up to ~2 MiB of the pages a catch-up read went through; reads cost the same CPU with this, full
 * reads of a 1,100-page database included (bench/hub-reader-cache.ts).
 */
export const READER_CACHE_KIB = 128;

/** Options of a hosted feed. */
export interface HostedFeedOptions {
  /** Pooled readers unused this long (ms) are closed; default {@link READ_TRIM_MS}. */
  readerTrimMs?: number;
}

/** Changes after `since` as bounded batches, ending with an empty complete batch at the version read at; never seals. */
function* readStamped(engine: Engine, since: number, request: FeedRequest): Generator<Batch> {
  const changes = engine.changesSince(since, { ...request, unsealed: true });
  // The version in the read's snapshot: the first change opens the read transaction; read it inside.
  const first = changes.next();
  const at = engine.currentDbVersion();
  let last = since;
  function* all(): Generator<Change> {
    if (first.done) return;
    yield first.value;
    yield* changes;
  }
  try {
    for (const batch of batchByVersion(all(), undefined, since)) {
      last = batch.version;
      yield batch;
    }
  } finally {
    changes.return(undefined);
  }
  yield { changes: [] as Change[], version: Math.max(at, last), complete: true };
}

export class HostedFeed extends RepoFeed {
  private readonly path: string;
  private readonly hosted: FeedRepository;
  /** Idle readers, a stack: the last given back is taken first, so the bottom ones are the coldest. */
  private idle: Engine[] = [];
  private closed = false;
  private readonly trimMs: number;
  /** The sweep closing unused readers, armed only while some are idle. */
  private trimTimer: NodeJS.Timeout | undefined;
  /**
   * The fewest idle readers since the last sweep: the bottom `lowWater` of the stack were not taken
   * since, so they are the ones a sweep may close (one compare per read, no timer per read).
   */
  private lowWater = 0;
  /** Pooled readers closed by the sweep, for tests and benchmarks. */
  trimmed = 0;
  /** Reads of the database, for tests and benchmarks. */
  reads = 0;
  /** Group commits, for tests and benchmarks. */
  commits = 0;
  private queue: Queued[] = [];
  /** Sites with nothing staged (their session dropped what was, and no part came since). */
  private readonly clean = new Set<string>();
  /** The newest version of each site merged by this process (its tracked version is at least that). */
  private readonly merged = new Map<string, number>();
  /** Origins (sessions) one of whose pushes failed: none of their later ones is merged. */
  private readonly failed = new WeakMap<PushOrigin, unknown>();
  private readonly told = new EventEmitter();
  private toldVersion = -1;
  private flushing = false;
  /** Reads on pooled engines under way (a store closes an idle database only when none is). */
  private reading = 0;
  /**
   * What the group commits since the fan-out last took it stored (versions `from` to `to`, nothing
   * else written between), for the fan-out's unfiltered group instead of reading it back.
   */
  private stored: { from: number; to: number; report: StoredReport; direct: Map<number, Uint8Array> } | undefined;
  /**
   * The versions the fan-out was last handed (`from`, `to`], each merged straight from its origin
   * (every merge a report covers is), with that site: {@link directVersions} answers from it for
   * those versions instead of reading the database (once per wake).
   */
  private handedDirect: { from: number; to: number; direct: Map<number, Uint8Array> } | undefined;
  /** This flush's merges all went through the report (none staged, none failed). */
  private reported = true;
  /** The db_version after this flush's last merge through the report (-1: none yet). */
  private lastMerged = -1;
  /** Changes handed to the fan-out from the merges' reports, for tests and benchmarks. */
  handed = 0;
  /**
   * The staging area (a push in parts waits there), open only while something may be staged: each
   * session's start drops what its site left, and then, if nothing is left at all, the connection is
   * closed (a connection costs ~200 KiB — SQLite's lookaside and first page-cache block — and
   * pushes in parts are rare). `empty`: known to hold nothing since, so a session's start opens none.
   */
  private readonly stagingSlot: StagingSlot;

  /** The staging area is open now, for tests. */
  get stagingOpen(): boolean {
    return this.stagingSlot.staging !== undefined;
  }

  /** Rows the merges' report holds for the fan-out to take (0: none kept), for tests. */
  get storedRows(): number {
    return this.stored?.report.size ?? 0;
  }

  /** `openStaging` opens the database's staging area (a new connection each call: this feed closes it). */
  constructor(repo: FeedRepository, openStaging: () => Staging, options: HostedFeedOptions = {}) {
    const slot: StagingSlot = { open: openStaging, staging: undefined, empty: false };
    super(repo, () => {
      slot.empty = false;
      return (slot.staging ??= slot.open());
    });
    this.stagingSlot = slot;
    this.hosted = repo;
    this.path = repo.dbPath;
    this.trimMs = options.readerTrimMs ?? READ_TRIM_MS;
  }

  override version(): number {
    return this.hosted.engine.currentDbVersion();
  }

  /** Resolves after the next merge that changed something (or when stopped, or `signal` aborts). */
  override changed(signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal.aborted || this.closed) return resolve();
      const done = (): void => {
        this.told.off('changed', done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      this.told.on('changed', done);
      signal.addEventListener('abort', done);
    });
  }

  /**
   * Calls `listener` after each merge that changed something (as {@link changed} resolves then, and
   * when stopped) until the returned function is called: one listener for a fan-out's whole watch.
   */
  onChanged(listener: () => void): () => void {
    this.told.on('changed', listener);
    return () => void this.told.off('changed', listener);
  }

  /** Tells followers if the version moved (no seal: merges stamp their own versions); `known`: the version now, when the caller just read it. */
  override check(known?: number): void {
    if (this.closed || this.flushing) return; // told after the commit
    const v = known ?? this.hosted.engine.currentDbVersion();
    if (v === this.toldVersion) return;
    this.toldVersion = v;
    this.told.emit('changed', v);
  }

  /** Queues a pushed batch for the next group commit; resolves once it committed (or was refused). */
  receiveGrouped(batch: Batch, from: PushOrigin): Promise<Received | undefined> {
    return new Promise((resolve, reject) => {
      this.queue.push({ batch, from, resolve, reject });
      if (this.queue.length === 1) setImmediate(() => this.flush());
    });
  }

  /** A pusher's session starts: what it staged before is dropped, so nothing waits for it now. */
  override dropIncomplete(from: PushOrigin): void {
    const slot = this.stagingSlot;
    if (!slot.empty) {
      super.dropIncomplete(from);
      if (slot.staging?.empty()) {
        slot.staging.close();
        slot.staging = undefined;
        slot.empty = true;
      }
    }
    this.clean.add(siteKey(from.siteId));
  }

  /** Recorded by the merge already when this process merged up to `version` (no statement then). */
  override caughtUp(version: number, from: PushOrigin): void {
    if (version <= (this.merged.get(siteKey(from.siteId)) ?? -1)) return;
    super.caughtUp(version, from);
  }

  private flush(): void {
    const queue = this.queue;
    this.queue = [];
    if (queue.length === 0) return;
    // Each origin's pushes in order; the origins one after another (their order is nobody's concern).
    const byOrigin = new Map<PushOrigin, number[]>();
    queue.forEach((q, i) => {
      const list = byOrigin.get(q.from);
      if (list) list.push(i);
      else byOrigin.set(q.from, [i]);
    });
    this.flushing = true;
    const prior = this.stored;
    this.stored = undefined; // until committed
    let group: Group;
    try {
      // Every origin's merge straight in the group's transaction when each goes through the gate alone
      // (nothing staged); if one of them throws, the whole group is undone and merged again with a
      // savepoint per origin, so that one fails alone (see commitGroup).
      group = (this.straightEligible(queue, byOrigin) && this.commitGroup(queue, byOrigin, prior, true)) || this.commitGroup(queue, byOrigin, prior, false)!;
    } catch (err) {
      this.stored = undefined;
      for (const q of queue) {
        this.failed.set(q.from, err); // nothing of theirs landed: none of their later pushes may
        q.reject(err);
      }
      return;
    } finally {
      this.flushing = false;
    }
    const { results, after } = group;
    queue.forEach((q, i) => {
      const r = results[i]!;
      if ('ok' in r) q.resolve(r.ok);
      else q.reject(r.err);
    });
    this.check(after);
  }

  /**
   * Whether every queued push can be merged straight through the gate (complete, its origin with
   * nothing staged) or is answered without merging (its origin failed before): then no merge of the
   * group writes the staging area, which a rolled-back group would not undo.
   */
  private straightEligible(queue: readonly Queued[], byOrigin: ReadonlyMap<PushOrigin, number[]>): boolean {
    for (const [from, list] of byOrigin) {
      if (this.failed.has(from)) continue;
      if (!this.clean.has(siteKey(from.siteId))) return false;
      for (const i of list) if (!queue[i]!.batch.complete) return false;
    }
    return true;
  }

  /**
   * Merges the queued pushes in one transaction and commits it; the answers, and the version after.
   * `straight`: each origin's merge runs in the transaction itself, without a savepoint (SQLite copies
   * every existing page a savepoint writes to its sub-journal — for a group of several origins each
   * page again per origin, past 64 KiB into a temporary file); if a merge throws, the transaction is
   * rolled back and undefined returned (nothing of the group landed, nothing here changed but the
   * report, now broken): the caller merges the group again without `straight`, where each origin's
   * merge has a savepoint of its own, refused or failed alone. Throws (nothing landed) if the
   * transaction itself fails.
   */
  private commitGroup(queue: readonly Queued[], byOrigin: ReadonlyMap<PushOrigin, number[]>, prior: HostedFeed['stored'], straight: boolean): Group | undefined {
    const results: Group['results'] = new Array(queue.length);
    // The newest version merged per site, noted once the commit landed (a rolled-back group merged none).
    const merged = new Map<string, number>();
    let report: StoredReport | undefined;
    let after = -1;
    const engine = this.hosted.engine;
    try {
      // One write transaction, the engine refreshing once for all the group's merges (writeGroup).
      engine.writeGroup(() => {
        // The version before this commit (exact: nobody else writes while it holds the lock); the
        // report continues the last one if nothing came between.
        const before = engine.currentDbVersion();
        // Kept only while something here waits for the changes (the fan-out, which takes the report at
        // its wake), as PostgreSQL's store does: a database nobody follows kept every row its merges
        // wrote (and the pushed batches they came in) until the report's cap, 20,000 rows per database.
        const continued = prior && !prior.report.broken && prior.to === before ? prior : undefined;
        report = this.told.listenerCount('changed') === 0 ? undefined : (continued?.report ?? new StoredReport());
        const direct = continued?.direct ?? new Map<number, Uint8Array>();
        this.reported = true;
        this.lastMerged = -1;
        let stamped = 0;
        for (const [from, list] of byOrigin) stamped += this.mergeOrigin(queue, list, from, results, report, direct, merged, straight);
        // Each merge that applied something stamped one version; any other (a seal of local writes) makes the report partial.
        // The version the last merge left (each through the report, nothing else between: exact), else read
        // (before the commit: nothing else can write until it).
        after = this.reported && this.lastMerged >= 0 ? this.lastMerged : engine.currentDbVersion();
        if (report && this.reported && !report.broken && after - before === stamped) this.stored = { from: report === continued?.report ? continued.from : before, to: after, report, direct };
      });
      this.commits++;
    } catch (err) {
      this.stored = undefined; // set in the group, which did not commit
      if (!(err instanceof MergeFailed)) throw err;
      // What it noted of the undone merges (and the prior commits' rows with it) is not given out.
      if (report) report.broken = true;
      return undefined;
    }
    for (const [key, version] of merged) this.merged.set(key, Math.max(this.merged.get(key) ?? -1, version));
    return { results, after };
  }

  /**
   * One origin's queued pushes (`list`: indices into `queue`, in order), inside the group's
   * transaction. A run of complete ones with nothing staged for the site is merged as one (one
   * version, one pass through the gate and the engine); a part of a larger transaction is staged as
   * the repository feed does. After one fails (its savepoint undone), none of the origin's later
   * pushes is merged: they come after it. `straight` (see {@link commitGroup}): merged without a
   * savepoint, and a failure throws {@link MergeFailed} instead.
   */
  private mergeOrigin(
    queue: readonly Queued[],
    list: readonly number[],
    from: PushOrigin,
    results: Group['results'],
    report: StoredReport | undefined,
    direct: Map<number, Uint8Array>,
    merged: Map<string, number>,
    straight: boolean,
  ): number {
    const key = siteKey(from.siteId);
    let stamped = 0;
    for (let k = 0; k < list.length; ) {
      const failed = this.failed.get(from);
      if (failed !== undefined) {
        for (; k < list.length; k++) results[list[k]!] = { err: failed };
        return stamped;
      }
      const first = queue[list[k]!]!;
      let end = k + 1;
      if (first.batch.complete && this.clean.has(key)) {
        while (end < list.length && end - k < MAX_RUN && queue[list[end]!]!.batch.complete) end++;
      }
      try {
        if (end - k > 1 || (first.batch.complete && this.clean.has(key))) {
          const run = list.slice(k, end).map((i) => queue[i]!.batch);
          const r = this.mergeRun(run, from, report, direct, straight);
          if (r.applied > 0) stamped++;
          run.forEach((b, j) => (results[list[k + j]!] = { ok: j === run.length - 1 ? r : { version: b.version, applied: 0, refused: [] } }));
        } else {
          if (!first.batch.complete) this.clean.delete(key);
          this.reported = false; // staged or merged with what was: not through the report
          results[list[k]!] = { ok: this.receive(first.batch, from) };
          if (first.batch.complete) this.clean.add(key); // merged with what was staged, which is forgotten
        }
        if (first.batch.complete) merged.set(key, Math.max(merged.get(key) ?? -1, queue[list[end - 1]!]!.batch.version));
      } catch (err) {
        if (straight) throw new MergeFailed(err);
        this.failed.set(from, err);
        this.reported = false;
        for (let j = k; j < end; j++) results[list[j]!] = { err };
      }
      k = end;
    }
    return stamped;
  }

  /**
   * Complete pushes of one origin, with nothing staged for it, merged straight through the gate as
   * one (as the repository feed merges one): the answer of the last holds what applied and every
   * refusal; the pusher's tracked version is the last one's.
   */
  private mergeRun(run: readonly Batch[], from: PushOrigin, report: StoredReport | undefined, direct: Map<number, Uint8Array>, straight: boolean): Received {
    const last = run[run.length - 1]!;
    const r = from.gate.admit(this.hosted.engine, run.length === 1 ? last.changes : run.flatMap((b) => b.changes), {
      source: from.source,
      peer: from.peer,
      trackPeer: { siteId: from.siteId, version: last.version },
      // Straight from the pusher (its site id was proved and bound in the handshake): it holds its own changes.
      direct: from.siteId,
      context: `staged change from ${from.source}`,
      report,
      // Straight: the group's transaction is rolled back whole if this throws (see commitGroup).
      inCallerTransaction: straight,
    });
    // The version it stamped, straight from the pusher (the engine notes it so: directVersions).
    if (r.applied > 0) direct.set(r.dbVersion, from.siteId);
    this.lastMerged = r.dbVersion;
    return { version: last.version, applied: r.applied, refused: r.refused.map((x) => ({ version: Number(x.dbVersion), message: refusalText(x) })) };
  }

  /**
   * Work in flight that closing the database would cut short: pushes queued or being committed, a
   * follower waiting for the next change, a read under way (see storage/leases.ts).
   */
  get busy(): boolean {
    return this.queue.length > 0 || this.flushing || this.reading > 0 || this.told.listenerCount('changed') > 0;
  }

  private take(): Engine {
    this.reads++;
    const engine = this.idle.pop();
    if (this.idle.length < this.lowWater) this.lowWater = this.idle.length;
    return engine ?? this.openReader();
  }

  /** A new pooled reader: its own connection, with a small page cache (see {@link READER_CACHE_KIB}). */
  private openReader(): Engine {
    const db = openDatabase(this.path);
    try {
      db.exec(`PRAGMA cache_size = -${READER_CACHE_KIB}`);
      // Merge-only as the writer (store.ts): a reader opened without it would put the triggers back.
      return Engine.open(db, { mergeOnly: true });
    } catch (err) {
      db.close();
      throw err;
    }
  }

  private give(engine: Engine, generation: Engine[]): void {
    if (!this.closed && generation === this.idle && !engine.db.isTransaction && this.idle.length < READ_POOL_SIZE) {
      this.idle.push(engine);
      if (this.trimTimer === undefined) this.armTrim();
    } else engine.db.close();
  }

  /** Arms the sweep: idle readers not taken from now until it fires are closed then. */
  private armTrim(): void {
    this.lowWater = this.idle.length;
    this.trimTimer = setTimeout(() => this.trim(), this.trimMs);
    // A quiet pool must not keep the process alive.
    this.trimTimer.unref();
  }

  /**
   * Closes the readers that stayed idle since the sweep was armed (the bottom of the stack); readers
   * in use are not in the pool, so never closed. Rearmed while any stay idle.
   */
  private trim(): void {
    this.trimTimer = undefined;
    if (this.closed) return;
    const n = Math.min(this.lowWater, this.idle.length);
    if (n > 0) {
      for (const e of this.idle.splice(0, n)) e.db.close();
      this.trimmed += n;
    }
    if (this.idle.length > 0) this.armTrim();
  }

  private stopTrim(): void {
    if (this.trimTimer !== undefined) clearTimeout(this.trimTimer);
    this.trimTimer = undefined;
  }

  override async *batches(since: number, request: FeedRequest): AsyncGenerator<Batch> {
    const generation = this.idle;
    const engine = this.take();
    this.reading++;
    try {
      yield* readStamped(engine, since, request);
    } finally {
      this.reading--;
      this.give(engine, generation);
    }
  }

  /**
   * The batches after `since`, read at once on the writer's connection (never inside a group
   * commit: both are synchronous), for the fan-out's groups: no pooled connection, whose engine
   * reloads its caches after every commit. The whole read is held in memory, so only for reads of
   * what is new (a group's, since its last).
   */
  readNow(since: number, request: FeedRequest): Batch[] {
    if (this.closed) return [];
    this.reads++;
    return [...readStamped(this.hosted.engine, since, request)];
  }

  /**
   * The batches after `since` as {@link readNow} would read them without a filter or a site left
   * out — from what the group commits since the last call stored (engine/stored.ts), not read back;
   * undefined (read instead) unless those commits wrote everything after `since` and the report is
   * exact. Each call takes what was reported: one reader (the fan-out's unfiltered group) uses it.
   * The version is not read again to see that nothing came after `to`: only group commits write the
   * database here (each continues the report or drops it) and a schema change drops it
   * ({@link schemaChanged}) — a read per wake that cost as much as the group commit's refresh. Had
   * another program written the file meanwhile (not the hub's to allow), its version would follow at
   * the next wake instead of this one.
   */
  takeStored(since: number): Batch[] | undefined {
    const s = this.stored;
    this.stored = undefined;
    if (!s || this.closed || s.from !== since) return undefined;
    const changes = this.hosted.engine.storedChanges(s.report, since);
    if (!changes) return undefined;
    this.handed += changes.length;
    this.handedDirect = { from: s.from, to: s.to, direct: s.direct };
    return [...batchByVersion(changes, undefined, since), { changes: [], version: s.to, complete: true }];
  }

  /**
   * The versions in (`since`, `until`] merged straight from their origin, with that site: from what
   * the fan-out was last handed when those versions are all in it (every version there was stamped
   * by a merge straight from its pusher), else read.
   */
  directVersions(since: number, until: number): Map<number, Uint8Array> {
    const h = this.handedDirect;
    if (h && since >= h.from && until <= h.to) {
      if (since === h.from && until === h.to) return new Map(h.direct);
      const out = new Map<number, Uint8Array>();
      for (const [v, site] of h.direct) if (v > since && v <= until) out.set(v, site);
      return out;
    }
    return this.hosted.engine.directVersions(since, until);
  }

  /** The schema changed: reads from now on use new engines; what the merges stored is not all there is after it (a backfill may have stamped a version). */
  schemaChanged(): void {
    this.stored = undefined;
    this.stopTrim();
    for (const e of this.idle) e.db.close();
    this.idle = [];
  }

  override stop(): void {
    this.flush(); // pushes queued for the next commit land (and are acknowledged) before the store closes
    this.closed = true;
    this.schemaChanged();
    this.stagingSlot.staging?.close();
    this.stagingSlot.staging = undefined;
    super.stop();
    this.told.emit('changed', this.toldVersion); // wake waiting followers so they can end
  }
}
