/**
 * One CRR table at run time: the prepared statements that read and write its rows, key map and
 * clocks. Merge and seal decide with the pure rules in `rules.ts`; this file only moves state.
 */
import { crrNames, keyMapKeyedByRowid, type CrrNames } from './names.ts';
import { RowState, type CellClock, type RowEffects } from './rules.ts';
import type { TableInfo } from './schema.ts';
import { encodeRow, K, KEY_CLOCK_COLUMNS } from './layout.ts';
import { ident, type SqlValue, type SqliteConnection, type Statement } from './sqlite.ts';
import { dropTriggersSql, trackingSql } from './triggers.ts';
import { inFlatGroups, inGroups, placeholders, RowBatch, StatementCache } from './bulk.ts';
import { int64 } from '../base/int64.ts';
import { KeyCheck, keyColumns } from './keys.ts';
import { AffinityProbe, columnAffinities, type Affinity } from './affinity.ts';
import { NewRowColumns, type NewRow, type NewRowShape } from './new-rows.ts';
import { exactValue } from './exact-text.ts';
import { textBytes } from './text-bytes.ts';

/** One row in a bulk load/save: its primary key, and after loading its key and clocks. */
export interface RowEntry {
  pk: SqlValue[];
  /** The key-map key: a number, or the key itself (a bigint) in a key map keyed by the rowid alias. */
  key: number | bigint | undefined;
  row: RowState;
  /** Merge effects on the table row, if any. */
  fx?: RowEffects;
  /** The row had overrides stored (layout.ts) when it was loaded. */
  overrides?: boolean;
  /** A row new here decided in bulk (new-rows.ts): written from this instead of `row` and `fx`. */
  fresh?: NewRow;
}

/** Rows per multi-row statement. */
const GROUP = 64;

type Row = SqlValue[];

/** A clock's four columns (col_version, db_version, site, seq), or four NULLs for none. */
function putClock(b: RowBatch, c: CellClock | undefined): void {
  if (c) {
    b.put(c.colVersion);
    b.put(c.dbVersion);
    b.put(c.site);
    b.put(c.seq);
  } else {
    b.put(null);
    b.put(null);
    b.put(null);
    b.put(null);
  }
}

/** A sentinels-table row: the row's key and its sentinel clock. */
function putSentinel(b: RowBatch, key: number | bigint, c: CellClock): void {
  b.put(key);
  putClock(b, c);
  b.endRow();
}

/** An override row marking a column that has no clock (layout.ts). */
function putMarker(cells: RowBatch, key: number | bigint, cid: string): void {
  cells.put(key);
  cells.put(cid);
  cells.put(null);
  cells.put(0);
  cells.put(0);
  cells.put(0);
  cells.endRow();
}

function prepareBig(db: SqliteConnection, sql: string): Statement {
  const s = db.prepare(sql);
  s.setReadBigInts(true);
  s.setReturnArrays(true);
  return s;
}

export class CrrTable {
  readonly names: CrrNames;
  readonly columnSet: ReadonlySet<string>;
  private readonly t: string;
  private readonly pkWhere: string;
  private readonly deleteRow: Statement;
  private readonly bulkUpserts = new Map<string, StatementCache>();
  private readonly keysOf: StatementCache;
  private readonly keysOfBare: StatementCache;
  private readonly anySentinel: Statement;
  private readonly rowsOf: StatementCache;
  private readonly overridesOfMany: StatementCache;
  private readonly deleteOverrides: StatementCache;
  private readonly lastKey: Statement;
  private readonly keyBoundsStmt: Statement | undefined;
  private readonly upsertKeys: StatementCache;
  private readonly insertRowClocks: StatementCache;
  private readonly upsertSentinels: StatementCache;
  private readonly insertOverrides: StatementCache;
  private readonly ensureRows: StatementCache;
  private readonly valueReads = new Map<string, Statement>();
  private readonly rawTextWrites = new Map<string, Statement>();
  private clearLogStmt: Statement | undefined;

  private readonly db: SqliteConnection;
  readonly info: TableInfo;
  /** Whether a key from a peer is what SQLite would store in the key columns (keys.ts). */
  readonly keys: KeyCheck;
  /** The columns as merge's bulk decision of new rows needs them. */
  readonly newRows: NewRowColumns;
  /** The affinity of each column (`info.columns` order): a value from a peer is merged as SQLite would store it (affinity.ts). */
  private readonly affinities: readonly Affinity[];
  private readonly probe: AffinityProbe;
  /** The table is keyed by its rowid alone (an INTEGER PRIMARY KEY): keys are integers, compared as such. */
  readonly rowidKey: boolean;
  /** Key columns the key map stores beside `__key` (none when keyed by the rowid alias). */
  private readonly kmPks: number;

  /**
   * The table has tracking triggers (false: a merge-only engine's, EngineOptions.mergeOnly): a merge's
   * own writes are logged, to be cleared after, and a large merge suspends them.
   */
  readonly tracked: boolean;

  constructor(db: SqliteConnection, info: TableInfo, tracked = true) {
    this.db = db;
    this.tracked = tracked;
    this.info = info;
    const n = (this.names = crrNames(info.name, keyMapKeyedByRowid(db, info.name)));
    this.columnSet = new Set(info.columns);
    this.newRows = new NewRowColumns(info.columns);
    const keyCols = keyColumns(db, info.name);
    this.keys = new KeyCheck(db, keyCols);
    this.affinities = columnAffinities(db, info.name, info.columns);
    this.probe = new AffinityProbe(db);
    this.rowidKey = keyCols.length === 1 && keyCols[0]!.rowid;
    this.t = ident(info.name);
    const pkList = info.pks.map(ident).join(', ');
    this.pkWhere = info.pks.map((p) => `${ident(p)} = ?`).join(' AND ');
    this.deleteRow = db.prepare(`DELETE FROM ${this.t} WHERE ${this.pkWhere}`);
    const nk = info.pks.length;
    const qJoin = info.pks.map((p, i) => `k.${n.pkCol(p)} = v.column${i + 2}`).join(' AND ');
    // Look keys up by position in a VALUES list, so SQLite's own equality decides (1 = 1.0); CROSS
    // JOIN keeps the planner from scanning the key table instead.
    const kc = KEY_CLOCK_COLUMNS.map((c) => `k.${c}`).join(', ');
    this.keysOf = new StatementCache(
      db,
      (rows) => `SELECT v.column1, k.__key, s.cl, s.db_version, s.site, s.seq, ${kc} FROM (VALUES ${placeholders(rows, nk + 1)}) v CROSS JOIN ${n.pks} k ON ${qJoin}
       LEFT JOIN ${n.sentinels} s ON s.key = k.__key`,
      true,
    );
    // The same without the sentinels' lookup, for a table that has none (never deleted from: the
    // common case, where the join would cost a step down an empty B-tree per row).
    this.keysOfBare = new StatementCache(
      db,
      (rows) => `SELECT v.column1, k.__key, NULL, NULL, NULL, NULL, ${kc} FROM (VALUES ${placeholders(rows, nk + 1)}) v CROSS JOIN ${n.pks} k ON ${qJoin}`,
      true,
    );
    this.anySentinel = db.prepare(`SELECT 1 FROM ${n.sentinels} LIMIT 1`);
    const list = (rows: number): string => Array.from({ length: rows }, () => '?').join(', ');
    this.overridesOfMany = new StatementCache(db, (rows) => `SELECT key, cid, col_version, db_version, site, seq FROM ${n.cells} WHERE key IN (${list(rows)})`, true);
    this.deleteOverrides = new StatementCache(db, (rows) => `DELETE FROM ${n.cells} WHERE key IN (${list(rows)})`);
    const tJoin = info.pks.map((p, i) => `t.${ident(p)} = v.column${i + 2}`).join(' AND ');
    const tCols = info.columns.map((c) => `t.${ident(c)}`).join(', ');
    this.rowsOf = new StatementCache(db, (rows) => `SELECT v.column1, ${tCols} FROM (VALUES ${placeholders(rows, nk + 1)}) v CROSS JOIN ${this.t} t ON ${tJoin}`, true);
    this.lastKey = db.prepare(`SELECT max(__key) FROM ${n.pks}`);
    this.lastKey.setReadBigInts(true);
    this.lastKey.setReturnArrays(true);
    // Two subqueries: each is one step down the key's index (min and max together would scan).
    const kmKey = n.rowidKeyed ? '' : `${info.pks.map((p) => n.pkCol(p)).join(', ')}, `;
    if (this.rowidKey) this.keyBoundsStmt = prepareBig(db, `SELECT (SELECT min(${n.pkCol(info.pks[0]!)}) FROM ${n.pks}), (SELECT max(${n.pkCol(info.pks[0]!)}) FROM ${n.pks})`);
    // A key map keyed by the rowid alias takes the key as `__key` alone (no copy of it).
    this.kmPks = n.rowidKeyed ? 0 : nk;
    // The writes below (and the table's upserts in saveMany) are `INSERT OR FAIL`: a statement that
    // writes several rows, or fires triggers, and may abort on a constraint (a key's NOT NULL, a key
    // map's UNIQUE key, the table's CHECKs) gets a statement journal from SQLite — each page it
    // touches copied first, spilled to a temporary file past 64 KiB — so that ABORT can undo it
    // alone. No caller needs that: every merge and seal runs in a transaction or savepoint that is
    // rolled back whole when a statement fails (merge-abort.test.ts), and OR FAIL only leaves the
    // failed statement's earlier rows for that rollback. (An upsert's DO UPDATE part is always
    // ABORT: a NOT NULL or CHECK column it sets still gets the journal.)
    this.upsertKeys = new StatementCache(
      db,
      (rows) => `INSERT OR FAIL INTO ${n.pks} (__key, ${kmKey}${KEY_CLOCK_COLUMNS.join(', ')}) VALUES ${placeholders(rows, this.kmPks + 5)}
       ON CONFLICT (__key) DO UPDATE SET ${KEY_CLOCK_COLUMNS.map((c) => `${c} = excluded.${c}`).join(', ')}`,
    );
    this.upsertSentinels = new StatementCache(
      db,
      (rows) => `INSERT OR FAIL INTO ${n.sentinels} (key, cl, db_version, site, seq) VALUES ${placeholders(rows, 5)}
       ON CONFLICT (key) DO UPDATE SET cl = excluded.cl, db_version = excluded.db_version, site = excluded.site, seq = excluded.seq`,
    );
    this.insertRowClocks = new StatementCache(db, (rows) => `INSERT OR FAIL INTO ${n.pks} (__key, ${kmKey}${K.cv}, ${K.dbv}, ${K.site}, ${K.seq}) VALUES ${placeholders(rows, this.kmPks + 5)}`);
    this.insertOverrides = new StatementCache(db, (rows) => `INSERT OR FAIL INTO ${n.cells} (key, cid, col_version, db_version, site, seq) VALUES ${placeholders(rows, 6)}`);
    this.ensureRows = new StatementCache(db, (rows) => `INSERT OR FAIL INTO ${this.t} (${pkList}) VALUES ${placeholders(rows, nk)} ON CONFLICT DO NOTHING`);
  }

  /**
   * For a table keyed by its rowid alone: the least and greatest key in the key map (null if it is
   * empty). Undefined for other tables, or if the key map holds anything but integers there.
   */
  keyBounds(): [bigint, bigint] | null | undefined {
    if (!this.keyBoundsStmt) return undefined;
    const [min, max] = this.keyBoundsStmt.get() as [SqlValue, SqlValue];
    if (min === null && max === null) return null;
    return typeof min === 'bigint' && typeof max === 'bigint' ? [min, max] : undefined;
  }

  /** Loads the keys and clocks of many rows at once (entries come back in the same order). */
  loadMany(pks: SqlValue[][]): RowEntry[] {
    const entries: RowEntry[] = pks.map((pk) => ({ pk, key: undefined, row: new RowState() }));
    this.loadInto(entries);
    return entries;
  }

  /**
   * {@link loadMany} into entries the caller made (their `pk`s): each gets a new clock state, and a
   * key, clocks and `overrides` if the row has a key here.
   */
  loadInto(entries: readonly RowEntry[]): void {
    for (const e of entries) {
      e.key = undefined;
      e.row = new RowState();
    }
    const lookups: SqlValue[] = [];
    entries.forEach((e, i) => void lookups.push(BigInt(i), ...e.pk));
    const columns = this.info.columns;
    const rowidKeyed = this.names.rowidKeyed;
    const keysOf = this.anySentinel.get() === undefined ? this.keysOfBare : this.keysOf;
    inFlatGroups(lookups, this.info.pks.length + 1, GROUP, keysOf, (s, p) => {
      for (const r of s.iterate(...p) as Iterable<(bigint | null)[]>) {
        const e = entries[Number(r[0])]!;
        e.key = rowidKeyed ? r[1]! : Number(r[1]);
        if (r[2] !== null) e.row.sentinel = { colVersion: int64(r[2]!), dbVersion: Number(r[3]), site: Number(r[4]), seq: Number(r[5]) };
        if (r[6] !== null) {
          const colVersion = int64(r[6]!);
          const dbVersion = Number(r[7]);
          const site = Number(r[8]);
          const seq = Number(r[9]);
          for (let i = 0; i < columns.length; i++) e.row.cells.set(columns[i]!, { colVersion, dbVersion, site, seq: seq + i });
        }
      }
    });
    const byKey = new Map<number | bigint, RowEntry>();
    for (const e of entries) if (e.key !== undefined) byKey.set(e.key, e);
    inGroups([...byKey.keys()], GROUP, this.overridesOfMany, (k) => [k], (s, p) => {
      for (const r of s.iterate(...p) as Iterable<[bigint, string, bigint | null, bigint, bigint, bigint]>) {
        const e = byKey.get(rowidKeyed ? r[0] : Number(r[0]))!;
        e.overrides = true;
        if (r[2] === null) e.row.cells.delete(r[1]);
        else e.row.cells.set(r[1], { colVersion: int64(r[2]), dbVersion: Number(r[3]), site: Number(r[4]), seq: Number(r[5]) });
      }
    });
  }

  /**
   * Writes many rows' merge effects and changed clocks, a few statements for all of them. One pass
   * over the rows gathers every statement's parameters (table rows, key-map rows, overrides), each
   * statement's rows in the order of `entries`; the statements then run in a fixed order: rows
   * deleted first, rows ensured, upserts by the columns they write, key-map rows, overrides.
   */
  saveMany(entries: readonly RowEntry[]): void {
    const nk = this.info.pks.length;
    const kmPks = this.kmPks;
    const columns = this.info.columns;
    // The table rows: upserts grouped by the columns they write, groups in order of first use.
    const upserts = new Map<string, { cols: readonly string[]; batch: RowBatch }>();
    const ensure: RowEntry[] = [];
    // The key map rows with their row clocks, the sentinels, then the overrides (layout.ts).
    // Sized for the rows given (each writes at most one key-map row and one sentinel; overrides may
    // be more, and grow).
    const rows = entries.length;
    const keys = new RowBatch(kmPks + 5, GROUP, rows);
    const newKeys = new RowBatch(kmPks + 5, GROUP, rows);
    const sentinels = new RowBatch(5, GROUP, rows);
    const cells = new RowBatch(6, GROUP, rows);
    const stale: (number | bigint)[] = [];
    // Texts that aren't valid UTF-8 (escaped, text-bytes.ts), by row key and column: a bound string
    // can't hold their bytes, so they are written again after the upserts, as their bytes.
    const raw: (readonly SqlValue[] | string)[] = [];
    // Keys for rows seen for the first time: the keys SQLite would choose (the greatest so far + 1, in
    // order), given here: no RETURNING to read back and match to rows. (Past 2^53 keys, a bigint;
    // SQLite itself would go random only at 2^63.) The greatest is read before this call writes
    // anything: nothing here writes the key map before its own statement.
    // Keyed by the rowid alias, the key is the row's own (a bigint, as merge and seal give keys).
    let next: number | undefined;
    // Rows new here mostly share one shape: its group is kept at hand.
    let lastShape: NewRowShape | undefined;
    let lastBatch: RowBatch | undefined;
    for (let r = 0; r < entries.length; r++) {
      const e = entries[r]!;
      const fresh = e.fresh;
      if (fresh === undefined && !e.row.dirty) continue;
      const pk = e.pk;
      let key = e.key;
      if (key === undefined) {
        if (kmPks === 0) key = pk[0] as bigint;
        else {
          next ??= Number((this.lastKey.get() as [bigint | null])[0] ?? 0n) + 1;
          if (!Number.isSafeInteger(next)) throw new RangeError(`key map of ${this.info.name} is full`);
          key = next++;
        }
        e.key = key;
      }
      if (fresh) {
        const shape = fresh.shape;
        let batch = lastBatch;
        if (shape !== lastShape) {
          let group = upserts.get(shape.id);
          if (!group) upserts.set(shape.id, (group = { cols: shape.cols, batch: new RowBatch(nk + shape.cols.length, GROUP, rows) }));
          batch = lastBatch = group.batch;
          lastShape = shape;
        }
        for (let i = 0; i < pk.length; i++) batch!.put(pk[i]!);
        const changes = fresh.changes;
        for (let i = fresh.first, end = fresh.first + shape.cols.length; i < end; i++) {
          const v = changes[i]!.val;
          batch!.put(v);
          if (typeof v === 'string' && !v.isWellFormed()) raw.push(pk, shape.cols[i - fresh.first]!, v);
        }
        batch!.endRow();
        // New here: no overrides stored, none but the markers of columns it lacks; a plain insert of
        // the row clock (the key is new: nothing to conflict with), and of its sentinel if any.
        const s = fresh.sentinel;
        newKeys.put(key);
        for (let i = 0; i < kmPks; i++) newKeys.put(pk[i]!);
        putClock(newKeys, fresh.clock);
        newKeys.endRow();
        if (s) putSentinel(sentinels, key, s);
        const markers = shape.markers;
        for (let i = 0; i < markers.length; i++) {
          putMarker(cells, key, markers[i]!);
        }
        e.overrides = markers.length > 0;
        continue;
      }
      const fx = e.fx;
      if (fx) {
        if (fx.deleteFirst) this.deleteRow.run(...pk);
        if (fx.exists) {
          if (fx.values.size === 0) ensure.push(e);
          else {
            const id = [...fx.values.keys()].join('\u0000');
            let group = upserts.get(id);
            if (!group) upserts.set(id, (group = { cols: [...fx.values.keys()], batch: new RowBatch(nk + fx.values.size, GROUP, rows) }));
            const batch = group.batch;
            for (const v of pk) batch.put(v);
            for (const [c, v] of fx.values) {
              batch.put(v);
              if (typeof v === 'string' && !v.isWellFormed()) raw.push(pk, c, v);
            }
            batch.endRow();
          }
        }
      }
      keys.put(key);
      for (let i = 0; i < kmPks; i++) keys.put(pk[i]!);
      const { row, overrides } = encodeRow(columns, e.row.cells);
      putClock(keys, row);
      keys.endRow();
      // A sentinel is never taken away (causal lengths only grow): rows without one have none stored.
      const s = e.row.sentinel;
      if (s) putSentinel(sentinels, key, s);
      if (e.overrides) stale.push(key);
      for (const [cid, c] of overrides) {
        if (c) {
          cells.put(key);
          cells.put(cid);
          putClock(cells, c);
          cells.endRow();
        } else putMarker(cells, key, cid);
      }
      e.overrides = overrides.length > 0;
    }
    inGroups(ensure, GROUP, this.ensureRows, (e) => e.pk, (s, p) => void s.run(...p));
    for (const [id, { cols, batch }] of upserts) {
      let cache = this.bulkUpserts.get(id);
      if (!cache) {
        const all = [...this.info.pks, ...cols].map(ident);
        cache = new StatementCache(
          this.db,
          (n) => `INSERT OR FAIL INTO ${this.t} (${all.join(', ')}) VALUES ${placeholders(n, all.length)}
           ON CONFLICT (${this.info.pks.map(ident).join(', ')}) DO UPDATE SET ${cols.map((c) => `${ident(c)} = excluded.${ident(c)}`).join(', ')}`,
        );
        this.bulkUpserts.set(id, cache);
      }
      batch.run(cache, (s, p) => void s.run(...p));
    }
    for (let i = 0; i < raw.length; i += 3) this.writeRawText(raw[i] as readonly SqlValue[], raw[i + 1] as string, raw[i + 2] as string);
    keys.run(this.upsertKeys, (s, p) => void s.run(...p));
    newKeys.run(this.insertRowClocks, (s, p) => void s.run(...p));
    sentinels.run(this.upsertSentinels, (s, p) => void s.run(...p));
    inGroups(stale, GROUP, this.deleteOverrides, (k) => [k], (s, p) => void s.run(...p));
    cells.run(this.insertOverrides, (s, p) => void s.run(...p));
  }

  /**
   * The current values of many rows (every column, in `info.columns` order), in the order of `pks`;
   * undefined for a row that isn't here. What {@link value} reads, a few statements for all of them.
   */
  valuesOfMany(pks: readonly SqlValue[][]): (SqlValue[] | undefined)[] {
    const out: (SqlValue[] | undefined)[] = new Array(pks.length);
    if (this.info.columns.length === 0) return out;
    const lookups: SqlValue[] = [];
    for (let i = 0; i < pks.length; i++) {
      lookups.push(BigInt(i));
      for (const v of pks[i]!) lookups.push(v);
    }
    inFlatGroups(lookups, this.info.pks.length + 1, GROUP, this.rowsOf, (s, p) => {
      for (const r of s.iterate(...p) as Iterable<SqlValue[]>) out[Number(r[0])] = r.slice(1);
    });
    // A tie compares the stored bytes: text that isn't UTF-8 as it is (exact-text.ts).
    const columns = this.info.columns;
    for (let i = 0; i < out.length; i++) {
      const values = out[i];
      if (values === undefined) continue;
      for (let c = 0; c < columns.length; c++) values[c] = exactValue(this.db, this, pks[i]!, pks[i]!.length, columns[c]!, values[c]!);
    }
    return out;
  }

  /** The current value of one column of a row (NULL if the row is missing). */
  value(pk: Row, cid: string): SqlValue {
    let s = this.valueReads.get(cid);
    if (!s) {
      s = prepareBig(this.db, `SELECT ${ident(cid)} FROM ${this.t} WHERE ${this.pkWhere}`);
      this.valueReads.set(cid, s);
    }
    const r = s.get(...pk) as [SqlValue] | undefined;
    if (!r) return null;
    // A tie compares the stored bytes: text that isn't UTF-8 as it is (exact-text.ts).
    return exactValue(this.db, this, pk, pk.length, cid, r[0]);
  }

  /** Stores `v`, text with escaped invalid bytes (text-bytes.ts), as TEXT of exactly those bytes. */
  private writeRawText(pk: readonly SqlValue[], cid: string, v: string): void {
    let s = this.rawTextWrites.get(cid);
    if (!s) {
      s = this.db.prepare(`UPDATE ${this.t} SET ${ident(cid)} = CAST(? AS TEXT) WHERE ${this.pkWhere}`);
      this.rawTextWrites.set(cid, s);
    }
    s.run(textBytes(v), ...pk);
  }

  /** Whether column number `at` stores `v` as given (the common case: decided without SQLite but for numeric-looking text). */
  valueFits(at: number, v: SqlValue): boolean {
    return this.probe.fits(this.affinities[at]!, v);
  }

  /** What column number `at` stores for `v`, as SQLite converts it by the column's affinity (asked of SQLite). */
  storedValue(at: number, v: SqlValue): SqlValue {
    return this.probe.store(this.affinities[at]!, v);
  }

  /**
   * Drops the tracking triggers for the rest of the current transaction (a large merge would
   * otherwise log every row it writes only to delete the log again); {@link resumeTracking} puts
   * them back before the commit. A rollback restores them by itself.
   */
  suspendTracking(): void {
    if (this.tracked) this.db.exec(dropTriggersSql(this.names));
  }

  resumeTracking(): void {
    if (this.tracked) this.db.exec(trackingSql(this.db, this.info, this.names));
  }

  /**
   * Empties the write log of what a merge's own writes logged. Untracked, nothing was: the log is left
   * alone (emptying even an empty table writes its root page, a WAL frame per commit).
   */
  clearLog(): void {
    if (this.tracked) this.emptyLog();
  }

  /** Empties the write log (after a seal has consumed it). */
  emptyLog(): void {
    // Prepared once: every merge and every seal that found writes clears the log.
    (this.clearLogStmt ??= this.db.prepare(`DELETE FROM ${this.names.log}`)).run();
  }
}
