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
 */
import { HubStoreError } from './errors.ts';

/** Closed while nobody holds it and nothing is in flight, for at least this long (ms), by default. */
export const DEFAULT_IDLE_CLOSE_MS = 5_000;

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
}

/** Options of a store's leases. */
export interface LeaseOptions {
  /** How long (ms) a database nobody holds stays open before it is closed; default {@link DEFAULT_IDLE_CLOSE_MS}. */
  idleMs?: number;
  /** Told of every close (for logs); a close that throws is reported here and the database forgotten anyway. */
  onCloseError?: (name: string, err: Error) => void;
}

/** A store's open databases, by name, held by its users (see the file comment). */
export class Leases<T extends Leasable> {
  private readonly entries = new Map<string, Entry<T>>();
  /** Closes under way (asynchronous ones): the next open of the name waits for it. */
  private readonly closing = new Map<string, Promise<void>>();
  private readonly idleMs: number;
  private readonly onCloseError: (name: string, err: Error) => void;
  private drained = false;

  constructor(options: LeaseOptions = {}) {
    this.idleMs = Math.max(0, options.idleMs ?? DEFAULT_IDLE_CLOSE_MS);
    this.onCloseError = options.onCloseError ?? (() => {});
  }

  /** Databases open now (held or idle, opening included). */
  get size(): number {
    return this.entries.size;
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
      return held.opening;
    }
    const previous = this.closing.get(name);
    const entry: Entry<T> = { opening: previous ? previous.then(open) : open(), holds: 1, timer: undefined };
    this.entries.set(name, entry);
    // None there (it may be created later) or failed to open: nothing is kept, nothing held.
    const forget = (): void => {
      if (this.entries.get(name) === entry) this.entries.delete(name);
    };
    entry.opening.then((db) => db === undefined && forget(), forget);
    return entry.opening;
  }

  /**
   * Gives back one hold on `name` (one per acquire that returned a database). After {@link drain}
   * (the store closed) there is nothing left to give back to: a holder ending later is no error.
   */
  release(name: string): void {
    if (this.drained) return;
    const entry = this.entries.get(name);
    if (!entry || entry.holds === 0) throw new HubStoreError(`hosted database ${name} was released more often than it was opened`);
    if (--entry.holds === 0) this.idle(name, entry);
  }

  /** Nobody holds it: closed after `idleMs`, if still so and nothing is in flight then. */
  private idle(name: string, entry: Entry<T>): void {
    entry.timer = setTimeout(() => {
      entry.timer = undefined;
      void entry.opening.then((db) => {
        if (entry.holds > 0 || this.entries.get(name) !== entry || !db) return;
        if (db.busy()) return this.idle(name, entry); // work in flight: look again later
        this.entries.delete(name);
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
