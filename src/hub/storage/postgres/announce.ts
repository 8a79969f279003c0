/**
 * The change notifications a hub process sends other hub processes (`NOTIFY <channel>,
 * '<database> <version>'`), sent after the merges' COMMITs rather than in their transactions.
 *
 * Why after: PostgreSQL lets one transaction that notified commit at a time, holding a
 * cluster-wide lock from before its commit record until its WAL flush is done (async.c,
 * PreCommit_Notify), so merges that notified never shared a WAL flush — each waited for the
 * flushes of all ahead of it. Sent here, in a statement of their own that writes nothing (its commit
 * needs no flush), the lock is held for microseconds and the merges' commits share flushes.
 *
 * What that gives up — a notification sent exactly when its merge commits — the store's poll makes
 * good (store.ts): a hub killed between its COMMIT and this statement, or a notification lost
 * otherwise, delays other hubs' followers by at most the poll's interval, never loses a change.
 *
 * Batched: what commits in one turn of the event loop goes in one statement (one notification per
 * database, its newest version), one statement at a time; what commits meanwhile goes in the next.
 */
import type { Sql } from 'postgres';

/** Sends `<database> <version>` notifications on `channel`, batched (see the file comment). */
export class Announcer {
  private readonly sql: Sql;
  private readonly channel: string;
  /** Per database, the newest committed version not yet sent. */
  private pending = new Map<string, number>();
  /** The statement in flight (or scheduled), if any: resolves once it is answered or failed. */
  private sending: Promise<void> | undefined;
  private readonly onError: (err: unknown) => void;

  constructor(sql: Sql, channel: string, onError: (err: unknown) => void = () => {}) {
    this.sql = sql;
    this.channel = channel;
    this.onError = onError;
  }

  /** `name` is at `version`, committed: other hub processes are told at this turn's end at the earliest. */
  announce(name: string, version: number): void {
    if (!(version <= (this.pending.get(name) ?? -Infinity))) this.pending.set(name, version);
    this.sending ??= this.send();
  }

  /** Resolves once everything announced so far was sent (or failed to send). */
  async flushed(): Promise<void> {
    while (this.sending) await this.sending;
  }

  private async send(): Promise<void> {
    // Waits for this turn of the event loop: what else commits in it goes in the same statement.
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (this.pending.size > 0) {
      const batch = this.pending;
      this.pending = new Map();
      try {
        await this.sql.unsafe(`SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p`, [this.channel, this.sql.array([...batch].map(([name, v]) => `${name} ${v}`) as never[], 1009)]);
      } catch (err) {
        // Not retried: other hubs' polls find the versions it would have told (store.ts).
        this.onError(err);
      }
    }
    this.sending = undefined;
  }
}
