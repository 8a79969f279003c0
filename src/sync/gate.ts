/**
 * The gate: the one place that decides whether changes fit our schema and what a peer may read and
 * write. Every inbound door (fetch/follow, push received, bundle apply, `ddcp apply`, the library on
 * behalf of a peer) passes it before anything is applied; every serving side asks it for the peer's
 * read filter.
 */
import type { Change, ApplyOptions, ApplyResult, Engine, ReadFilter, RowRule, WriteGuard, Refusal } from '../engine/index.ts';
import { ChangeError, SENTINEL, type TableInfo } from '../engine/index.ts';
import { toHex } from '../base/hex.ts';
import { DEFAULT_POLICY, formatRule, PEER_PARAMETER, type PeerPolicy, type TableRule } from './policy.ts';

/**
 * Why changes made under `theirs` would not fit `ours`, or undefined if they do: every table of
 * theirs must be a CRR here with the same primary key, and every column of theirs must exist here
 * (we may have more columns: a peer that hasn't migrated yet still syncs).
 */
export function schemaMismatch(ours: readonly TableInfo[], theirs: readonly TableInfo[]): string | undefined {
  const mine = new Map(ours.map((t) => [t.name, t]));
  for (const t of theirs) {
    const m = mine.get(t.name);
    if (!m) return `table ${t.name} is not a CRR here`;
    const keys = keyMismatch(m, t);
    if (keys) return keys;
    const cols = new Set(m.columns);
    const missing = t.columns.filter((c) => !cols.has(c));
    if (missing.length > 0) return `table ${t.name} lacks column${missing.length > 1 ? 's' : ''} ${missing.join(', ')} here`;
  }
  return undefined;
}

/** Why a table of theirs has another primary key than ours, or undefined. */
export function keyMismatch(ours: TableInfo, theirs: Pick<TableInfo, 'name' | 'pks'>): string | undefined {
  if (ours.pks.join('\0') === theirs.pks.join('\0')) return undefined;
  return `table ${theirs.name} has primary key (${theirs.pks.join(', ')}) there, (${ours.pks.join(', ')}) here`;
}

/** What about a change doesn't fit our schema: its table, or (with `column`) its column. */
export interface Misfit {
  table: string;
  column?: string;
}

/** A misfit in words: `no CRR table T here` / `table T has no column c here`. */
export function misfitText(m: Misfit): string {
  return m.column === undefined ? `no CRR table ${m.table} here` : `table ${m.table} has no column ${m.column} here`;
}

/**
 * A check of single changes against our schema: what doesn't fit (its table is not a CRR here, or its
 * column is missing here), or undefined. Cheap on runs of the same table and column.
 */
export function changeFit(ours: readonly TableInfo[]): (c: Pick<Change, 'table' | 'cid'>) => Misfit | undefined {
  const tables = new Map(ours.map((t) => [t.name, new Set(t.columns)]));
  let lastTable: string | undefined;
  let lastCid: string | undefined;
  return (c) => {
    if (c.table === lastTable && c.cid === lastCid) return undefined;
    const cols = tables.get(c.table);
    if (!cols) return { table: c.table };
    if (c.cid !== SENTINEL && !cols.has(c.cid)) return { table: c.table, column: c.cid };
    lastTable = c.table;
    lastCid = c.cid;
    return undefined;
  };
}

/**
 * {@link changeFit} against a schema that may grow while a session runs (a table made a CRR, a column
 * added since it began): a change that doesn't fit is checked once more against `schema()` now.
 */
export function growingFit(schema: () => readonly TableInfo[]): (c: Pick<Change, 'table' | 'cid'>) => Misfit | undefined {
  let fits = changeFit(schema());
  return (c) => {
    if (!fits(c)) return undefined;
    fits = changeFit(schema());
    return fits(c);
  };
}

/** Changes that don't fit our schema (see {@link changeFit}). */
export class SchemaFitError extends ChangeError {
  override name = 'SchemaFitError';
  /** The table (and column) that doesn't fit. */
  readonly misfit: Misfit;
  constructor(message: string, misfit: Misfit) {
    super(message);
    this.misfit = misfit;
  }
}

/** How often {@link fitting} reports progress (changes). */
export const PROGRESS_EVERY = 10_000;

/**
 * Passes `changes` on, throwing {@link SchemaFitError} at the first that doesn't fit `ours`;
 * `onProgress` hears how many passed every {@link PROGRESS_EVERY} (when the next is asked for). A
 * plain iterator, one result object reused, not a generator: a merge pulls every change through it,
 * and resuming a generator per change cost ~10 ms per 300,000 changes (more in a command's one cold
 * pass). Stopped early (`return()`), it stops `changes` too, as a generator's loop would.
 */
export function fitting(changes: Iterable<Change>, ours: readonly TableInfo[], context = 'change', onProgress?: (done: number) => void): IterableIterator<Change> {
  return new Fitting(changes[Symbol.iterator](), changeFit(ours), context, onProgress);
}

class Fitting implements IterableIterator<Change> {
  private readonly inner: Iterator<Change>;
  private readonly fit: (c: Pick<Change, 'table' | 'cid'>) => Misfit | undefined;
  private readonly context: string;
  private readonly onProgress: ((done: number) => void) | undefined;
  private n = 0;
  private finished = false;
  private readonly result: { done: boolean; value: Change | undefined } = { done: false, value: undefined };

  constructor(inner: Iterator<Change>, fit: (c: Pick<Change, 'table' | 'cid'>) => Misfit | undefined, context: string, onProgress: ((done: number) => void) | undefined) {
    this.inner = inner;
    this.fit = fit;
    this.context = context;
    this.onProgress = onProgress;
  }

  [Symbol.iterator](): this {
    return this;
  }

  next(): IteratorResult<Change> {
    const result = this.result;
    if (this.finished) return this.done();
    if (this.onProgress !== undefined && this.n > 0 && this.n % PROGRESS_EVERY === 0) this.onProgress(this.n);
    let r: IteratorResult<Change>;
    try {
      r = this.inner.next();
    } catch (err) {
      this.finished = true;
      throw err;
    }
    if (r.done) return this.done();
    const c = r.value;
    const n = ++this.n;
    const m = typeof c === 'object' && c !== null && typeof c.table === 'string' ? this.fit(c) : undefined;
    if (m) {
      this.return();
      throw new SchemaFitError(`${this.context} ${n}: ${misfitText(m)} (schemas differ?)`, m);
    }
    result.value = c;
    return result as IteratorResult<Change>;
  }

  return(): IteratorResult<Change> {
    if (!this.finished) {
      this.finished = true;
      this.inner.return?.();
    }
    return this.done();
  }

  private done(): IteratorResult<Change> {
    this.finished = true;
    const result = this.result;
    result.done = true;
    result.value = undefined;
    return result as IteratorResult<Change>;
  }
}

const toRowRules = (rules: readonly TableRule[]): RowRule[] =>
  rules.map((r) => ({ table: r.table, ...(r.columns ? { columns: r.columns } : {}), ...(r.where !== undefined ? { where: r.where } : {}), label: formatRule(r) }));

/** The engine's read filter for a policy and the peer's address (undefined: everything). */
export function readFilterOf(policy: PeerPolicy, peer: string): ReadFilter | undefined {
  if (policy.read === 'all') return undefined;
  return { rules: toRowRules(policy.read), params: { [PEER_PARAMETER]: peer } };
}

/** The engine's write guard for a policy and the peer's address (undefined: everything allowed). */
export function writeGuardOf(policy: PeerPolicy, peer: string): WriteGuard | undefined {
  if (policy.write === 'all') return undefined;
  return { rules: policy.write === 'none' ? [] : toRowRules(policy.write), params: { [PEER_PARAMETER]: peer } };
}

/** One line naming a refused source transaction: origin, version, table, key, rule and why. */
export function refusalText(r: Refusal): string {
  return `refused transaction ${toHex(r.siteId).slice(0, 12)}…@${r.dbVersion} (table ${r.table}, rule ${r.rule}): ${r.message}`;
}

/** Where the gate learns each peer's policy (the repository's config, or an app's own). */
export type PolicyLookup = (peer: string) => PeerPolicy;

export interface AdmitOptions extends Pick<ApplyOptions, 'source' | 'trackPeer' | 'direct' | 'bind' | 'report' | 'inCallerTransaction'> {
  /** The peer the changes come from; its write policy applies. Omitted: our own input (no policy). */
  peer?: string;
  /** Names the input in schema errors (`change`, `line`…). */
  context?: string;
  /** Hears how many changes were read, every {@link PROGRESS_EVERY}. */
  onProgress?: (done: number) => void;
}

/** Schema fit and policy, for every door. */
export class Gate {
  /** A gate for a peer nobody set a policy for: it reads everything and writes nothing. */
  static readonly default = new Gate(() => DEFAULT_POLICY);

  private readonly policyFor: PolicyLookup;
  constructor(policyFor: PolicyLookup) {
    this.policyFor = policyFor;
  }

  /** The peer's policy. */
  policy(peer: string): PeerPolicy {
    return this.policyFor(peer);
  }

  /** The read filter for this peer (undefined: everything). Passed to the feed. */
  readFilter(peer: string): ReadFilter | undefined {
    return readFilterOf(this.policyFor(peer), peer);
  }

  /** The write guard for this peer (undefined: it may write everything). A store that merges without an Engine applies it itself. */
  writeGuard(peer: string): WriteGuard | undefined {
    return writeGuardOf(this.policyFor(peer), peer);
  }

  /** Whether the peer may write anything at all (a push from one that may not is refused up front). */
  mayWrite(peer: string): boolean {
    const w = this.policyFor(peer).write;
    return w !== 'none' && (w === 'all' || w.length > 0);
  }

  /** Why a peer's schema doesn't fit ours, or undefined. */
  schemaMismatch(ours: readonly TableInfo[], theirs: readonly TableInfo[]): string | undefined {
    return schemaMismatch(ours, theirs);
  }

  /**
   * Applies changes through the gate — the one call every inbound door makes (fetch/follow merges,
   * received pushes, bundles, `ddcp apply`): each must fit our schema (else {@link SchemaFitError},
   * nothing applied), and with a `peer`, its write policy decides per source transaction (refusals
   * are in the result's `refused`; see {@link refusalText}).
   */
  admit(engine: Engine, changes: Iterable<Change>, options: AdmitOptions = {}): ApplyResult {
    const { peer, context, onProgress, ...apply } = options;
    const write = peer === undefined ? undefined : this.writeGuard(peer);
    return engine.applyChanges(fitting(changes, engine.crrs(), context, onProgress), { ...apply, ...(write ? { write } : {}) });
  }
}
