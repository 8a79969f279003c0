/**
 * Rows that certainly have no key here, known without asking SQLite. For a table keyed by its rowid
 * alone (integers only, so SQLite's equality is the integers'), the key map's smallest and greatest
 * keys as a merge begins, widened by every key the merge meets, bound the keys that can exist: a row
 * whose key lies outside is new here. Rows usually arrive in key order (a peer's inserts), so an
 * initial sync, or a sync of rows added since the last one, skips nearly every key lookup.
 * Conservative: a key inside the range is looked up.
 */
import { keepHiddenClasses } from '../base/hidden-classes.ts';
import type { SqlValue } from './sqlite.ts';

export class KeyRange {
  private min: bigint | undefined;
  private max: bigint | undefined;
  private readonly active: boolean;

  /**
   * `bounds`: the least and greatest key in the key map of a table keyed by its rowid alone, `null`
   * if the key map is empty; undefined when the range can't be used (another kind of key).
   */
  constructor(bounds: readonly [bigint, bigint] | null | undefined) {
    this.active = bounds !== undefined;
    if (bounds) [this.min, this.max] = bounds;
  }

  /**
   * Whether the row with this key certainly has no key here yet; and notes it, as a row the merge
   * may write (before it is written). One comparison for a key above every other, the common case.
   */
  meet(pk: readonly SqlValue[]): boolean {
    if (!this.active) return false;
    const v = pk[0] as bigint;
    if (this.min === undefined) {
      this.min = this.max = v;
      return true;
    }
    if (v > this.max!) {
      this.max = v;
      return true;
    }
    if (v < this.min) {
      this.min = v;
      return true;
    }
    return false;
  }
}

// Every merge makes one per table and drops it (hidden-classes.ts).
keepHiddenClasses(new KeyRange(undefined));
