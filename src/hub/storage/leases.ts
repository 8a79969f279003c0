/**
 * The hosted databases a store holds open, reference-counted: each `open` of a database takes a
 * hold on it and each `release` gives one back; once nobody holds it and it has no work in flight
 * (a queued push, a group commit, a follower waiting on its feed) for `idleMs`, it is closed and
 * forgotten, and the next `open` opens it again. A hub hosting one database per user of an app
 * otherwise kept every database any client ever opened — its engine, prepared statements and pooled
 * read connections (embedded SQLite), its caches (PostgreSQL) — for as long as it ran: memory and
 * file handles grew with every database ever opened.
 *
 * A close never races an open: closing is synchronous with the check that nobody holds the database
 * (or, for a store whose close is asynchronous, the next open of that name waits for it), so an
 * `open` either gets the held database or a new one opened after the old one closed.
 *
 * The idle time alone does not bound what idle databases cost: a hub opening more databases within
 * it than it has file handles for (each open embedded SQLite database holds several) failed. So the
 * leases also take a cap, `maxOpen`: an open of a database not open now, with `maxOpen` open
 * already, first closes the databases nobody holds and with nothing in flight, least recently
 * released first, until it fits. If every open database is held (or busy), it opens anyway and
 * counts it in {@link Leases.opensOverCap}: refusing a user is worse than one more open file.
 */
import { HubStoreError } from './errors.ts';

/** Closed while nobody holds it and nothing is in flight, for at least this long (ms), by default. */
export const DEFAULT_IDLE_CLOSE_MS = 5_000;

/**
 * At most this many databases open at once by default, unless all are held (see the file comment).
 * An idle embedded SQLite database holds 5 file handles, up to 21 once 8 reads ran on it at once
 * (bench/hub-max-open.ts): 5,000–21,000 in all, within the usual per-process limits with room for
 * connections; a host with a lower limit passes a lower cap (`--max-open`).
 */
export const DEFAULT_MAX_OPEN = 1_000;

/** What the leases need of an open database. */
export interface Leasable {
  /** Work in flight that a close would have to wait for (queued pushes, a commit, waiting followers). */
  busy(): boolean;
  /** Closes it; durable (checkpointed) once it resolves. */
  close(): void | Promise<void>;
}

interface Entry<T> {
  opening: Promise<T | undefined>;
  holds: number;
  timer: NodeJS.Timeout | undefined;
  /** Once opened: what a close for the cap closes without waiting for `opening`. */
  db: T | undefined;
}

/** Options of a store's leases. */
export interface LeaseOptions {
  /** How long (ms) a database nobody holds stays open before it is closed; default {@link DEFAULT_IDLE_CLOSE_MS}. */
  idleMs?: number;
  /** At most this many open at once unless all are held (see the file comment); default {@link DEFAULT_MAX_OPEN}. */
  maxOpen?: number;
  /** Told of every close (for logs); a close that throws is reported here and the database forgotten anyway. */
  onCloseError?: (name: string, err: Error) => void;
}

/** A store's open databases, by name, held by its users (see the file comment). */
export class Leases<T extends Leasable> {
  private readonly entries = new Map<string, Entry<T>>();
  /** Closes under way (asynchronous ones): the next open of the name waits for it. */
  private readonly closing = new Map<string, Promise<void>>();
  /** Those nobody holds, least recently released first (a Map keeps insertion order): closed first for the cap. */
  private readonly released = new Map<string, Entry<T>>();
  private readonly idleMs: number;
  private readonly maxOpen: number;
  private overCap = 0;
  private readonly onCloseError: (name: string, err: Error) => void;
  private drained = false;

  constructor(options: LeaseOptions = {}) {
    this.idleMs = Math.max(0, options.idleMs ?? DEFAULT_IDLE_CLOSE_MS);
    this.maxOpen = Math.max(1, Math.floor(options.maxOpen ?? DEFAULT_MAX_OPEN));
    this.onCloseError = options.onCloseError ?? (() => {});
  }

  /** Databases open now (held or idle, opening included). */
  get size(): number {
    return this.entries.size;
  }

  /** Opens that went past `maxOpen` because every open database was held or busy (a Prometheus counter). */
  get opensOverCap(): number {
    return this.overCap;
  }

  /** Whether `name` is open now (held or idle). */
  has(name: string): boolean {
    return this.entries.has(name);
  }

  /**
   * The open database `name`, held once more; or opened by `open` (after a close of it under way),
   * held once. Undefined (and nothing held) if `open` finds none.
   */
  acquire(name: string, open: () => Promise<T | undefined>): Promise<T | undefined> {
    const held = this.entries.get(name);
    if (held) {
      held.holds++;
      clearTimeout(held.timer);
      held.timer = undefined;
      this.released.delete(name);
      return held.opening;
    }
    this.makeRoom();
    const previous = this.closing.get(name);
    const entry: Entry<T> = { opening: previous ? previous.then(open) : open(), holds: 1, timer: undefined, db: undefined };
    this.entries.set(name, entry);
    // None there (it may be created later) or failed to open: nothing is kept, nothing held.
    const forget = (): void => {
      if (this.entries.get(name) !== entry) return;
      this.entries.delete(name);
      this.released.delete(name);
    };
    entry.opening.then((db) => (db === undefined ? forget() : void (entry.db = db)), forget);
    return entry.opening;
  }

  /**
   * Below `maxOpen` again before an open of one more: closes those nobody holds and with nothing in
   * flight, least recently released first; counts an open past the cap if that is not enough.
   */
  private makeRoom(): void {
    if (this.entries.size < this.maxOpen) return;
    for (const [name, entry] of this.released) {
      const db = entry.db;
      // Still opening (released before it resolved cannot happen: holders get it first) or busy: kept.
      if (entry.holds > 0 || !db || db.busy()) continue;
      clearTimeout(entry.timer);
      entry.timer = undefined;
      this.released.delete(name);
      this.entries.delete(name);
      this.close(name, db);
      if (this.entries.size < this.maxOpen) return;
    }
    this.overCap++;
  }

  /**
   * Gives back one hold on `name` (one per acquire that returned a database). After {@link drain}
   * (the store closed) there is nothing left to give back to: a holder ending later is no error.
   */
  release(name: string): void {
    if (this.drained) return;
    const entry = this.entries.get(name);
    if (!entry || entry.holds === 0) throw new HubStoreError(`hosted database ${name} was released more often than it was opened`);
    if (--entry.holds === 0) {
      this.released.delete(name); // to the end: the most recently released
      this.released.set(name, entry);
      this.idle(name, entry);
    }
  }

  /** Nobody holds it: closed after `idleMs`, if still so and nothing is in flight then. */
  private idle(name: string, entry: Entry<T>): void {
    entry.timer = setTimeout(() => {
      entry.timer = undefined;
      void entry.opening.then((db) => {
        if (entry.holds > 0 || this.entries.get(name) !== entry || !db) return;
        if (db.busy()) return this.idle(name, entry); // work in flight: look again later
        this.entries.delete(name);
        this.released.delete(name);
        this.close(name, db);
      });
    }, this.idleMs);
    entry.timer.unref();
  }

  private close(name: string, db: T): void {
    let closed: void | Promise<void>;
    try {
      closed = db.close();
    } catch (err) {
      return this.onCloseError(name, err as Error);
    }
    if (!(closed instanceof Promise)) return;
    const done = closed.catch((err: Error) => this.onCloseError(name, err)).finally(() => {
      if (this.closing.get(name) === done) this.closing.delete(name);
    });
    this.closing.set(name, done);
  }

  /** Every open database, forgotten (held or not): for the store to close them all. */
  async drain(): Promise<T[]> {
    this.drained = true;
    const all = [...this.entries.values()];
    this.entries.clear();
    this.released.clear();
    for (const e of all) clearTimeout(e.timer);
    await Promise.all(this.closing.values());
    const dbs: T[] = [];
    for (const e of all) {
      const db = await e.opening.catch(() => undefined);
      if (db !== undefined) dbs.push(db);
    }
    return dbs;
  }
}
