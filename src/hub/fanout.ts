/**
 * Fan-out: a hosted database's changes, sent to every session following it. Each session reading
 * the store and encoding the batch itself costs N reads and N encodings per merge for N followers
 * (and the store's connection pool is contended N ways). Instead, per database and per read policy
 * (followers under the same read filter see the same changes), one *group*:
 * - wakes once per change of the database (its feed's `changed`, which also fires for merges by
 *   another hub process), reads the new changes once — coalescing merges that land while it reads —
 *   and encodes each batch once, into a frame every follower is sent as is (`shared`: no copy); the
 *   unfiltered group of an embedded SQLite database takes what the group commits stored instead of
 *   reading it back, where the store can give it exactly (`takeStored`);
 * - keeps the frames of the last few thousand changes, so a follower a little behind catches up from
 *   them; one further behind (a new session, a slow socket) reads the store itself, then joins;
 * - leaves a pusher's own changes out for it (as the feed's `exceptSite`: only at versions merged
 *   straight from it) by a frame made for that one site, on first need.
 * Followers never wait for each other: each sends at its own socket's pace (`send` waits only for
 * its own backlog), and wakes when the group has something newer than what it sent.
 */
import type { Change, ReadFilter } from '../engine/index.ts';
import type { FrameChannel } from '../sync/channel.ts';
import { encodeMessage, pairWithCaughtUp } from '../sync/messages.ts';
import { FEATURE_BATCH_CAUGHT_UP } from '../sync/features.ts';
import type { Batch } from '../sync/batches.ts';
import type { ChangeFeed, FeedRequest } from '../sync/ports.ts';
import { KEEPALIVE_MS } from '../sync/protocol.ts';
import type { SendOptions } from '../sync/sender.ts';

/** Changes a group keeps frames of, for followers a little behind (older ones are read from the store). */
export const FANOUT_LOG_CHANGES = 5_000;
/** After a failed read, the group tries again this much later (ms), or at the next change. */
const RETRY_MS = 1_000;

/** What the fan-out needs of a hosted database (a HubDatabase satisfies it). */
export interface FanoutSource {
  readonly feed: ChangeFeed;
  /** The versions in (`since`, `until`] merged straight from their origin, with that site. */
  directVersions(since: number, until: number): Promise<Map<number, Uint8Array>>;
  /**
   * The feed's batches after `since`, read at once, where the store can (embedded SQLite reads on
   * its writer's connection, between group commits: its engine's caches are current there, while a
   * pooled reader reloads them after every commit). Absent: a group reads `feed.batches`.
   */
  readNow?(since: number, request: FeedRequest): Batch[];
  /**
   * The batches after `since` as an unfiltered read with no site left out gives them, from what the
   * store's merges reported storing (embedded SQLite: engine/stored.ts) rather than read back; each
   * call takes what was reported. Undefined (or absent): read.
   */
  takeStored?(since: number): Batch[] | undefined;
  /**
   * The feed tells of each change once, after it committed (embedded SQLite: once per group commit,
   * by the store itself; PostgreSQL: a merge's own notification is ignored, its COMMIT's answer
   * wakes): a group may read at once. Otherwise the groups read a turn later, so the signals of one
   * commit arriving meanwhile make one read, not two.
   */
  readonly wakesOnce?: boolean;
  /**
   * Calls `listener` after each change the feed tells of (as `feed.changed` resolves then), until
   * the returned function is called: one listener for as long as anyone follows, not a promise and
   * two listeners made and dropped per wake. Absent: the fan-out waits on `feed.changed`.
   */
  onChanged?(listener: () => void): () => void;
}

/** Work done, for tests and benchmarks. */
export interface FanoutStats {
  /** Reads of the store by groups (one per wake, however many followers). */
  groupReads: number;
  /** Wakes of a group that took what the merges stored instead of reading it back. */
  handedOver: number;
  /** Reads of the store by single followers (catching up from before a group's frames). */
  followerReads: number;
  /** Batches encoded: once per group batch, plus frames made for one follower. */
  encoded: number;
  /**
   * Batch frames paired with a caught-up (`batch-caught-up`): once per frame and caught-up, however
   * many followers take it, and once per follower's catch-up read from the store that ended paired.
   */
  paired: number;
}

const NOBODY = new Uint8Array(16);

const siteKey = (site: Uint8Array): string => Buffer.from(site.buffer, site.byteOffset, site.byteLength).toString('latin1');

const sameSite = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && Buffer.compare(a, b) === 0;

/** A read filter as a map key (its rules and parameters; parameters may be bigints or bytes). */
function filterKey(read: ReadFilter | undefined): string {
  if (!read) return '';
  return JSON.stringify([read.rules, read.params ?? {}], (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v instanceof Uint8Array ? `0x${Buffer.from(v).toString('hex')}` : v));
}

/** One batch of a group, encoded. */
interface Entry {
  /** The batch's version; `after`: the version boundary before it (its changes are all newer, unfiltered). */
  version: number;
  after: number;
  complete: boolean;
  changes: Change[];
  frame: Uint8Array;
  /** Per change, the site it was merged straight from when that is its own origin (left out for that site). */
  own: (string | undefined)[] | undefined;
  /** Frames without one site's own changes, made on first need (null: none left). */
  without: Map<string, Uint8Array | null>;
}

/** A frame to send, and what it holds. */
interface Out {
  frame: Uint8Array;
  shared: boolean;
  changes: number;
  version: number;
}

/**
 * A follower's wait for its group's next change, kept for the follower's whole session: one timer
 * (re-armed per wait) and one abort listener, not a new timer, promise listener pair and closure
 * per wake of every follower.
 */
class Waiter {
  private resolve: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly signal: AbortSignal;
  private readonly ms: number;
  /** When the current (or last) wait began (performance.now()). */
  private startedAt = 0;
  /** Ends the current wait (a change, the keep-alive timer, the session's abort); a no-op between waits. */
  readonly wake = (): void => {
    const resolve = this.resolve;
    this.resolve = undefined;
    resolve?.();
  };

  /**
   * The keep-alive timer fired. It is left armed across waits (moving it in Node's timer list per
   * wait, once per wake of every follower, cost more than reading the clock), so the current wait
   * may have begun since it was armed: it ends only once `ms` passed since it began, else the timer
   * waits for the rest.
   */
  private readonly expire = (): void => {
    this.timer = undefined;
    if (this.resolve === undefined) return; // no wait now: the next one arms the timer
    const left = this.startedAt + this.ms - performance.now();
    if (left > 0) this.timer = setTimeout(this.expire, left);
    else this.wake();
  };

  constructor(signal: AbortSignal, ms: number) {
    this.signal = signal;
    this.ms = ms;
    signal.addEventListener('abort', this.wake);
  }

  /** Resolves at the next {@link wake}, or `ms` (as constructed) from now. */
  wait(): Promise<void> {
    return new Promise((resolve) => {
      this.resolve = resolve;
      this.startedAt = performance.now();
      this.timer ??= setTimeout(this.expire, this.ms);
    });
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.signal.removeEventListener('abort', this.wake);
    this.wake();
  }
}

/** The followers of one database under one read filter. */
class Group {
  readonly read: ReadFilter | undefined;
  /** Frames cover the versions in (`since`, `until`]. */
  since = 0;
  until = 0;
  caughtUp: Uint8Array = new Uint8Array(0);
  readonly ready: Promise<void>;
  /** Whether {@link ready} has settled (a follower's loop then skips awaiting it each wake). */
  initialized = false;
  readonly positions = new Set<{ at: number }>();
  private entries: Entry[] = [];
  private changes = 0;
  private reading = false;
  private dirty = false;
  private retry: NodeJS.Timeout | undefined;
  private readonly waiters = new Set<Waiter>();
  private readonly fanout: Fanout;
  /** Each frame's pairing with the caught-up last made for it (a wake's followers share one). */
  private readonly pairs = new WeakMap<Uint8Array, { version: number; frame: Uint8Array }>();

  constructor(fanout: Fanout, read: ReadFilter | undefined) {
    this.fanout = fanout;
    this.read = read;
    this.ready = (async () => {
      const v = await fanout.source.feed.version();
      this.since = this.until = v;
      this.caughtUp = encodeMessage({ type: 'caught-up', version: v });
      this.initialized = true;
      if (this.dirty) this.kick();
    })();
  }

  /** The database changed: read what is new (once, however many followers; again after a read under way). */
  kick(): void {
    if (!this.initialized || this.reading) {
      this.dirty = true;
      return;
    }
    this.reading = true;
    void (async () => {
      try {
        do {
          this.dirty = false;
          await this.refresh();
        } while (this.dirty && this.positions.size > 0);
      } catch (err) {
        this.fanout.log('warn', `fan-out read failed (retrying): ${(err as Error).message}`);
        clearTimeout(this.retry);
        this.retry = setTimeout(() => this.kick(), RETRY_MS);
        this.retry.unref();
      } finally {
        this.reading = false;
      }
    })();
  }

  private async refresh(): Promise<void> {
    const { source, stats } = this.fanout;
    const from = this.until;
    let at = from;
    const batches: { changes: Change[]; version: number; complete: boolean }[] = [];
    // Unfiltered, what the merges stored is what a read would give; a read filter reads (its rows come whole).
    const handed = this.read === undefined ? source.takeStored?.(from) : undefined;
    if (handed) stats.handedOver++;
    else stats.groupReads++;
    const request: FeedRequest = { exceptSite: NOBODY, ...(this.read ? { read: this.read } : {}) };
    const read = handed ?? (source.readNow ? source.readNow(from, request) : source.feed.batches(from, request));
    for await (const b of read) {
      if (b.changes.length > 0) batches.push(b);
      at = Math.max(at, b.version);
    }
    if (at <= from && batches.length === 0) return;
    let lo = Infinity;
    let hi = -Infinity;
    for (const b of batches) {
      for (const c of b.changes) {
        const v = Number(c.dbVersion);
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
    }
    const direct = batches.length > 0 ? await source.directVersions(lo - 1, hi) : new Map<number, Uint8Array>();
    let after = from;
    for (const b of batches) {
      let own: (string | undefined)[] | undefined;
      if (direct.size > 0) {
        b.changes.forEach((c, i) => {
          const d = direct.get(Number(c.dbVersion));
          if (d && sameSite(d, c.siteId)) (own ??= new Array<string | undefined>(b.changes.length))[i] = siteKey(d);
        });
      }
      this.entries.push({ version: b.version, after, complete: b.complete, changes: b.changes, frame: encodeMessage({ type: 'batch', ...b }), own, without: new Map() });
      stats.encoded++;
      this.changes += b.changes.length;
      if (b.complete) after = b.version;
    }
    this.until = at;
    this.caughtUp = encodeMessage({ type: 'caught-up', version: at });
    this.trim();
    const woken = [...this.waiters];
    this.waiters.clear();
    for (const w of woken) w.wake();
  }

  /** Drops frames every follower has sent, and the oldest past the log's size (whole versions). */
  private trim(): void {
    let min = Infinity;
    for (const p of this.positions) if (p.at < min) min = p.at;
    let drop = 0;
    let changes = this.changes;
    let since = this.since;
    for (let i = 0; i < this.entries.length; i++) {
      const e = this.entries[i]!;
      if (!(e.version <= min || changes > FANOUT_LOG_CHANGES)) break;
      changes -= e.changes.length;
      if (e.complete) {
        drop = i + 1;
        since = e.version;
        this.changes = changes;
      }
    }
    if (drop > 0) this.entries.splice(0, drop);
    this.since = since;
  }

  /** Resolves when the group has versions after `since`, or at the waiter's timer or abort. */
  next(since: number, waiter: Waiter, signal: AbortSignal): Promise<void> {
    if (this.until > since || signal.aborted) return Promise.resolve();
    this.waiters.add(waiter); // woken (and dropped) at the next read; a wake between waits does nothing
    return waiter.wait();
  }

  /** A follower left: its waiter is not woken again. */
  forget(waiter: Waiter): void {
    this.waiters.delete(waiter);
  }

  /** The frames a follower at `since` (site `site`) is sent, up to {@link until}. */
  after(since: number, site: string): Out[] {
    const entries = this.entries;
    let lo = 0;
    let hi = entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (entries[mid]!.version <= since) lo = mid + 1;
      else hi = mid;
    }
    const out: Out[] = [];
    let open = false; // an incomplete batch was sent: its version must be completed
    for (let i = lo; i < entries.length; i++) {
      const e = entries[i]!;
      let frame: Uint8Array | null = e.frame;
      let shared = true;
      let changes = e.changes.length;
      if (this.read === undefined && e.after < since) {
        // A follower that read the store itself may be inside this batch: only what it lacks.
        const mine = e.changes.filter((c, j) => Number(c.dbVersion) > since && e.own?.[j] !== site);
        frame = mine.length > 0 || (open && e.complete) ? this.fanout.encode({ version: e.version, complete: e.complete, changes: mine }) : null;
        shared = false;
        changes = mine.length;
      } else if (e.own?.includes(site)) {
        let f = e.without.get(site);
        if (f === undefined) {
          const mine = e.changes.filter((_c, j) => e.own![j] !== site);
          f = mine.length > 0 ? this.fanout.encode({ version: e.version, complete: e.complete, changes: mine }) : null;
          e.without.set(site, f);
        }
        frame = f;
        changes = e.changes.length - e.own.filter((s) => s === site).length;
        if (frame === null && open && e.complete) frame = this.fanout.encode({ version: e.version, complete: true, changes: [] });
      }
      if (frame === null) continue;
      open = !e.complete;
      out.push({ frame, shared, changes, version: e.version });
    }
    return out;
  }

  /**
   * `frame` and caught-up at `version` as one `batch-caught-up` frame: made once per frame and
   * version, so every follower of a wake is sent the same object (framed once by the transport).
   */
  paired(frame: Uint8Array, version: number): Uint8Array {
    const p = this.pairs.get(frame);
    if (p !== undefined && p.version === version) return p.frame;
    const made = pairWithCaughtUp(frame, version);
    this.fanout.stats.paired++;
    this.pairs.set(frame, { version, frame: made });
    return made;
  }

  close(): void {
    clearTimeout(this.retry);
    for (const w of [...this.waiters]) w.wake();
    this.waiters.clear();
  }
}

/** The fan-out of one hosted database (see the file comment); {@link fanoutOf} gives the one of a database. */
export class Fanout {
  readonly source: FanoutSource;
  readonly stats: FanoutStats = { groupReads: 0, handedOver: 0, followerReads: 0, encoded: 0, paired: 0 };
  log: (level: 'info' | 'warn', message: string) => void = () => {};
  private readonly groups = new Map<string, Group>();
  private watching: AbortController | undefined;

  constructor(source: FanoutSource) {
    this.source = source;
  }

  /** Encodes a batch for one follower. */
  encode(b: { version: number; complete: boolean; changes: Change[] }): Uint8Array {
    this.stats.encoded++;
    return encodeMessage({ type: 'batch', ...b });
  }

  /** Watches the database while anyone follows it: each change wakes every group once. */
  private watch(): void {
    if (this.watching) return;
    const stop = (this.watching = new AbortController());
    // Whether the groups were kicked in this turn of the event loop (cleared at its end).
    let kicked = false;
    const endOfTurn = (): void => void (kicked = false);
    const { onChanged } = this.source;
    if (onChanged && this.source.wakesOnce) {
      // The same as the loop below, with one listener: at once (a microtask later, as a resolved
      // wait resumes) the first time in a turn, at the next turn after that (once however many).
      let queued = false;
      let deferred = false;
      const kickAll = (): void => {
        queued = deferred = false;
        if (stop.signal.aborted) return;
        if (!kicked) {
          kicked = true;
          setImmediate(endOfTurn);
        }
        for (const g of this.groups.values()) g.kick();
      };
      const unsubscribe = onChanged.call(this.source, () => {
        if (!kicked) {
          if (!queued) {
            queued = true;
            queueMicrotask(kickAll);
          }
        } else if (!deferred) {
          deferred = true;
          setImmediate(kickAll);
        }
      });
      stop.signal.addEventListener('abort', unsubscribe, { once: true });
      return;
    }
    void (async () => {
      while (!stop.signal.aborted) {
        await this.source.feed.changed(stop.signal);
        if (stop.signal.aborted) return;
        // At once where the store tells of a group commit once, when it landed (one per database
        // and turn): waiting for the next turn only added a turn of everything else's work (every
        // socket's reads, every other callback) to every change's latency. A second change in the
        // same turn waits for the next one (reads that land meanwhile are coalesced by the
        // groups), so a feed that answers at once (a closed store does) cannot spin.
        if (kicked || !this.source.wakesOnce) await new Promise<void>((resolve) => setImmediate(resolve));
        if (stop.signal.aborted) return;
        if (!kicked) {
          kicked = true;
          setImmediate(endOfTurn);
        }
        for (const g of this.groups.values()) g.kick();
      }
    })();
  }

  private join(read: ReadFilter | undefined): Group {
    const key = filterKey(read);
    let g = this.groups.get(key);
    if (!g) {
      this.watch(); // before the group reads its starting version: no change between is missed
      this.groups.set(key, (g = new Group(this, read)));
    }
    return g;
  }

  private leave(g: Group, me: { at: number }): void {
    g.positions.delete(me);
    if (g.positions.size > 0) return;
    g.close();
    for (const [k, v] of this.groups) if (v === g) this.groups.delete(k);
    if (this.groups.size === 0) {
      this.watching?.abort();
      this.watching = undefined;
    }
  }

  /**
   * Sends the database's changes after `since` to one follower, as {@link sendFeed} does (batches,
   * then caught-up; when following, again on every change, and caught-up now and then when idle);
   * returns the last version sent. A follower that negotiated `batch-caught-up` (options.features)
   * is sent a wake's last batch and the caught-up after it as one frame, and so the last batch of its
   * catch-up read from the store.
   */
  async send(channel: FrameChannel, since: number, options: SendOptions): Promise<number> {
    const { signal } = options;
    const g = this.join(options.read);
    const me = { at: since };
    g.positions.add(me);
    let waiter: Waiter | undefined;
    const site = siteKey(options.exceptSite);
    const pair = options.features?.includes(FEATURE_BATCH_CAUGHT_UP) === true;
    try {
      for (;;) {
        if (!g.initialized) await g.ready;
        if (signal.aborted) return since;
        /** The caught-up to send after the batches; undefined once it went with the last one. */
        let caughtUp: Uint8Array | undefined;
        if (since < g.since) {
          // Before the group's frames: read the store, for this follower alone (paired, its last
          // batch carries the caught-up; a read with no batch still ends with a plain one).
          const read = await this.fromStore(channel, since, options, pair);
          since = read.version;
          if (signal.aborted) return since;
          caughtUp = read.paired ? undefined : encodeMessage({ type: 'caught-up', version: since });
        } else {
          const until = g.until;
          const shared = g.caughtUp;
          const outs = g.after(since, site);
          // Paired, the last batch carries the caught-up (the group's, at `until`: frames exist only up to it).
          const last = pair && until >= since ? outs.length - 1 : -1;
          for (let i = 0; i < outs.length; i++) {
            const o = outs[i]!;
            await channel.send(i === last ? g.paired(o.frame, until) : o.frame, { shared: o.shared, signal });
            if (signal.aborted) return since;
            options.onBatch?.(o.changes, o.version);
          }
          if (until >= since) {
            caughtUp = last >= 0 ? undefined : shared;
            since = until;
          } else caughtUp = encodeMessage({ type: 'caught-up', version: since }); // ahead of the group (it read the store)
        }
        if (caughtUp !== undefined) await channel.send(caughtUp, { shared: true, signal });
        options.onCaughtUp?.(since);
        me.at = since;
        if (!options.follow) return since;
        await g.next(since, (waiter ??= new Waiter(signal, options.keepAliveMs ?? KEEPALIVE_MS)), signal);
        if (signal.aborted) return since;
      }
    } finally {
      if (waiter) {
        waiter.dispose();
        g.forget(waiter);
      }
      this.leave(g, me);
    }
  }

  /**
   * One follower's read of the store (the sender's loop, once): batches after `since`; returns the
   * version reached, and whether the last batch went paired with the caught-up at that version
   * (`pair`: the follower negotiated `batch-caught-up`). Paired, each batch is held until the next
   * one with changes comes (or the read ends), so the last can carry the caught-up: one message per
   * catch-up fewer, the caught-up's version exactly the one sent alone otherwise.
   */
  private async fromStore(channel: FrameChannel, since: number, options: SendOptions, pair: boolean): Promise<{ version: number; paired: boolean }> {
    this.stats.followerReads++;
    const { signal } = options;
    let last = since;
    let held: { frame: Uint8Array; changes: number; version: number } | undefined;
    const sendOut = async (frame: Uint8Array, changes: number, version: number): Promise<void> => {
      await channel.send(frame, { shared: true, signal });
      options.onBatch?.(changes, version);
    };
    for await (const b of this.source.feed.batches(since, { exceptSite: options.exceptSite, ...(options.read ? { read: options.read } : {}) })) {
      if (signal.aborted) return { version: since, paired: false };
      if (b.changes.length > 0) {
        const frame = this.encode(b);
        if (pair) {
          if (held) await sendOut(held.frame, held.changes, held.version);
          held = { frame, changes: b.changes.length, version: b.version };
        } else await sendOut(frame, b.changes.length, b.version);
      }
      if (b.complete) last = Math.max(last, b.version);
    }
    if (held === undefined) return { version: last, paired: false };
    // Aborted before the last batch went: as if aborted in the read (nothing past `since` is claimed sent).
    if (signal.aborted) return { version: since, paired: false };
    this.stats.paired++;
    await sendOut(pairWithCaughtUp(held.frame, last), held.changes, held.version);
    return { version: last, paired: true };
  }
}

const fanouts = new WeakMap<FanoutSource, Fanout>();

/** The fan-out of a hosted database (one per database object: every session of it shares it). */
export function fanoutOf(db: FanoutSource): Fanout {
  let f = fanouts.get(db);
  if (!f) fanouts.set(db, (f = new Fanout(db)));
  return f;
}
