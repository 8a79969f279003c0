/**
 * The live feed of changes for the inspector: while someone watches, every hosted database (up to
 * {@link WatchOptions.maxDatabases}) is followed through its change feed — the storage port's
 * `changed()` signal, which also fires for changes another hub process merged — and each change
 * read since the last look becomes a {@link FeedEvent}. At most {@link WatchOptions.perWake} events
 * per database and wake are made; a burst beyond that is one summary event, so a bulk import cannot
 * flood the page. The last {@link WatchOptions.keep} events are kept for a page that opens later.
 */
import type { Change } from '../../engine/index.ts';
import type { HubStore } from '../storage/port.ts';
import { keyText, siteText, valueText } from './render.ts';
import { sleep } from '../../base/sleep.ts';

export interface FeedEvent {
  /** Increases by one per event (the SSE id). */
  seq: number;
  /** When the hub saw it (ms since the epoch). */
  at: number;
  db: string;
  /** 'set' a column, 'row' (a row created or revived), 'delete' a row, or 'more' (a summary of a burst). */
  kind: 'set' | 'row' | 'delete' | 'more';
  table: string;
  key: string;
  column: string;
  value: string;
  /** The origin site (first 8 hex digits). */
  site: string;
  version: number;
}

export interface WatchOptions {
  maxDatabases?: number;
  perWake?: number;
  keep?: number;
  /** How often the list of databases is read again, and each database looked at even without a signal (ms). */
  pollMs?: number;
}

/** Asks the feed for every site's changes (no site has this id). */
const NO_SITE = new Uint8Array(16);

export class ChangeWatcher {
  readonly #store: HubStore;
  readonly #maxDatabases: number;
  readonly #perWake: number;
  readonly #keep: number;
  readonly #pollMs: number;
  readonly #listeners = new Set<(e: FeedEvent) => void>();
  readonly #recent: FeedEvent[] = [];
  readonly #watched = new Map<string, AbortController>();
  #seq = 0;
  #stop: AbortController | undefined;
  /** Settles once the first listing's databases are all watched (their starting versions read). */
  #ready: Promise<void> = Promise.resolve();
  #log: (line: string) => void;

  constructor(store: HubStore, options: WatchOptions = {}, log: (line: string) => void = () => {}) {
    this.#store = store;
    this.#maxDatabases = options.maxDatabases ?? 256;
    this.#perWake = options.perWake ?? 50;
    this.#keep = options.keep ?? 200;
    this.#pollMs = options.pollMs ?? 2_000;
    this.#log = log;
  }

  /** The events kept, oldest first. */
  recent(): FeedEvent[] {
    return [...this.#recent];
  }

  /** Listens for events; the databases are followed from the first listener to the last one leaving. */
  subscribe(listener: (e: FeedEvent) => void): () => void {
    this.#listeners.add(listener);
    if (!this.#stop) this.#start();
    return () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0) this.stop();
    };
  }

  /**
   * Resolves once every database there was when following started is watched: a change committed
   * after that is shown (one committed before may not be — the feed starts from then).
   */
  ready(): Promise<void> {
    return this.#ready;
  }

  /** Starts following now (also what the first subscriber does). */
  start(): void {
    if (!this.#stop) this.#start();
  }

  stop(): void {
    this.#stop?.abort();
    this.#stop = undefined;
    this.#watched.clear();
  }

  #start(): void {
    const stop = (this.#stop = new AbortController());
    let ready!: () => void;
    this.#ready = new Promise<void>((resolve) => (ready = resolve));
    void (async () => {
      // Databases there at the start are followed from then on; one made later, from its first change.
      for (let first = true; !stop.signal.aborted; first = false) {
        const started: Promise<void>[] = [];
        try {
          const names = (await this.#store.list()).map((d) => d.name).slice(0, this.#maxDatabases);
          for (const name of names) if (!this.#watched.has(name) && !stop.signal.aborted) started.push(this.#watch(name, stop.signal, !first));
        } catch (err) {
          if (!stop.signal.aborted) this.#log(`inspector: listing databases failed: ${(err as Error).message}`);
        }
        await Promise.all(started);
        ready();
        await sleep(this.#pollMs, stop.signal);
      }
      ready();
    })();
  }

  /** Follows `name` (from its first change if `fromStart`); resolves once its starting version is read (or it failed). */
  #watch(name: string, parent: AbortSignal, fromStart: boolean): Promise<void> {
    const own = new AbortController();
    this.#watched.set(name, own);
    const signal = AbortSignal.any([parent, own.signal]);
    let watching!: () => void;
    const started = new Promise<void>((resolve) => (watching = resolve));
    void (async () => {
      const db = await this.#store.open(name);
      if (!db) return;
      try {
        let since = fromStart ? 0 : await db.feed.version();
        watching();
        if (fromStart) since = await this.#read(name, db.feed, since);
        while (!signal.aborted) {
          // The signal, or a look now and then anyway (a missed signal costs at most pollMs).
          const wake = new AbortController();
          await Promise.race([db.feed.changed(AbortSignal.any([signal, wake.signal])), sleep(this.#pollMs, signal)]);
          wake.abort();
          if (signal.aborted) break;
          since = await this.#read(name, db.feed, since);
        }
      } finally {
        db.release?.(); // held while followed
      }
    })()
      .catch((err: Error) => {
        this.#watched.delete(name);
        if (!parent.aborted) this.#log(`inspector: following ${name} failed: ${err.message}`);
      })
      .finally(watching);
    return started;
  }

  /** Emits the changes after `since`; returns the version read up to. */
  async #read(db: string, feed: { batches: (since: number, r: { exceptSite: Uint8Array }) => AsyncIterable<{ changes: Change[]; version: number }>; version(): unknown }, since: number): Promise<number> {
    let shown = 0;
    let until = since;
    for await (const batch of feed.batches(since, { exceptSite: NO_SITE })) {
      for (const c of batch.changes) {
        if (shown === this.#perWake) {
          const to = Number(await feed.version());
          this.#emit({ db, kind: 'more', table: '', key: '', column: '', value: `more changes, up to version ${to}`, site: '', version: to });
          return Math.max(until, to);
        }
        shown++;
        this.#emit(eventOf(db, c));
      }
      until = Math.max(until, batch.version);
    }
    return until;
  }

  #emit(e: Omit<FeedEvent, 'seq' | 'at'>): void {
    const event = { seq: ++this.#seq, at: Date.now(), ...e };
    this.#recent.push(event);
    if (this.#recent.length > this.#keep) this.#recent.shift();
    for (const l of this.#listeners) l(event);
  }
}

function eventOf(db: string, c: Change): Omit<FeedEvent, 'seq' | 'at'> {
  const sentinel = c.cid === '-1';
  const alive = Number(BigInt(c.cl) % 2n) === 1;
  return {
    db,
    kind: sentinel ? (alive ? 'row' : 'delete') : 'set',
    table: c.table,
    key: keyText(c.pk),
    column: sentinel ? '' : c.cid,
    value: sentinel ? '' : valueText(c.val),
    site: siteText(c.siteId),
    version: Number(c.dbVersion),
  };
}

