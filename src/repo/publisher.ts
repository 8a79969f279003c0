/**
 * The serving side of a repository: what a sync session needs (sync/session.ts's ServerContext),
 * and a watch on the database so following peers hear of every commit — by this process or any
 * other (the app, sqlite3, ddcp shell) — within a few tens of milliseconds, without polling them.
 */
import { EventEmitter } from 'node:events';
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { Engine } from '../engine/engine.ts';
import { openDatabase, type SqliteConnection, type Statement } from '../engine/sqlite.ts';
import type { Batch } from '../sync/batches.ts';
import type { ServerContext } from '../sync/session.ts';
import type { Repository } from './repository.ts';
import { readBatches } from './source.ts';

/** How often the database's commit counter is checked (ms); a file watch usually wakes us sooner. */
export const WATCH_INTERVAL_MS = 50;
/** After a file event, look again this many ms later (the commit may not be visible yet). */
const RECHECK_MS = [2, 10];

export class Publisher implements ServerContext {
  private readonly repo: Repository;
  private readonly events = new EventEmitter();
  private readonly watchDb: SqliteConnection;
  private readonly dataVersion: Statement;
  private lastDataVersion = -1;
  private timer: NodeJS.Timeout | undefined;
  private watcher: FSWatcher | undefined;
  private version_ = 0;

  constructor(repo: Repository) {
    this.repo = repo;
    this.events.setMaxListeners(0);
    // PRAGMA data_version changes when another connection commits: a connection of its own sees
    // this process's merges as well as other processes' writes.
    this.watchDb = openDatabase(repo.dbPath);
    this.dataVersion = this.watchDb.prepare('PRAGMA data_version');
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

  *batches(since: number, exceptSite: Uint8Array): Generator<Batch> {
    // A connection per read: the session awaits the network between batches, and other sessions
    // and merges use the repository's connection meanwhile.
    const db = openDatabase(this.repo.dbPath);
    try {
      yield* readBatches(Engine.open(db), since, exceptSite);
    } finally {
      db.close();
    }
  }

  changed(signal: AbortSignal): Promise<void> {
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

  /** Starts watching the database. */
  start(): void {
    if (this.timer) return;
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
    return Number((this.dataVersion.get() as { data_version: number }).data_version);
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
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.watcher?.close();
    this.watcher = undefined;
    this.watchDb.close();
    this.events.emit('changed', this.version_); // wake waiting sessions so they can end
  }
}
