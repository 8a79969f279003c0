/**
 * A repository as the two ports of a sync session (sync/ports.ts): the feed its changes are read
 * from — with a watch on the database so following peers hear of every commit, by this process or
 * any other (the app, sqlite3, ddcp shell), within a few tens of milliseconds without polling them —
 * and the sink pushed changes are merged into.
 */
import { EventEmitter } from 'node:events';
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { Change } from '../engine/index.ts';
import { Engine, openDatabase, type SqliteConnection, type Statement } from '../engine/index.ts';
import { toHex } from '../base/hex.ts';
import { batchByVersion, type Batch } from '../sync/batches.ts';
import type { ChangeFeed, ChangeSink, FeedRequest, PushOrigin, Received } from '../sync/ports.ts';
import { refusalText } from '../sync/gate.ts';
import { mergeStaged, type MergeOutcome } from './fetch.ts';
import type { Staging } from './staging.ts';

/** How often the database's commit counter is checked (ms); a file watch usually wakes us sooner. */
export const WATCH_INTERVAL_MS = 50;
/** After a file event, look again this many ms later (the commit may not be visible yet). */
const RECHECK_MS = [2, 10];

/** What the feed needs of a repository (a Repository satisfies it). */
export interface FeedRepository {
  readonly dbPath: string;
  readonly engine: Engine;
}

/**
 * A repository's changes after `since` (not those of `exceptSite`) as bounded batches, ending with
 * an empty complete batch at the version the repository was at.
 */
export function* readBatches(engine: Engine, since: number, request: FeedRequest): Generator<Batch> {
  const at = engine.dbVersion();
  let last = since;
  for (const batch of batchByVersion(engine.changesSince(since, request), undefined, since)) {
    last = batch.version;
    batch.disposable = true; // made for this read alone
    yield batch;
  }
  yield { changes: [] as Change[], version: Math.max(at, last), complete: true };
}

/** The staging key under which a pusher's incomplete batches wait. */
const pushKey = (siteId: Uint8Array): string => `push:${toHex(siteId)}`;

export class RepoFeed implements ChangeFeed, ChangeSink {
  private readonly repo: FeedRepository;
  private readonly stagingOf: () => Staging;
  private readonly events = new EventEmitter();
  /**
   * A connection of its own for PRAGMA data_version (it changes when another connection commits, so
   * it sees this process's merges as well as other processes' writes), opened by the first follower:
   * a feed only read or pushed to (a hub's hosted database) holds no third connection for it.
   */
  private watching: { db: SqliteConnection; dataVersion: Statement } | undefined;
  private lastDataVersion = -1;
  private timer: NodeJS.Timeout | undefined;
  private watcher: FSWatcher | undefined;
  private version_ = 0;
  private stopped = false;

  /** `staging` is opened only once something is pushed (a feed that is only read needs none). */
  constructor(repo: FeedRepository, staging: () => Staging) {
    this.repo = repo;
    this.stagingOf = staging;
    this.events.setMaxListeners(0);
    this.version_ = repo.engine.dbVersion();
  }

  get siteId(): Uint8Array {
    return this.repo.engine.siteId;
  }

  schema() {
    return this.repo.engine.crrs();
  }

  version(): number {
    return this.repo.engine.dbVersion();
  }

  async *batches(since: number, request: FeedRequest): AsyncGenerator<Batch> {
    // A connection per read: the session awaits the network between batches, and other sessions
    // and merges use the repository's connection meanwhile.
    const db = openDatabase(this.repo.dbPath);
    try {
      yield* readBatches(Engine.open(db), since, request);
    } finally {
      db.close();
    }
  }

  changed(signal: AbortSignal): Promise<void> {
    this.start(); // watch from the first follower on
    return new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const done = (): void => {
        this.events.off('changed', done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      this.events.on('changed', done);
      signal.addEventListener('abort', done);
    });
  }

  /** Calls `listener(version)` whenever local changes were committed (and sealed). */
  onChange(listener: (version: number) => void): () => void {
    this.events.on('changed', listener);
    return () => this.events.off('changed', listener);
  }

  // --- the sink: pushed changes ---

  trackedVersion(siteId: Uint8Array): number {
    return this.repo.engine.trackedVersion(siteId);
  }

  bindSite(siteId: Uint8Array, address: string): void {
    this.repo.engine.bindSite(siteId, address);
  }

  private get staging(): Staging {
    return this.stagingOf();
  }

  receive(batch: Batch, from: PushOrigin): Received | undefined {
    const key = pushKey(from.siteId);
    let merged: Pick<MergeOutcome, 'applied' | 'refused'>;
    if (batch.complete && this.staging.count(key) === 0) {
      // A whole source transaction in one batch (the common case): merged straight from the batch,
      // through the gate, in one transaction — what staging it first and merging that would do.
      const r = from.gate.admit(this.repo.engine, batch.changes, {
        source: from.source,
        peer: from.peer,
        trackPeer: { siteId: from.siteId, version: batch.version },
        // Straight from the pusher (its site id was proved and bound in the handshake): it holds its own changes.
        direct: from.siteId,
        context: `staged change from ${from.source}`,
      });
      merged = { applied: r.applied, refused: r.refused };
    } else {
      // Staged durably first: a huge transaction arrives as several batches and is merged whole.
      this.staging.stage(key, from.siteId, batch);
      if (!batch.complete) return undefined;
      // Through the gate: schema fit, and the pusher's write policy per source transaction.
      try {
        merged = mergeStaged(this.repo.engine, from.gate, this.staging, key, { source: from.source, peer: from.peer, direct: from.siteId });
      } finally {
        this.staging.forget(key); // merged, or refused by the gate: not kept either way
      }
    }
    this.check(); // our followers hear of it at once
    // A refused transaction's version is the pusher's own db_version: exact, unless the pusher lies.
    return { version: batch.version, applied: merged.applied, refused: (merged.refused ?? []).map((r) => ({ version: Number(r.dbVersion), message: refusalText(r) })) };
  }

  caughtUp(version: number, from: PushOrigin): void {
    if (version > this.trackedVersion(from.siteId)) this.repo.engine.trackPeer({ siteId: from.siteId, version });
  }

  dropIncomplete(from: PushOrigin): void {
    this.staging.forget(pushKey(from.siteId));
  }

  // --- watching ---

  /** Starts watching the database (the first follower does it; see {@link changed}). */
  start(): void {
    if (this.timer || this.stopped) return;
    const db = openDatabase(this.repo.dbPath);
    this.watching = { db, dataVersion: db.prepare('PRAGMA data_version') };
    this.lastDataVersion = this.readDataVersion();
    this.timer = setInterval(() => this.check(), WATCH_INTERVAL_MS);
    this.timer.unref();
    try {
      const name = basename(this.repo.dbPath);
      this.watcher = watch(dirname(this.repo.dbPath), (_event, file) => {
        if (!file || !String(file).startsWith(name)) return;
        // The WAL is written a moment before the commit becomes visible: look now and again shortly.
        this.check();
        for (const ms of RECHECK_MS) setTimeout(() => this.check(), ms).unref();
      });
      this.watcher.unref();
    } catch {
      // no file watching here: the interval is enough
    }
  }

  private readDataVersion(): number {
    return Number((this.watching!.dataVersion.get() as { data_version: number }).data_version);
  }

  /** Looks for new commits; seals them and tells followers. */
  check(): void {
    if (!this.timer) return; // stopped
    let dv: number;
    try {
      dv = this.readDataVersion();
    } catch {
      return;
    }
    if (dv === this.lastDataVersion) return;
    this.lastDataVersion = dv;
    let v: number;
    try {
      v = this.repo.engine.dbVersion(); // seals writes logged by other clients
    } catch {
      return; // busy: the next tick tries again
    }
    // Sealing is itself a commit on another connection: note it so it doesn't wake us again.
    this.lastDataVersion = this.readDataVersion();
    if (v !== this.version_) {
      this.version_ = v;
      this.events.emit('changed', v);
    }
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.watcher?.close();
    this.watcher = undefined;
    this.watching?.db.close();
    this.watching = undefined;
    this.events.emit('changed', this.version_); // wake waiting sessions so they can end
  }
}
