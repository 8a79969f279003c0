/**
 * A hosted database's feed: the repository feed (repo/feed.ts), with reads made cheap for a hub.
 * - Reads go through a small pool of engines on connections of their own, instead of a new
 *   connection and engine per read.
 * - Reads never seal (a seal is a write transaction): only merges write to a hosted database, and a
 *   merge stamps its own version, so there is never anything pending to seal.
 * Fan-out to many followers (one read per merge, frames encoded once) is the hub's (hub/fanout.ts);
 * `directVersions` gives it what it needs to leave each pusher's own changes out for it.
 * The pool is dropped when the schema changes (declare), so no read sees an old shape.
 */
import { Engine, openDatabase, type Change } from '../../../engine/index.ts';
import { RepoFeed, type FeedRepository } from '../../../repo/feed.ts';
import type { Staging } from '../../../repo/staging.ts';
import { batchByVersion, type Batch } from '../../../sync/batches.ts';
import type { FeedRequest } from '../../../sync/ports.ts';

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

  constructor(repo: FeedRepository, staging: () => Staging) {
    super(repo, staging);
    this.hosted = repo;
    this.path = repo.dbPath;
  }

  override version(): number {
    return this.hosted.engine.currentDbVersion();
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
    this.closed = true;
    this.schemaChanged();
    super.stop();
  }
}
