/**
 * Rows that certainly have no key here, known without asking SQLite. When a table's key map was empty
 * as a merge began, only rows the merge itself wrote have keys; for a table keyed by its rowid alone
 * (integers only, so SQLite's equality is the integers'), a row whose key lies outside the range of
 * keys the merge has seen so far is new. Rows usually arrive in key order (a peer's inserts), so an
 * initial sync skips nearly every key lookup. Conservative: a key inside the range is looked up.
 */
import type { SqlValue } from './sqlite.ts';

export class KeyRange {
  private min: bigint | undefined;
  private max: bigint | undefined;
  private readonly active: boolean;

  /** `active`: the table is keyed by its rowid alone and its key map was empty before the merge wrote. */
  constructor(active: boolean) {
    this.active = active;
  }

  /** Whether the row with this key certainly has no key here yet. */
  unseen(pk: readonly SqlValue[]): boolean {
    if (!this.active) return false;
    const v = pk[0] as bigint;
    return this.min === undefined || v < this.min || v > this.max!;
  }

  /** Notes a row the merge may write (before it is written). */
  see(pk: readonly SqlValue[]): void {
    if (!this.active) return;
    const v = pk[0] as bigint;
    if (this.min === undefined || v < this.min) this.min = v;
    if (this.max === undefined || v > this.max) this.max = v;
  }
}
