/**
 * A hosted database's feed: the repository feed (repo/feed.ts), made cheap to fan out. A hub wakes
 * every follower of a database on each merge; read one by one, N followers cost N reads per merge.
 * So:
 * - followers without a read filter are served from a shared tail of the newest changes, read once
 *   per merge (and filtered per follower by origin, so none is sent back its own changes it pushed itself);
 * - other reads go through a small pool of engines on connections of their own, instead of a new
 *   connection and engine per read.
 * The pool and the tail are dropped when the schema changes (declare), so no read sees an old shape.
 */
import { Engine, openDatabase } from '../../../engine/index.ts';
import { readBatches, RepoFeed, type FeedRepository } from '../../../repo/feed.ts';
import type { Staging } from '../../../repo/staging.ts';
import type { Batch } from '../../../sync/batches.ts';
import type { FeedRequest, PushOrigin, Received } from '../../../sync/ports.ts';

/** Idle read engines kept per database (more concurrent reads open more, closed after). */
export const READ_POOL_SIZE = 8;
/** Changes the shared tail keeps (older ones are read from the database). */
export const TAIL_CHANGES = 20_000;

const NOBODY = new Uint8Array(16);

interface Tail {
  /** Serves followers at versions from here... */
  since: number;
  /** ...to here (the database's version when last read). */
  until: number;
  batches: Batch[];
  changes: number;
  /** The tail's versions merged straight from their origin, with that site (engine's directVersions). */
  direct: Map<number, Uint8Array>;
}

const sameSite = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && Buffer.compare(a, b) === 0;

export class HostedFeed extends RepoFeed {
  private readonly path: string;
  private readonly hosted: FeedRepository;
  private idle: Engine[] = [];
  private closed = false;
  private tail: Tail | undefined;
  private stale = true;
  /** Reads of the database itself (not served from the tail), for tests and metrics. */
  reads = 0;

  constructor(repo: FeedRepository, staging: () => Staging) {
    super(repo, staging);
    this.hosted = repo;
    this.path = repo.dbPath;
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
    if (request.read === undefined && !this.closed) {
      const tail = this.refresh();
      if (since >= tail.since && since <= tail.until) return yield* this.fromTail(tail, since, request.exceptSite);
    }
    const generation = this.idle;
    const engine = this.take();
    try {
      yield* readBatches(engine, since, request);
    } finally {
      this.give(engine, generation);
    }
  }

  /** The tail, brought up to date if something was merged since (synchronously: no follower sees half of it). */
  private refresh(): Tail {
    if (!this.tail) {
      const v = this.hosted.engine.currentDbVersion();
      this.tail = { since: v, until: v, batches: [], changes: 0, direct: new Map() };
      this.stale = true;
    }
    if (!this.stale) return this.tail;
    this.stale = false;
    const tail = this.tail;
    const generation = this.idle;
    const engine = this.take();
    try {
      const from = tail.until;
      for (const b of readBatches(engine, tail.until, { exceptSite: NOBODY })) {
        if (b.changes.length > 0) {
          tail.batches.push(b);
          tail.changes += b.changes.length;
        }
        tail.until = Math.max(tail.until, b.version);
      }
      // Synchronous, as the read: no merge of this process lands between them.
      for (const [v, site] of engine.directVersions(from, tail.until)) tail.direct.set(v, site);
    } finally {
      this.give(engine, generation);
    }
    // keep the newest; the tail then starts after the last version it dropped whole
    while (tail.changes > TAIL_CHANGES && tail.batches.length > 1) {
      let old: Batch;
      do {
        old = tail.batches.shift()!;
        tail.changes -= old.changes.length;
      } while (!old.complete && tail.batches.length > 0); // a version split over batches goes whole
      tail.since = old.version;
    }
    for (const v of tail.direct.keys()) if (v <= tail.since) tail.direct.delete(v);
    return tail;
  }

  private *fromTail(tail: Tail, since: number, exceptSite: Uint8Array): Generator<Batch> {
    let open = false; // an incomplete batch was sent: its version must be completed
    for (const b of tail.batches) {
      if (b.version <= since) continue;
      // What came straight from the follower is left out for it (it holds that), as the engine's feed does.
      const changes = b.changes.filter((c) => c.dbVersion > since && !sameSite(tail.direct.get(Number(c.dbVersion)) ?? NOBODY, exceptSite));
      if (changes.length === 0 && !(open && b.complete)) continue;
      open = !b.complete;
      yield { changes, version: b.version, complete: b.complete };
    }
    yield { changes: [], version: tail.until, complete: true };
  }

  override receive(batch: Batch, from: PushOrigin): Received | undefined {
    const r = super.receive(batch, from);
    if (r) this.stale = true;
    return r;
  }

  /** The schema changed: reads from now on use new engines, and a new tail. */
  schemaChanged(): void {
    for (const e of this.idle) e.db.close();
    this.idle = [];
    this.tail = undefined;
  }

  override stop(): void {
    this.closed = true;
    this.schemaChanged();
    super.stop();
  }
}
