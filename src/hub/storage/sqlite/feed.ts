/**
 * A hosted database's feed: the repository feed (repo/feed.ts), reading through a small pool of
 * engines on connections of their own instead of opening a connection and an engine per read. A
 * hub wakes every follower of a database on each merge, so with many followers the per-read set-up
 * (a connection, the engine's bookkeeping check in a write transaction) is most of a fan-out's cost.
 * The pool is emptied when the schema changes (declare), so no read sees an old table shape.
 */
import { Engine, openDatabase } from '../../../engine/index.ts';
import { readBatches, RepoFeed, type FeedRepository } from '../../../repo/feed.ts';
import type { Staging } from '../../../repo/staging.ts';
import type { Batch } from '../../../sync/batches.ts';
import type { FeedRequest } from '../../../sync/ports.ts';

/** Idle read engines kept per database (more concurrent reads open more, closed after). */
export const READ_POOL_SIZE = 8;

export class HostedFeed extends RepoFeed {
  private readonly path: string;
  private idle: Engine[] = [];
  private closed = false;

  constructor(repo: FeedRepository, staging: () => Staging) {
    super(repo, staging);
    this.path = repo.dbPath;
  }

  override async *batches(since: number, request: FeedRequest): AsyncGenerator<Batch> {
    const engine = this.idle.pop() ?? Engine.open(openDatabase(this.path));
    const generation = this.idle;
    try {
      yield* readBatches(engine, since, request);
    } finally {
      // back to the pool unless the schema changed meanwhile (a new pool), or the pool is full
      if (!this.closed && generation === this.idle && !engine.db.isTransaction && this.idle.length < READ_POOL_SIZE) this.idle.push(engine);
      else engine.db.close();
    }
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
