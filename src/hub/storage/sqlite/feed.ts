/**
 * A hosted database's feed: the repository feed (repo/feed.ts), with reads made cheap for a hub.
 * - Reads go through a small pool of engines on connections of their own, instead of a new
 *   connection and engine per read.
 * - Reads never seal (a seal is a write transaction): only merges write to a hosted database, and a
 *   merge stamps its own version, so there is never anything pending to seal.
 * - Pushes are merged in group commits: the batches pushed (by every session) while the event loop
 *   was busy are merged one after another in one SQLite transaction — each still its own version,
 *   in a savepoint of its own, refused or failed alone — and acknowledged once that commits: one WAL
 *   commit for many pushes, not one each.
 * - Followers are told of changes by the merges themselves, after they commit (nothing else writes
 *   a hosted database: the data folder is the hub's), without sealing or polling data_version.
 * Fan-out to many followers (one read per merge, frames encoded once) is the hub's (hub/fanout.ts);
 * `directVersions` gives it what it needs to leave each pusher's own changes out for it.
 * The pool is dropped when the schema changes (declare), so no read sees an old shape.
 */
import { EventEmitter } from 'node:events';
import { Engine, openDatabase, type Change } from '../../../engine/index.ts';
import { RepoFeed, type FeedRepository } from '../../../repo/feed.ts';
import type { Staging } from '../../../repo/staging.ts';
import { batchByVersion, type Batch } from '../../../sync/batches.ts';
import type { FeedRequest, PushOrigin, Received } from '../../../sync/ports.ts';

/** Idle read engines kept per database (more concurrent reads open more, closed after). */
export const READ_POOL_SIZE = 8;

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
  private idle: Engine[] = [];
  private closed = false;
  /** Reads of the database, for tests and benchmarks. */
  reads = 0;
  /** Group commits, for tests and benchmarks. */
  commits = 0;
  private queue: { batch: Batch; from: PushOrigin; resolve: (r: Received | undefined) => void; reject: (err: unknown) => void }[] = [];
  private readonly told = new EventEmitter();
  private toldVersion = -1;
  private flushing = false;

  constructor(repo: FeedRepository, staging: () => Staging) {
    super(repo, staging);
    this.hosted = repo;
    this.path = repo.dbPath;
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

  /** Tells followers if the version moved (no seal: merges stamp their own versions). */
  override check(): void {
    if (this.closed || this.flushing) return; // told after the commit
    const v = this.hosted.engine.currentDbVersion();
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

  private flush(): void {
    const queue = this.queue;
    this.queue = [];
    if (queue.length === 0) return;
    const db = this.hosted.engine.db;
    const results: ({ ok: Received | undefined } | { err: unknown })[] = [];
    this.flushing = true;
    try {
      db.exec('BEGIN IMMEDIATE');
      // Each merge runs in a savepoint of its own (engine transactions nest): one that throws is undone alone.
      for (const q of queue) {
        try {
          results.push({ ok: this.receive(q.batch, q.from) });
        } catch (err) {
          results.push({ err });
        }
      }
      db.exec('COMMIT');
      this.commits++;
    } catch (err) {
      if (db.isTransaction) db.exec('ROLLBACK');
      for (const q of queue) q.reject(err);
      return;
    } finally {
      this.flushing = false;
    }
    queue.forEach((q, i) => {
      const r = results[i]!;
      if ('ok' in r) q.resolve(r.ok);
      else q.reject(r.err);
    });
    this.check();
  }

  private take(): Engine {
    this.reads++;
    return this.idle.pop() ?? Engine.open(openDatabase(this.path));
  }

  private give(engine: Engine, generation: Engine[]): void {
    if (!this.closed && generation === this.idle && !engine.db.isTransaction && this.idle.length < READ_POOL_SIZE) this.idle.push(engine);
    else engine.db.close();
  }

  override async *batches(since: number, request: FeedRequest): AsyncGenerator<Batch> {
    const generation = this.idle;
    const engine = this.take();
    try {
      yield* readStamped(engine, since, request);
    } finally {
      this.give(engine, generation);
    }
  }

  /** The versions in (`since`, `until`] merged straight from their origin, with that site. */
  directVersions(since: number, until: number): Map<number, Uint8Array> {
    return this.hosted.engine.directVersions(since, until);
  }

  /** The schema changed: reads from now on use new engines. */
  schemaChanged(): void {
    for (const e of this.idle) e.db.close();
    this.idle = [];
  }

  override stop(): void {
    this.flush(); // pushes queued for the next commit land (and are acknowledged) before the store closes
    this.closed = true;
    this.schemaChanged();
    super.stop();
    this.told.emit('changed', this.toldVersion); // wake waiting followers so they can end
  }
}
