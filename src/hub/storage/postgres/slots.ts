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
