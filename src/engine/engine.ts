/**
 * The CRR engine on one SQLite connection: upgrading tables, reading and merging changes, and the
 * clock bookkeeping. It knows nothing of files, networks or processes.
 */
import type { Change } from './change.ts';
import { newestChanges, readChanges, touchesVersion, versionChanges } from './changes.ts';
import { ChangeCursor, ChangeOut } from './change-cursor.ts';
import type { ChangeRowSink } from './change-row-sink.ts';
import { GLOBAL_SCHEMA, Sites, TrackedPeers, Versions, type TrackedPeer } from './clock.ts';
import { OWNERS_SCHEMA, SiteOwners } from './owners.ts';
import { CONFLICTS_SCHEMA, ConflictRecorder, DEFAULT_KEEP_CONFLICTS, readConflicts, type Conflict } from './conflicts.ts';
import { SchemaError } from './errors.ts';
import { readHistory, upgradeHistorySchema, type HistoryEntry } from './history.ts';
import { mergeChanges, type MergeResult } from './merge.ts';
import type { ReadFilter, WriteGuard } from './filter.ts';
import { mergeGuarded, type Refusal } from './guard.ts';
import { crrNames, isRowidAlias, keyMapKeyedByRowid, type CrrNames } from './names.ts';
import { fitKeyMap } from './rekey.ts';
import { KEY_CLOCK_COLUMNS, moveLocalSite, reencodeTable } from './layout.ts';
import { migrateLayouts } from './migrate.ts';
import { keyColumns } from './keys.ts';
import { checkCrrTable, describe, introspect, type TableInfo } from './schema.ts';
import { sealTables } from './seal.ts';
import { checkFormat, checkState, recordFormat } from './state.ts';
import { driftNotice, findDrift, forgetCrr, isMergeOnly, markMergeOnly, storedShape, storeShape, untrackSql } from './drift.ts';
import { AUTH_DELETE, AUTH_DENY, AUTH_INSERT, AUTH_OK, AUTH_UPDATE, ident, literal, type SqliteConnection, type Statement } from './sqlite.ts';
import type { StoredReport } from './stored.ts';
import { CrrTable } from './table.ts';
import { beginImmediate, beginRead, commit, rollback, transaction } from './transaction.ts';
import { TRIGGERS_VERSION, backfillSql, dropTriggersSql, logColumns, recreateLogSql, tablesSql, trackingSql, upgradeLogSql } from './triggers.ts';
import { randomBytes, sha256Hex } from '../base/portable.ts';

export interface ChangesOptions {
  /**
   * Leave out what this site (typically the peer asking for them) holds: the changes of merges that
   * came straight from it ({@link ApplyOptions.direct}) — its own, and what it relayed or served us
   * (a hub's other users' changes we pulled from it are not pushed back to it). Its changes that
   * arrived any other way (relayed by another, from a file, forged) are sent, so they reach it too.
   */
  exceptSite?: Uint8Array;
  /**
   * Only what this filter allows: changes of its tables and columns (keys and the row's existence
   * always), of rows whose current state satisfies its `where`; deletes of rows of its tables always.
   */
  read?: ReadFilter;
  /**
   * Read what is stamped, without sealing pending writes first (sealing is a write transaction): for
   * a database only merges write to (a hub's hosted one), where nothing is ever pending.
   */
  unsealed?: boolean;
}

export interface EngineOptions {
  /**
   * Told, in one line each, of schema drift found and repaired: a CRR dropped, renamed or changed by
   * another program (see drift.ts). The lines are also kept in {@link Engine.notices}.
   */
  onNotice?: (message: string) => void;
  /**
   * How many conflicts to keep in `ddcp_conflicts` (the newest; older ones are pruned in the merge
   * that records new ones). Default 10,000; 0 records none.
   */
  keepConflicts?: number;
  /**
   * Nothing but merges writes this database (a hub's hosted one): its CRRs are kept without tracking
   * triggers, so a merge's writes fire none and log nothing to clear. On open, what was logged is
   * sealed first and the triggers dropped; writes to the CRRs through this connection other than the
   * engine's merges are refused (SQLite's authorizer: "not authorized"), since nothing would track
   * them. The database remembers it (ddcp_state `merge_only`): an engine opened on it without this
   * option puts the triggers back, and one with it takes them off again. Needs a connection with
   * `setAuthorizer` (node:sqlite from Node 24.10); on one without, the engine tracks as usual.
   * Writes by other programs to the file while it is merge-only are not tracked (nor is a CRR another
   * program dropped and made again in the same shape found: no trigger went with it), and an engine
   * opened on it without this option while a merge-only one writes it makes them fight over the
   * triggers: don't.
   */
  mergeOnly?: boolean;
}

export interface ApplyOptions {
  /**
   * Noted with every row the merge writes, as written (stored.ts): what a read of the changes after
   * the version before would give, without reading. Marked broken where the merge undoes rows it noted.
   */
  report?: StoredReport;
  /**
   * A label for where the changes came from, kept in the history with the merge (a remote's name, a
   * file…). The engine doesn't interpret it.
   */
  source?: string;
  /**
   * Record, in the same transaction, that we now hold this version of this peer (cr-sqlite's tracked
   * peers), so delta sync resumes exactly after what was durably applied.
   */
  trackPeer?: TrackedPeer;
  /**
   * The authenticated site the changes come straight from (its owner sent them, so it holds every
   * one of them): remembered with the merge's version, so a feed leaves that merge's changes out
   * when that site asks ({@link ChangesOptions.exceptSite}).
   */
  direct?: Uint8Array;
  /**
   * Binds a site id to its owner (the identity that proved it) in the same transaction — with
   * `trackPeer`, so what we record holding of a site is only ever the proved owner's. Throws
   * {@link SiteClaimError} (nothing applied) if another identity has it.
   */
  bind?: { siteId: Uint8Array; owner: string };
  /**
   * Merge only what this guard allows, one source transaction (origin site id + the sender's
   * db_version) at a time: a transaction with any change outside it is refused whole and listed in
   * {@link ApplyResult.refused}; the others apply. Without it, everything is merged as one.
   */
  write?: WriteGuard;
  /**
   * Merge straight into the caller's open transaction, without a savepoint of its own (SQLite copies
   * every existing page written inside a savepoint to its sub-journal, so a group commit of several
   * merges paid for a copy of each page per merge). If the call throws, what it wrote so far is NOT
   * undone: the caller must roll its whole transaction back. Without an open transaction, ignored.
   */
  inCallerTransaction?: boolean;
}

export interface ApplyResult {
  received: number;
  applied: number;
  /** Source transactions the write guard refused (empty without one); nothing of them was applied. */
  refused: Refusal[];
  /** Our db_version after the merge. */
  dbVersion: number;
  /** Cells where an incoming value met a concurrent one here (see {@link Engine.conflicts}). */
  conflicts: number;
}

export interface HistoryOptions {
  /** At most this many entries (default 20). */
  limit?: number;
  /** Only entries that touched this table. */
  table?: string;
}

/**
 * The site ordinals, knowing the highest one they hold: {@link Engine.refresh} reloads them only
 * when another connection committed (PRAGMA data_version) or the table's highest ordinal is no longer
 * that one — an ordinal added in a transaction that rolled back (a failed COMMIT, a savepoint undone)
 * is gone from the table but not from the cache.
 */
class CachedSites extends Sites {
  /** The highest ordinal in the cache (-1: not known since the last reload, so the next refresh reloads). */
  highest = -1;
  override reload(): void {
    super.reload();
    this.highest = -1;
  }
  override ordinalOf(siteId: Uint8Array): number {
    const ordinal = super.ordinalOf(siteId);
    if (this.highest >= 0 && ordinal > this.highest) this.highest = ordinal;
    return ordinal;
  }
}

export class Engine {
  private sites: CachedSites;
  private readonly owners: SiteOwners;
  private readonly versions: Versions;
  private readonly peers: TrackedPeers;
  private tables = new Map<string, CrrTable>();
  private readonly keepConflicts: number;
  private readonly onNotice: ((message: string) => void) | undefined;
  /** The schema_version the CRRs were last checked against (see {@link refresh}). */
  private schemaVersion = -1;
  /** PRAGMA data_version when the CRR list and site ordinals were last loaded (see {@link refresh}). */
  private loadedDataVersion = -1;
  private schemaVersionStmt: Statement | undefined;
  private stampStmt: Statement | undefined;
  /**
   * Inside {@link writeGroup}, until anything but a straight merge runs in it: the open version, kept
   * in memory (the group holds the write lock and refreshed at its start, so nothing else moves it).
   */
  private groupOpen: number | undefined;
  /** Prepared once: statements every merge and read runs (preparing costs as much as running them). */
  private crrNamesStmt: Statement | undefined;
  private directStmt: Statement | undefined;
  private directInsertStmt: Statement | undefined;
  /** A merge is running: its own trigger suspension is not drift. */
  private merging = false;
  /** The engine prepares statements of its own (a table's, whose writes a merge-only engine allows). */
  private ownStatements = 0;
  /** Kept without tracking triggers, other writes to the CRRs on this connection refused (see {@link EngineOptions.mergeOnly}). */
  readonly mergeOnly: boolean;

  /** The connection the engine works on. */
  readonly db: SqliteConnection;
  /** What was found and repaired (schema drift), one line each, oldest first. */
  readonly notices: string[] = [];

  private constructor(db: SqliteConnection, options: EngineOptions) {
    this.db = db;
    this.keepConflicts = options.keepConflicts ?? DEFAULT_KEEP_CONFLICTS;
    this.onNotice = options.onNotice;
    this.sites = new CachedSites(db);
    this.versions = new Versions(db);
    this.peers = new TrackedPeers(db);
    this.owners = new SiteOwners(db);
    this.mergeOnly = options.mergeOnly === true && typeof db.setAuthorizer === 'function';
    if (this.mergeOnly) db.setAuthorizer!((action, table, _column, dbName) => this.authorize(action, table, dbName));
  }

  /**
   * A merge-only engine's authorizer: writes to a CRR are the engine's own (a merge, or a table's
   * statements being prepared), else refused — no trigger would log them for peers.
   */
  private authorize(action: number, table: string | null, dbName: string | null): number {
    if (action !== AUTH_INSERT && action !== AUTH_UPDATE && action !== AUTH_DELETE) return AUTH_OK;
    if (this.merging || this.ownStatements > 0 || table === null || (dbName !== null && dbName !== 'main')) return AUTH_OK;
    const name = table.toLowerCase();
    for (const t of this.tables.keys()) if (t.toLowerCase() === name) return AUTH_DENY;
    return AUTH_OK;
  }

  /** A CRR's run-time table (its statements prepared as the engine's own). */
  private newTable(info: TableInfo): CrrTable {
    this.ownStatements++;
    try {
      return new CrrTable(this.db, info, !this.mergeOnly);
    } finally {
      this.ownStatements--;
    }
  }

  /** Creates a CRR's tracking triggers, unless merge-only (kept without them). */
  private track(info: TableInfo, n: CrrNames): void {
    if (!this.mergeOnly) this.db.exec(trackingSql(this.db, info, n));
  }

  /**
   * Puts the CRRs' tracking in this engine's way (see {@link EngineOptions.mergeOnly}), `untracked`
   * saying how the database keeps them now: merge-only, what was logged is sealed (local writes, under
   * our site) before the triggers go; otherwise the triggers come back. In the caller's transaction.
   */
  private fitTracking(untracked: boolean): void {
    if (this.mergeOnly === untracked) return;
    if (this.mergeOnly) {
      this.sealWith(this.tables.values());
      for (const t of this.tables.values()) this.db.exec(dropTriggersSql(t.names));
    } else {
      for (const t of this.tables.values()) this.track(t.info, t.names);
    }
    markMergeOnly(this.db, this.mergeOnly);
  }

  /**
   * Opens the engine on a connection: initialises ddcp's bookkeeping in a database new to it, and
   * refuses (StateError, nothing changed) one whose bookkeeping was damaged — it never rebuilds a
   * site id or a db_version counter with new values.
   */
  static open(db: SqliteConnection, options: EngineOptions = {}): Engine {
    const keep = options.keepConflicts;
    if (keep !== undefined && !(Number.isSafeInteger(keep) && keep >= 0)) throw new RangeError(`keepConflicts must be a non-negative integer, got ${keep}`);
    return transaction(db, () => {
      if (!checkState(db)) checkFormat(db, TRIGGERS_VERSION);
      db.exec(GLOBAL_SCHEMA);
      db.exec(OWNERS_SCHEMA);
      db.exec(CONFLICTS_SCHEMA);
      upgradeHistorySchema(db);
      migrateLayouts(db);
      recordFormat(db);
      const engine = new Engine(db, options);
      engine.reconcile();
      engine.upgradeTriggers();
      return engine;
    });
  }

  /** Rebuilds the tracking triggers (and the log's shape) of every CRR if they were made by an older ddcp. */
  private upgradeTriggers(): void {
    const row = this.db.prepare(`SELECT value FROM ddcp_state WHERE key = 'triggers_version'`).get() as { value: number } | undefined;
    if (row && Number(row.value) === TRIGGERS_VERSION) return;
    for (const t of this.tables.values()) {
      this.db.exec(dropTriggersSql(t.names));
      const log = upgradeLogSql(this.db, t.info, t.names);
      if (log) this.db.exec(log);
      this.track(t.info, t.names);
    }
    this.db.prepare(`INSERT OR REPLACE INTO ddcp_state (key, value) VALUES ('triggers_version', ?)`).run(BigInt(TRIGGERS_VERSION));
  }

  /** This database's 16-byte site id. */
  get siteId(): Uint8Array {
    return this.sites.local;
  }

  private loadTables(): void {
    const next = new Map<string, CrrTable>();
    const rows = this.db.prepare('SELECT tbl FROM ddcp_crrs WHERE altering = 0 ORDER BY tbl').all() as { tbl: string }[];
    for (const { tbl } of rows) next.set(tbl, this.tables.get(tbl) ?? this.newTable(introspect(this.db, tbl)));
    this.tables = next;
  }

  /**
   * Another connection may have changed the set of CRRs, or (any program) the tables themselves;
   * pick that up. The schema is checked again only when SQLite's schema_version moved.
   */
  refresh(): void {
    // In a write group refreshed at its start (nothing else can commit while it holds the lock).
    if (this.groupOpen === undefined) this.refreshed();
  }

  /**
   * Runs `fn` in one write transaction (`BEGIN IMMEDIATE` … `COMMIT`; rolled back, and the error
   * rethrown, if it throws), for many merges in a row with {@link ApplyOptions.inCallerTransaction}:
   * the schema and caches are refreshed once, at the start, and those merges carry the open version
   * in memory instead of reading it (and the refresh's statement) each — the group holds the write
   * lock, so no other connection can commit in between. Any other engine call in it goes back to
   * reading as usual. `fn` must not change the schema or the ddcp tables but through the engine.
   */
  writeGroup<T>(fn: () => T): T {
    beginImmediate(this.db); // outside the try: inside a caller's transaction it throws, and that is not ours to roll back
    try {
      this.groupOpen = this.refreshed() ?? this.versions.open();
      const result = fn();
      commit(this.db);
      return result;
    } catch (err) {
      if (this.db.isTransaction) rollback(this.db);
      throw err;
    } finally {
      this.groupOpen = undefined;
    }
  }

  /**
   * {@link refresh}, answering the open version its statement read too when nothing after the read
   * moved it (undefined when the schema was reconciled, which may seal): exact for the caller's
   * transaction, so a merge or seal right after need not read the counter again.
   */
  private refreshed(): number | undefined {
    // One statement: SQLite's schema_version, its data_version (moves when another connection
    // commits, not for this one's own writes), the highest site ordinal and the open version.
    this.stampStmt ??= this.db.prepare(
      `SELECT s.schema_version AS s, d.data_version AS d, (SELECT max(ordinal) FROM ddcp_site_id) AS o, (SELECT value FROM ddcp_state WHERE key = 'open_version') AS v FROM pragma_schema_version s, pragma_data_version d`,
    );
    const stamp = this.stampStmt.get() as { s: number | bigint; d: number | bigint; o: number | bigint | null; v: number | bigint };
    const dataVersion = Number(stamp.d);
    const highest = stamp.o === null ? -1 : Number(stamp.o);
    if (!this.merging && Number(stamp.s) !== this.schemaVersion) {
      transaction(this.db, () => this.reconcile());
      this.reloadSites(dataVersion, highest);
      return undefined;
    }
    const open = Number(stamp.v);
    // Nobody else committed and no ordinal of ours was rolled back: the caches are the database's
    // (this connection's own changes to them went through this engine). Saves reloading both in
    // every transaction (a hub's group commit runs several).
    if (dataVersion === this.loadedDataVersion && highest === this.sites.highest) return open;
    this.crrNamesStmt ??= this.db.prepare('SELECT tbl FROM ddcp_crrs WHERE altering = 0 ORDER BY tbl');
    const names = (this.crrNamesStmt.all() as { tbl: string }[]).map((r) => r.tbl);
    if (names.join('\0') !== [...this.tables.keys()].join('\0')) this.loadTables();
    this.reloadSites(dataVersion, highest);
    return open;
  }

  /** Reloads the site ordinals, as of `dataVersion` with `highest` the table's highest ordinal (read just before). */
  private reloadSites(dataVersion: number, highest: number): void {
    this.sites.reload();
    this.sites.highest = highest;
    this.loadedDataVersion = dataVersion;
  }

  private readSchemaVersion(): number {
    this.schemaVersionStmt ??= this.db.prepare('PRAGMA schema_version');
    return Number((this.schemaVersionStmt.get() as { schema_version: number }).schema_version);
  }

  /**
   * Repairs schema drift (see drift.ts): what was logged is first stamped under the shape the
   * triggers logged it in, then tables that are gone or unfit stop being tracked and changed ones
   * are tracked again in their new shape; each is reported. Runs inside the caller's transaction.
   */
  private reconcile(): void {
    const untracked = isMergeOnly(this.db);
    const drift = findDrift(this.db, untracked);
    if (drift.length > 0) {
      const byTable = new Map(drift.map((d) => [d.table, d]));
      const pending: CrrTable[] = [];
      for (const { tbl } of this.db.prepare('SELECT tbl FROM ddcp_crrs WHERE altering = 0 ORDER BY tbl').all() as { tbl: string }[]) {
        const d = byTable.get(tbl);
        if (d && d.kind !== 'changed') continue; // gone or unfit: what it logged goes with its tracking
        const info = d?.kind === 'changed' ? d.before : (storedShape(this.db, tbl) ?? introspect(this.db, tbl));
        pending.push(this.newTable(info));
      }
      this.sealWith(pending);
      for (const d of drift) {
        if (d.kind === 'changed') this.retrack(d.now);
        else {
          this.db.exec(untrackSql(d.table));
          forgetCrr(this.db, d.table);
        }
        this.tables.delete(d.table);
      }
    }
    this.loadTables();
    if (drift.some((d) => d.kind === 'changed')) this.sealWith(this.tables.values()); // the backfill
    this.fitTracking(untracked);
    for (const d of drift) this.notify(driftNotice(d));
    this.schemaVersion = this.readSchemaVersion();
  }

  private notify(message: string): void {
    this.notices.push(message);
    this.onNotice?.(message);
  }

  /**
   * Tracks a CRR again in its current shape `info` (same primary key), keeping the clocks of the
   * columns it still has, as {@link commitAlter} does: the log and triggers are made anew and what
   * was written while they were off is logged.
   */
  private retrack(info: TableInfo): void {
    reencodeTable(this.db, info, crrNames(info.name, keyMapKeyedByRowid(this.db, info.name)));
    // The key may have stopped (or started) being the rowid alias: the key map follows (rekey.ts).
    const n = fitKeyMap(this.db, info);
    this.db.exec(dropTriggersSql(n));
    this.db.exec(recreateLogSql(info, n));
    this.track(info, n);
    const defaults = new Map(
      (this.db.prepare(`PRAGMA main.table_xinfo(${literal(info.name)})`).all() as { name: string; dflt_value: string | null }[]).map((c) => [c.name, c.dflt_value]),
    );
    this.db.exec(backfillSql(info, n, defaults));
    storeShape(this.db, info);
  }

  /**
   * Stops tracking `table` (cr-sqlite's `crsql_as_table`): removes its triggers and ddcp's tables
   * for it, and leaves the table and its rows as they are. Its changes no longer sync; a peer's
   * changes for it are refused as not fitting the schema. Throws {@link SchemaError} if it is not a CRR.
   */
  untrack(table: string): void {
    transaction(this.db, () => {
      this.sealInTx();
      if (!this.db.prepare('SELECT 1 FROM ddcp_crrs WHERE tbl = ?').get(table)) throw new SchemaError(`table ${table} is not a CRR`);
      this.db.exec(untrackSql(table));
      forgetCrr(this.db, table);
      this.tables.delete(table);
      this.loadTables();
    });
  }

  /** The CRR tables. */
  crrs(): TableInfo[] {
    this.refresh();
    return [...this.tables.values()].map((t) => t.info);
  }

  /**
   * Stamps every write logged since the last seal with a new db_version. Reads and merges do this
   * themselves; call it to make writes by other clients visible in {@link dbVersion} right away.
   */
  seal(): number {
    return transaction(this.db, () => this.sealInTx());
  }

  /** Seals inside the caller's transaction; returns the db_version after (read once: the refresh's). */
  private sealInTx(): number {
    this.groupOpen = undefined; // it may write anything: read again from here on
    // The refresh first: it may reload the tables (a schema change), and the seal must see the new ones.
    const open = this.refreshed();
    return this.sealWith(this.tables.values(), open) - 1;
  }

  /** Seals `tables` at the open version (`open` when the caller just read it); returns the open version after. */
  private sealWith(tables: Iterable<CrrTable>, open = this.versions.open()): number {
    const counts = sealTables(this.db, tables, open);
    if (!counts) return open;
    this.versions.close(open, { kind: 'commit', tables: counts });
    return open + 1;
  }

  /** The db_version last stamped, without sealing (cheap; writes not yet sealed don't count). */
  currentDbVersion(): number {
    return (this.groupOpen ?? this.versions.open()) - 1;
  }

  /** The current db_version (after sealing pending writes). */
  dbVersion(): number {
    return this.seal();
  }

  /**
   * Makes `table` a CRR (cr-sqlite's `crsql_as_crr`): checks it can be merged safely, creates its
   * clock tables and triggers, and backfills existing rows so they replicate. Does nothing if it
   * already is one. Throws {@link SchemaError} and changes nothing if the table can't be a CRR.
   */
  asCrr(table: string): void {
    transaction(this.db, () => {
      const known = this.db.prepare('SELECT altering FROM ddcp_crrs WHERE tbl = ?').get(table) as { altering: number } | undefined;
      if (known) {
        if (Number(known.altering) !== 0) throw new SchemaError(`table ${table} is being altered; finish with crsql_commit_alter('${table}')`);
        return;
      }
      const info = checkCrrTable(this.db, table);
      this.sealInTx();
      const n = crrNames(info.name, isRowidAlias(this.db, info.name));
      this.db.exec(tablesSql(info, n, keyColumns(this.db, info.name).map((c) => c.affinity)));
      this.track(info, n);
      this.db.prepare('INSERT INTO ddcp_crrs (tbl) VALUES (?)').run(info.name);
      storeShape(this.db, info);
      // Backfill: log every existing row as inserted, and let the seal give them clocks.
      const lc = logColumns(info);
      this.db.exec(`INSERT INTO ${n.log} (op, ${lc.keys.join(', ')}) SELECT 1, ${info.pks.map(ident).join(', ')} FROM ${ident(info.name)}`);
      this.sealInTx();
    });
  }

  /**
   * Starts a schema change of a CRR (cr-sqlite's `crsql_begin_alter`): seals pending writes and
   * drops the tracking triggers so `ALTER TABLE` can run. Finish with {@link commitAlter}.
   */
  beginAlter(table: string): void {
    transaction(this.db, () => {
      this.requireCrr(table);
      this.sealInTx();
      this.db.exec(dropTriggersSql(crrNames(table)));
      this.db.prepare('UPDATE ddcp_crrs SET altering = 1 WHERE tbl = ?').run(table);
      this.loadTables();
    });
  }

  /**
   * Finishes a schema change (cr-sqlite's `crsql_commit_alter`): checks the new shape, forgets the
   * clocks of dropped columns and restores tracking. Clocks of the other columns are kept.
   */
  commitAlter(table: string): void {
    transaction(this.db, () => {
      const row = this.db.prepare('SELECT altering FROM ddcp_crrs WHERE tbl = ?').get(table) as { altering: number } | undefined;
      if (!row) throw new SchemaError(`table ${table} is not a CRR`);
      // The key map's key columns: stored copies, or the generated one of a key map keyed by the rowid alias.
      const before = (this.db.prepare(`PRAGMA main.table_xinfo(${literal(`${table}__ddcp_pks`)})`).all() as { name: string }[])
        .map((c) => c.name)
        .filter((c) => c !== '__key' && !KEY_CLOCK_COLUMNS.includes(c));
      const info = checkCrrTable(this.db, table);
      if (before.join('\0') !== info.pks.join('\0')) {
        throw new SchemaError(`cannot change the primary key of CRR ${table} (was ${before.join(', ')}, now ${info.pks.join(', ')})`);
      }
      this.retrack(info);
      this.db.prepare('UPDATE ddcp_crrs SET altering = 0 WHERE tbl = ?').run(table);
      this.tables.delete(table);
      this.loadTables();
      this.sealInTx();
    });
  }

  private requireCrr(table: string): void {
    const row = this.db.prepare('SELECT altering FROM ddcp_crrs WHERE tbl = ?').get(table) as { altering: number } | undefined;
    if (!row) throw new SchemaError(`table ${table} is not a CRR`);
    if (Number(row.altering) !== 0) throw new SchemaError(`table ${table} is already being altered`);
  }

  /**
   * Every change with db_version greater than `since`, in (db_version, seq) order, read lazily from
   * one consistent snapshot. Through a `read` filter with a row predicate, a changed row that matches
   * comes whole, its older cells at the position of its first change after `since` (see readChanges). Consume it fully or `return()` it (a `for…of` with `break` does) to end
   * the read transaction.
   */
  *changesSince(since = 0, options: ChangesOptions = {}): Generator<Change> {
    if (!options.unsealed) this.seal();
    const ownTx = !this.db.isTransaction;
    if (ownTx) beginRead(this.db);
    try {
      this.refresh();
      const except = options.exceptSite ? this.sites.lookup(options.exceptSite) : undefined;
      yield* readChanges(this.db, this.tables.values(), this.sites, since, except, options.read);
    } finally {
      if (ownTx && this.db.isTransaction) commit(this.db);
    }
  }

  /**
   * The changes of {@link changesSince}`(since)` (no options: no filter, no excepted site), in the
   * same order from one consistent snapshot, each handed to `each` as one reused object — valid only
   * during the call, so copy what you keep — instead of an object per change: for a consumer that
   * writes each change out at once, the objects were a large share of the read. `group` is ≥ 0 when
   * the change is a cell of the same row clock as the previous change given with the same group (same
   * table, `pk` array, col_version, db_version, site id and cl), else -1.
   * Whenever `each` returns true this generator yields, so the caller can await (its output) before
   * reading on; run it to its end or `return()` it (a `for…of` does) to end the read transaction.
   */
  *eachChange(since: number, each: (c: Readonly<Change>, group: number) => boolean): Generator<void> {
    const out = new ChangeOut(each);
    for (const _ of this.writeChanges(since, out)) {
      out.full = false;
      yield;
    }
  }

  /**
   * The changes of {@link changesSince}`(since)` (no options), in the same order from one consistent
   * snapshot, written into `sink` straight from the query's rows (no object per change: `ddcp
   * changes` writes its JSON lines so). Whenever the sink is {@link ChangeRowSink.full} this generator
   * yields, so the caller can empty it (and await its output) before reading on; run it to its end
   * or `return()` it (a `for…of` does) to end the read transaction.
   */
  *writeChanges(since: number, sink: ChangeRowSink): Generator<void> {
    this.seal();
    const ownTx = !this.db.isTransaction;
    if (ownTx) beginRead(this.db);
    try {
      this.refresh();
      const cursor = new ChangeCursor(this.db, this.tables.values(), this.sites, since);
      try {
        while (cursor.pump(sink)) yield;
      } finally {
        cursor.close();
      }
    } finally {
      if (ownTx && this.db.isTransaction) commit(this.db);
    }
  }

  /**
   * The versions in (`since`, `until`] merged straight from their origin ({@link ApplyOptions.direct}),
   * each with that site id: a reader filtering changes itself (a hub's shared tail) leaves a site's
   * own changes out for it only at these versions, as {@link ChangesOptions.exceptSite} does.
   */
  directVersions(since: number, until: number): Map<number, Uint8Array> {
    this.directStmt ??= this.db.prepare('SELECT db_version, site FROM ddcp_direct_versions WHERE db_version > ? AND db_version <= ?');
    const rows = this.directStmt.all(BigInt(since), BigInt(until)) as { db_version: number | bigint; site: number | bigint }[];
    return new Map(rows.map((r) => [Number(r.db_version), this.sites.bytesOf(Number(r.site))]));
  }

  /**
   * The changes after `since` that merges given `report` stored, as {@link changesSince} without a
   * filter would read them (stored.ts) — if only those merges wrote after `since` (the caller's to
   * know); undefined where the report cannot say exactly.
   */
  storedChanges(report: StoredReport, since: number): Change[] | undefined {
    return report.changes(since, this.sites);
  }

  /**
   * Merges changes from peers in one transaction: all of them or, if any is invalid or doesn't fit
   * our schema, none (throws {@link ChangeError}). With a `write` guard, source transactions it
   * refuses are left out whole (see {@link ApplyOptions.write}).
   */
  applyChanges(changes: Iterable<Change>, options: ApplyOptions = {}): ApplyResult {
    if (options.inCallerTransaction && this.db.isTransaction) return this.applyInTx(changes, options, true);
    return transaction(this.db, () => this.applyInTx(changes, options, false));
  }

  /**
   * The version a merge stamps: the open one (nothing else moves it until the merge closes it) —
   * after sealing what was logged, unless merge-only: its CRRs have no triggers, so nothing is ever
   * logged to seal. Not even by another program writing the file: tracking again needs triggers made,
   * which moves the schema version, and the refresh then reconciles (sealing what they logged and
   * dropping them) before this merge. `straight`: merged straight in the caller's transaction — in a
   * {@link writeGroup}, the open version the group carries (it refreshed at its start).
   */
  private openForMerge(straight: boolean): number {
    if (!this.mergeOnly) return this.sealInTx() + 1;
    if (straight && this.groupOpen !== undefined) return this.groupOpen;
    this.groupOpen = undefined; // a merge in a savepoint may be undone: read again from here on
    return this.refreshed() ?? this.versions.open();
  }

  /** {@link applyChanges} inside the caller's transaction (or savepoint; `straight`: not). */
  private applyInTx(changes: Iterable<Change>, options: ApplyOptions, straight: boolean): ApplyResult {
    if (options.bind) this.owners.bind(options.bind.siteId, options.bind.owner);
    const version = this.openForMerge(straight);
    const conflicts = new ConflictRecorder(this.keepConflicts);
    let result: MergeResult;
    let refused: Refusal[] = [];
    this.merging = true;
    try {
      if (options.write) ({ refused, ...result } = mergeGuarded(this.db, this.tables, this.sites, changes, version, conflicts, options.write, options.report));
      else result = mergeChanges(this.tables, this.sites, changes, version, conflicts, 0, options.report ? { report: options.report } : {});
    } catch (err) {
      this.sites.reload(); // ordinals added in the rolled-back transaction are gone
      if (options.report) options.report.broken = true;
      throw err;
    } finally {
      this.merging = false;
    }
    const { source } = options;
    const at = Date.now();
    if (result.applied > 0) {
      const { received, applied, tables } = result;
      this.versions.close(version, { kind: 'merge', source, received, applied, conflicts: conflicts.count, tables }, at);
      if (this.groupOpen !== undefined) this.groupOpen = version + 1;
    }
    conflicts.write(this.db, { at, dbVersion: result.applied > 0 ? version : undefined, source });
    if (options.trackPeer) this.peers.record(options.trackPeer.siteId, options.trackPeer.version);
    if (options.direct && result.applied > 0) {
      this.directInsertStmt ??= this.db.prepare('INSERT OR REPLACE INTO ddcp_direct_versions (db_version, site) VALUES (?, ?)');
      this.directInsertStmt.run(BigInt(version), BigInt(this.sites.ordinalOf(options.direct)));
    }
    return { received: result.received, applied: result.applied, refused, dbVersion: result.applied > 0 ? version : version - 1, conflicts: conflicts.count };
  }

  /**
   * What each db_version was, newest first: a local commit or a merge (with its source label), with
   * counts per table. Versions stamped before this database kept history are `unrecorded` (time
   * only; with `table`, listed if cells of that table still carry the version).
   */
  history(options: HistoryOptions = {}): HistoryEntry[] {
    const limit = options.limit ?? 20;
    this.seal();
    const table = options.table !== undefined ? this.crrTable(options.table) : undefined;
    return transaction(this.db, () => {
      const out: HistoryEntry[] = [];
      if (limit <= 0) return out;
      const touches = table && ((v: number) => touchesVersion(this.db, table, v));
      for (const e of readHistory(this.db, { table: options.table, touches })) {
        out.push(e);
        if (out.length >= limit) break;
      }
      return out;
    });
  }

  /**
   * The cells a db_version wrote that are still current, in the order it wrote them (optionally of
   * one table). Values it wrote that later versions replaced are not kept anywhere.
   */
  versionChanges(dbVersion: number, options: { table?: string } = {}): Change[] {
    this.refresh();
    const tables = options.table !== undefined ? [this.crrTable(options.table)] : [...this.tables.values()];
    return transaction(this.db, () => versionChanges(this.db, tables, this.sites, dbVersion));
  }

  /**
   * The newest conflicts merges recorded, newest first (optionally of one table): cells where an
   * incoming change and the value here had the same col_version and different values. See
   * `conflicts.ts` for what the clocks can and cannot tell.
   */
  conflicts(options: HistoryOptions = {}): Conflict[] {
    this.refresh();
    if (options.table !== undefined) this.crrTable(options.table);
    return readConflicts(this.db, this.sites, { limit: options.limit ?? 20, table: options.table });
  }

  private crrTable(name: string): CrrTable {
    this.refresh();
    const t = this.tables.get(name);
    if (!t) throw new SchemaError(`table ${name} is not a CRR`);
    return t;
  }

  /**
   * The newest changes, newest first, optionally of one table — for logs. Each carries the time its
   * db_version was stamped here (`at`, ms since the epoch) when known.
   */
  recentChanges(options: { limit?: number; table?: string } = {}): (Change & { at?: number })[] {
    const limit = options.limit ?? 20;
    this.seal();
    this.refresh();
    let tables = [...this.tables.values()];
    if (options.table !== undefined) {
      tables = tables.filter((t) => t.info.name === options.table);
      if (tables.length === 0) throw new SchemaError(`table ${options.table} is not a CRR`);
    }
    return transaction(this.db, () => newestChanges(this.db, tables, this.sites, limit)).map((c) => ({ ...c, at: this.versions.time(Number(c.dbVersion)) }));
  }

  /** The versions we hold of each peer. */
  trackedPeers(): TrackedPeer[] {
    return this.peers.all();
  }

  /** The version we hold of one peer (0 if none). */
  trackedVersion(siteId: Uint8Array): number {
    return this.peers.versionOf(siteId);
  }

  /** Who a site id belongs to (the address it was first bound to), if known. */
  siteOwner(siteId: Uint8Array): string | undefined {
    return this.owners.ownerOf(siteId);
  }

  /**
   * Binds a site id to the identity (address) that proved it claims it; the first binding wins.
   * Throws {@link SiteClaimError} if another identity has it (a forger, or a copied or restored
   * database).
   */
  bindSite(siteId: Uint8Array, owner: string): void {
    transaction(this.db, () => this.owners.bind(siteId, owner));
  }

  /**
   * Gives this database a new site id (`ddcp init --new-site`: a copied or restored database must
   * not go on writing under the site id its original uses). Changes made so far keep the old site id
   * (now an ordinary other site here), so what peers already hold stays identical; new ones get the new id.
   */
  renewSiteId(): Uint8Array {
    const fresh = transaction(this.db, () => {
      this.sealInTx();
      const old = this.sites.local;
      const id = randomBytes(old.length);
      this.db.prepare('UPDATE ddcp_site_id SET site_id = ? WHERE ordinal = 0').run(id);
      const moved = Number((this.db.prepare('INSERT INTO ddcp_site_id (site_id) VALUES (?) RETURNING ordinal').get(old) as { ordinal: number | bigint }).ordinal);
      for (const { tbl } of this.db.prepare('SELECT tbl FROM ddcp_crrs').all() as { tbl: string }[]) {
        moveLocalSite(this.db, crrNames(tbl), moved);
      }
      this.db.prepare('UPDATE ddcp_conflicts SET local_site = ? WHERE local_site = 0').run(BigInt(moved));
      this.db.prepare('UPDATE ddcp_conflicts SET incoming_site = ? WHERE incoming_site = 0').run(BigInt(moved));
      this.db.prepare('UPDATE ddcp_direct_versions SET site = ? WHERE site = 0').run(BigInt(moved));
      return id;
    });
    this.sites = new CachedSites(this.db);
    return fresh;
  }

  /** Records that we hold `version` of a peer (never moves backwards). */
  trackPeer(peer: TrackedPeer): void {
    transaction(this.db, () => this.peers.record(peer.siteId, peer.version));
  }

  /**
   * A fingerprint of the CRR schema (tables, keys, columns): two databases can exchange changes
   * when their fingerprints match.
   */
  schemaFingerprint(): string {
    const text = this.crrs().map(describe).join('\n');
    return sha256Hex(text).slice(0, 32);
  }
}
