/**
 * A counting semaphore for the pool's connections that merges reserve. A merge holds a reserved
 * connection for its whole transaction (several round trips); with as many databases merging as the
 * pool has connections, every other statement — the fan-out's read of what a merge just committed,
 * a session's tracked version, a caught-up — waited in the pool's queue behind whole transactions,
 * which made a committed change reach its followers hundreds of ms late under load. Merges take at
 * most `n` connections, so the rest of the pool always serves the short statements.
 */
export class Slots {
  private free: number;
  private readonly waiting: (() => void)[] = [];

  constructor(n: number) {
    this.free = Math.max(1, Math.floor(n));
  }

  /** Resolves once a slot is held (in the order asked); give it back with {@link release}. */
  acquire(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.free++;
  }
}

/** A turn to merge, from {@link MergeTurns.take}: the slot, and the items taken along. */
export interface Turn<T> {
  /** Items that waited for a slot, merged in this turn's transaction too. */
  along: T[];
  /** The turn's transaction is over: the items taken along go on, and the slot goes to the next. */
  done(): void;
}

/**
 * Merge slots (as {@link Slots}) for which databases queue, and a database that gets one takes up
 * to `together − 1` of those still waiting along: their groups go in its transaction, so the hub
 * shares the round trips, the wake-ups and the commit of one PostgreSQL transaction among several
 * databases' groups rather than running one per database.
 *
 * Turns are handed out once per turn of the event loop (at its `setImmediate`), not at each ask:
 * the databases whose pushes were read in one turn (one poll of every socket) then share one
 * transaction even while slots are free. Handing a free slot out at the ask gave each of them a
 * transaction of its own below saturation — nearly one per change at 250–1,000 changes/s over 100
 * databases, each a WAL flush that notifying commits take one at a time (see MERGE_SLOTS in
 * store.ts) and ~0.6–0.8 ms of PostgreSQL's CPU on the cores the hub shares. A turn that ends
 * hands the slot on at once (those waiting asked a turn ago).
 */
export class MergeTurns<T> {
  private free: number;
  private readonly together: number;
  private readonly waiting: { item: T; resolve(turn: Turn<T> | undefined): void }[] = [];
  /** Whether this turn of the event loop's asks are handed out at its setImmediate already. */
  private scheduled = false;

  constructor(slots: number, together: number) {
    this.free = Math.max(1, Math.floor(slots));
    this.together = Math.max(1, Math.floor(together));
  }

  /**
   * Resolves with a turn once `item` holds a slot (in the order asked; at the earliest at this turn
   * of the event loop's `setImmediate`), or undefined once another item's turn took it along and
   * that turn is done.
   */
  take(item: T): Promise<Turn<T> | undefined> {
    return new Promise((resolve) => {
      this.waiting.push({ item, resolve });
      if (this.scheduled) return;
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        this.next();
      });
    });
  }

  private next(): void {
    while (this.free > 0 && this.waiting.length > 0) {
      this.free--;
      const first = this.waiting.shift()!;
      const along = this.waiting.splice(0, this.together - 1);
      first.resolve({
        along: along.map((w) => w.item),
        done: () => {
          for (const w of along) w.resolve(undefined);
          this.free++;
          this.next();
        },
      });
    }
  }
}
