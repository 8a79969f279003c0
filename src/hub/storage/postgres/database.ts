/**
 * One hosted database in PostgreSQL, as the two ports of a sync session: the feed clients pull from
 * and the sink their pushes are merged into. Nothing is kept in the process between calls — every
 * answer comes from PostgreSQL — so any hub process serves any client of it.
 *
 * A merge locks the database's row (its db_version counter) for its transaction: merges into one
 * database commit one after another, in version order, so a reader that saw version v has every
 * version below it. The transaction also stamps the version, records the pusher's version and
 * sends the change notification (NOTIFY is delivered at commit, and only if it commits), and it
 * commits before the push is acknowledged.
 */
import type { Sql, TransactionSql } from 'postgres';
import { SiteClaimError, type Change, type Conflict, type Refusal, type TableInfo } from '../../../engine/index.ts';
import type { Identity } from '../../../repo/identity.ts';
import { decodeChanges, encodeChanges } from '../../../sync/codec.ts';
import { batchByVersion, type Batch } from '../../../sync/batches.ts';
import { fitting, refusalText } from '../../../sync/gate.ts';
import { policyFromJson, policyToJson, type PeerPolicy } from '../../../sync/policy.ts';
import type { ChangeFeed, ChangeSink, FeedRequest, PushOrigin, Received } from '../../../sync/ports.ts';
import { makeSiteProof, type SiteProof } from '../../../sync/proof.ts';
import { planDeclare } from '../declare.ts';
import { HubStoreError, type DatabaseInfo, type HubDatabase, type HubUser } from '../port.ts';
import { bytea, bytes, hex, PgCellIO, PREPARED } from './cells.ts';
import { readBatches } from './feed.ts';
import { mergeGuardedCells } from './guard.ts';
import { materializeDocuments, touchedDocuments } from './documents.ts';
import { ConflictNotes, readConflicts } from './conflicts.ts';
import { mergeCells, rowsOf, SiteOrdinals, type MergeResult } from './merge.ts';
import type { ScratchPredicates } from './predicates.ts';
import type { MergeTurns } from './slots.ts';

/** What a database needs of its store. */
export interface StoreContext {
  sql: Sql;
  schema: string;
  /** The notification channel of this hub's storage. */
  channel: string;
  predicates: ScratchPredicates;
  /** Resolves on the next change of database `name` (any process), or when `signal` aborts. */
  changed(name: string, signal: AbortSignal): Promise<void>;
  /**
   * A merge's COMMIT, to make `version` the newest of `name`, is sent: until {@link settled}, the
   * notifications of versions up to it wake nobody here (the settling does).
   */
  committing(name: string, version: number): void;
  /**
   * The COMMIT of {@link committing} was answered: tells this process's followers at once that
   * `name` is at `version` (its notification, coming back, then wakes nobody here); undefined (it
   * failed, perhaps after committing): wakes them all the same.
   */
  settled(name: string, version: number | undefined): void;
  /** Whether anything in this process waits for changes of `name` (see {@link changed}). */
  following(name: string): boolean;
  /** The newest version of `name` this process has heard of (merged here, or notified), -1 if none. */
  heard(name: string): number;
  /** The most pushes merged in one transaction (1: each its own). */
  maxGroup: number;
  /** Gives back one hold on `name` (see storage/leases.ts). */
  release(name: string): void;
  /** `name` was dropped, idle: what the store keeps of it goes too. */
  closed(name: string): void;
  /**
   * Taken by every merge for its reserved connection (slots.ts): the pool's other connections stay
   * free for short statements; a database whose turn comes takes others waiting along.
   */
  mergeTurns: MergeTurns<PgHubDatabase>;
}

/** A transaction several databases' groups share (mergeTogether): begun and ended by its caller. */
interface SharedTx {
  tx: Awaited<ReturnType<Sql['reserve']>>;
  /** The group's statements up to its last are sent (true), or it failed (false; nothing more is sent). */
  ready(ok: boolean): void;
  /** Resolves once the transaction's COMMIT is answered; rejects if it was rolled back. */
  committed: Promise<void>;
}

/** A complete pushed batch waiting for its group's transaction. */
interface Queued {
  batch: Batch;
  from: PushOrigin;
  resolve(r: Received): void;
  reject(err: unknown): void;
}

/** One pusher's part of a group: its queued pushes, merged as one (one version), in order. */
interface Entry {
  from: PushOrigin;
  pushes: Queued[];
}

/** Parameters of a group's last statement before those of the writes folded into it (see mergeGroup). */
const LAST_PARAMS = 9;

/** The most pushes of one origin merged as one (bounds one merge's size). */
const MAX_RUN = 256;

/** Changes the merges keep for the fan-out to take (see takeStored); past it, they keep none (it reads). */
const HANDED_CHANGES = 5_000;

/** What this process's merges stored in the versions (`from`, `to`], for the fan-out (see takeStored). */
interface Handed {
  from: number;
  to: number;
  /** The rows they wrote, each with its cells stamped after `from` as stored now (PgCellIO.storedRows). */
  rows: Map<string, Change[]>;
  /** Changes in `rows`. */
  size: number;
  /** The versions among them merged straight from their pusher, with its site. */
  direct: Map<number, Uint8Array>;
}

/** Tables by name, in the order the engine lists CRRs. */
const sortTables = (tables: readonly TableInfo[]): TableInfo[] => [...tables].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

export class PgHubDatabase implements HubDatabase, ChangeFeed, ChangeSink {
  readonly name: string;
  readonly siteId: Uint8Array;
  /** The row id in `databases`. */
  readonly id: string;
  readonly proof: SiteProof;
  /**
   * Each commit wakes this process's followers once: a merge here at its commit, another process's
   * by its notification (the notification of a merge here wakes nobody, see store.ts): the fan-out
   * reads at once.
   */
  readonly wakesOnce = true;
  private readonly ctx: StoreContext;
  /** Complete pushes waiting to be merged (see drain). */
  private readonly queue: Queued[] = [];
  private draining = false;
  /** The newest version of each site (hex) merged by this process (its tracked version is at least that). */
  private readonly merged = new Map<string, number>();
  /** Origins (sessions) one of whose pushes failed: none of their later ones is merged. */
  private readonly failed = new WeakMap<PushOrigin, unknown>();
  /** What the merges since the fan-out last took stored (see takeStored). */
  private handed: Handed | undefined;
  /** The direct versions of what the fan-out took last (its next directVersions asks for them). */
  private took: Pick<Handed, 'from' | 'to' | 'direct'> | undefined;

  constructor(ctx: StoreContext, name: string, id: string, siteId: Uint8Array, identity: Identity) {
    this.ctx = ctx;
    this.name = name;
    this.id = id;
    this.siteId = siteId;
    this.proof = makeSiteProof(siteId, identity.address, (m) => identity.sign(m));
  }

  get feed(): ChangeFeed {
    return this;
  }

  /** Ends one open's hold (see storage/leases.ts). */
  release(): void {
    this.ctx.release(this.name);
  }

  /** Pushes queued or being merged, or a follower waiting for changes: not closed then (storage/leases.ts). */
  busy(): boolean {
    return this.queue.length > 0 || this.draining || this.ctx.following(this.name);
  }

  /**
   * Dropped, idle (nothing queued or merging: see busy): nothing of it is only in memory — every
   * acknowledged merge was committed, and a later open reads it from PostgreSQL again.
   */
  close(): void {
    this.ctx.closed(this.name);
  }

  get sink(): ChangeSink {
    return this;
  }

  private get s(): string {
    return this.ctx.schema;
  }

  // --- metadata ---

  async info(): Promise<DatabaseInfo> {
    const [row] = await this.ctx.sql.unsafe<{ app: string; owner: string; tables: TableInfo[] }[]>(`SELECT app, owner, tables FROM ${this.s}.databases WHERE id = $1`, [this.id]);
    if (!row) throw new HubStoreError(`hosted database ${this.name} is gone`);
    return { name: this.name, owner: { app: row.app, user: row.owner }, shares: await this.shares(), tables: sortTables(row.tables) };
  }

  private async shares(): Promise<Record<string, PeerPolicy>> {
    const rows = await this.ctx.sql.unsafe<{ user: string; policy: unknown }[]>(`SELECT "user", policy FROM ${this.s}.shares WHERE db = $1 ORDER BY "user"`, [this.id]);
    return Object.fromEntries(rows.map((r) => [r.user, policyFromJson(r.policy, `share of ${this.name} with ${r.user}`)]));
  }

  async declare(tables: readonly TableInfo[]): Promise<void> {
    await this.ctx.sql.begin(async (tx) => {
      const ours = await this.lock(tx);
      const plan = planDeclare(ours.tables, tables); // throws, naming the misfit: nothing changed
      if (plan.create.length === 0 && plan.add.length === 0) return;
      const next = ours.tables.map((t) => ({ name: t.name, pks: [...t.pks], columns: [...t.columns] }));
      for (const a of plan.add) next.find((t) => t.name === a.table)!.columns.push(...a.columns);
      next.push(...plan.create.map((t) => ({ name: t.name, pks: [...t.pks], columns: [...t.columns] })));
      await tx.unsafe(`UPDATE ${this.s}.databases SET tables = $2::text::jsonb WHERE id = $1`, [this.id, JSON.stringify(sortTables(next))]);
    });
  }

  async share(user: string, policy: PeerPolicy | undefined): Promise<void> {
    if (policy === undefined) await this.ctx.sql.unsafe(`DELETE FROM ${this.s}.shares WHERE db = $1 AND "user" = $2`, [this.id, user]);
    else {
      await this.ctx.sql.unsafe(`INSERT INTO ${this.s}.shares (db, "user", policy) VALUES ($1, $2, $3::text::jsonb) ON CONFLICT (db, "user") DO UPDATE SET policy = excluded.policy`, [
        this.id,
        user,
        JSON.stringify(policyToJson(policy)),
      ]);
    }
  }

  /** Locks the database's row for the transaction: its open version and tables. */
  private async lock(tx: TransactionSql): Promise<{ open: number; tables: TableInfo[] }> {
    const [row] = await tx.unsafe<{ open: number; tables: TableInfo[] }[]>(`SELECT open_version::float8 AS open, tables FROM ${this.s}.databases WHERE id = $1 FOR UPDATE`, [this.id]);
    if (!row) throw new HubStoreError(`hosted database ${this.name} is gone`);
    return row;
  }

  // --- the feed ---

  async schema(): Promise<TableInfo[]> {
    const [row] = await this.ctx.sql.unsafe<{ tables: TableInfo[] }[]>(`SELECT tables FROM ${this.s}.databases WHERE id = $1`, [this.id]);
    return sortTables(row?.tables ?? []);
  }

  async version(): Promise<number> {
    const [row] = await this.ctx.sql.unsafe<{ open: number }[]>(`SELECT open_version::float8 AS open FROM ${this.s}.databases WHERE id = $1`, [this.id], PREPARED);
    return Number(row?.open ?? 1) - 1;
  }

  batches(since: number, request: FeedRequest): AsyncIterable<Batch> {
    return readBatches({ sql: this.ctx.sql, schema: this.s, db: this.id, predicates: this.ctx.predicates }, since, request.exceptSite, request.read);
  }

  changed(signal: AbortSignal): Promise<void> {
    return this.ctx.changed(this.name, signal);
  }

  /**
   * The batches after `since` as an unfiltered read with no site left out gives them, from what this
   * process's merges stored since the last call (their rows, which they hold as stored) rather than
   * read back. Undefined (read instead) unless they stored every version from `since` on, up to the
   * newest this process has heard of (its own merges' and the notifications' — one heard of but
   * not in them is another process's, which only a read gives). A merge heard of later wakes the
   * fan-out again.
   */
  takeStored(since: number): Batch[] | undefined {
    const h = this.handed;
    this.handed = undefined;
    if (!h || since < h.from || since > h.to || h.to < this.ctx.heard(this.name)) return undefined;
    this.took = { from: h.from, to: h.to, direct: h.direct };
    // A read started by the notification of a merge here may have got part of it already.
    const changes: Change[] = [];
    for (const cells of h.rows.values()) for (const c of cells) if ((c.dbVersion as number) > since) changes.push(c);
    changes.sort((x, y) => (x.dbVersion as number) - (y.dbVersion as number) || (x.seq as number) - (y.seq as number));
    return [...batchByVersion(changes, undefined, since), { changes: [], version: h.to, complete: true }];
  }

  async directVersions(since: number, until: number): Promise<Map<number, Uint8Array>> {
    const took = this.took;
    if (took && since >= took.from && until <= took.to) {
      // Of versions this process merged and handed over: it knows them.
      const out = new Map<number, Uint8Array>();
      for (const [v, site] of took.direct) if (v > since && v <= until) out.set(v, site);
      return out;
    }
    const rows = await this.ctx.sql.unsafe<{ v: number; site: Buffer }[]>(`SELECT db_version::float8 AS v, site FROM ${this.s}.direct_versions WHERE db = $1 AND db_version > $2 AND db_version <= $3`, [
      this.id,
      since,
      until,
    ], PREPARED);
    return new Map(rows.map((r) => [Number(r.v), bytes(r.site)]));
  }

  // --- the sink ---

  async trackedVersion(siteId: Uint8Array): Promise<number> {
    const [row] = await this.ctx.sql.unsafe<{ version: number }[]>(`SELECT version::float8 AS version FROM ${this.s}.tracked WHERE db = $1 AND site_id = $2`, [this.id, bytea(siteId)], PREPARED);
    return row ? Number(row.version) : 0;
  }

  /** Binds a pusher's site id to its address (first binding wins, as the engine's owners.ts). */
  async bindSite(siteId: Uint8Array, address: string): Promise<void> {
    await this.ctx.sql.unsafe(`INSERT INTO ${this.s}.site_owners (db, site_id, owner) VALUES ($1, $2, $3) ON CONFLICT (db, site_id) DO NOTHING`, [this.id, bytea(siteId), address]);
    const [row] = await this.ctx.sql.unsafe<{ owner: string }[]>(`SELECT owner FROM ${this.s}.site_owners WHERE db = $1 AND site_id = $2`, [this.id, bytea(siteId)]);
    if (row?.owner !== address) throw new SiteClaimError(siteId, row?.owner ?? '?', address);
  }

  private async track(sql: Sql | TransactionSql, siteId: Uint8Array, version: number): Promise<void> {
    await sql.unsafe(
      `INSERT INTO ${this.s}.tracked (db, site_id, version) VALUES ($1, $2, $3)
       ON CONFLICT (db, site_id) DO UPDATE SET version = GREATEST(${this.s}.tracked.version, excluded.version)`,
      [this.id, bytea(siteId), version],
      PREPARED,
    );
  }

  async receive(batch: Batch, from: PushOrigin): Promise<Received | undefined> {
    if (!batch.complete) {
      // Part of a transaction larger than a batch: kept (in PostgreSQL) until its last batch comes.
      await this.ctx.sql.unsafe(`INSERT INTO ${this.s}.pending (db, site_id, changes) VALUES ($1, $2, $3)`, [this.id, bytea(from.siteId), bytea(batch.encoded ?? encodeChanges(batch.changes))]);
      return undefined;
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ batch, from, resolve, reject });
      void this.drain();
    });
  }

  /**
   * Merges what waits, a group at a time (a group commit): while one transaction runs, the pushes
   * that arrive meanwhile wait and then go in one transaction together — each pusher's waiting
   * pushes merged as one, its own version, pushers in order of arrival — so one database's lock,
   * round trips and WAL flush are shared by many small pushes. A group that fails is merged again
   * pusher by pusher, so only the faulty one fails; none of its later pushes is merged then.
   */
  private async drain(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    try {
      // A turn is handed out at this turn of the event loop's setImmediate at the earliest (slots.ts):
      // the pushes read from the other sockets in this turn go in the first group too, and other
      // databases' groups of this turn in its transaction.
      while (this.queue.length > 0) {
        // The group is made once a merge slot is held, not before: under load a database waits for
        // a slot, and the pushes that arrive meanwhile join this group instead of the next one — the
        // transaction's fixed cost (round trips, statements, commit, the fan-out's wake) is shared by
        // more changes exactly when the hub is saturated.
        const turn = await this.ctx.mergeTurns.take(this);
        if (!turn) continue; // merged in the transaction of another database's turn
        try {
          await PgHubDatabase.mergeTogether([this, ...turn.along]);
        } finally {
          turn.done();
        }
      }
    } finally {
      this.draining = false;
    }
  }

  /**
   * Merges a group of what waits in each database's queue (drain, a merge slot held): one
   * transaction for all of them, their rows locked in the order of their ids (so hub processes
   * that lock several databases' rows never wait for each other in a cycle). If it fails, each
   * database's group is merged again on its own (and pusher by pusher if that fails too), so only a
   * faulty push fails.
   */
  private static async mergeTogether(dbs: readonly PgHubDatabase[]): Promise<void> {
    const taken = dbs.map((db) => ({ db, group: db.takeGroup() })).filter((g) => g.group.length > 0);
    // A group under a write guard rolls back to savepoints (guard.ts), which would take other
    // groups' statements sent meanwhile with them: it never shares a transaction.
    const guarded = ({ group }: { group: Entry[] }): boolean => group.some((e) => e.from.gate.writeGuard(e.from.peer) !== undefined);
    for (const g of taken.filter(guarded)) await g.db.runGroup(g.group);
    const groups = taken.filter((g) => !guarded(g));
    if (groups.length === 0) return;
    if (groups.length === 1) return groups[0]!.db.runGroup(groups[0]!.group);
    groups.sort((x, y) => (x.db.id < y.db.id ? -1 : x.db.id > y.db.id ? 1 : 0));
    const ctx = groups[0]!.db.ctx;
    const tx = await ctx.sql.reserve();
    let outcomes: PromiseSettledResult<Received[][]>[];
    try {
      // BEGIN, then each group's lock and loads, in order: statements go out in the order sent.
      const begin = tx.unsafe('BEGIN').execute();
      let commit!: () => void;
      let abort!: (err: unknown) => void;
      const committed = new Promise<void>((resolve, reject) => ((commit = resolve), (abort = reject)));
      committed.catch(() => {}); // each group awaits it
      const readies: Promise<boolean>[] = [];
      const parts = groups.map(({ db, group }) => {
        let ready!: (ok: boolean) => void;
        readies.push(new Promise((resolve) => (ready = resolve)));
        const part = db.mergeGroup(group, false, { tx, ready, committed });
        part.catch(() => {}); // settled below, after the COMMIT or ROLLBACK
        return part;
      });
      const failure = begin.then(
        () => undefined,
        (err: unknown) => err,
      );
      const ok = (await Promise.all(readies)).every(Boolean) && (await failure) === undefined;
      if (ok) tx.unsafe('COMMIT').execute().then(() => commit(), abort);
      else {
        await tx.unsafe('ROLLBACK').catch(() => {});
        abort(new HubStoreError('the shared merge transaction was rolled back'));
      }
      outcomes = await Promise.allSettled(parts);
    } finally {
      tx.release();
    }
    for (const [i, { db, group }] of groups.entries()) {
      const o = outcomes[i]!;
      if (o.status === 'fulfilled') group.forEach((e, j) => db.settle(e, o.value[j]!));
      else await db.runGroup(group);
    }
  }

  private settle(e: Entry, r: Received[]): void {
    const site = hex(e.from.siteId);
    this.merged.set(site, Math.max(this.merged.get(site) ?? -1, e.pushes[e.pushes.length - 1]!.batch.version));
    e.pushes.forEach((q, i) => q.resolve(r[i]!));
  }

  private fail(e: Entry, err: unknown): void {
    this.failed.set(e.from, err);
    for (const q of e.pushes) q.reject(err);
  }

  /** Merges a group in a transaction of its own; if that fails, pusher by pusher. */
  private async runGroup(group: readonly Entry[]): Promise<void> {
    try {
      const results = await this.mergeGroup(group, group.length === 1);
      group.forEach((e, i) => this.settle(e, results[i]!));
    } catch (err) {
      if (group.length === 1) this.fail(group[0]!, err);
      else {
        for (const e of group) {
          await this.mergeGroup([e], true).then(
            ([r]) => this.settle(e, r!),
            (x: unknown) => this.fail(e, x),
          );
        }
      }
    }
  }

  /** Takes the next group from the queue: one entry per pusher (site), in order of arrival. */
  private takeGroup(): Entry[] {
    // One entry per site in a group (what waited in `pending` belongs to its first push).
    const group: Entry[] = [];
    const sites = new Map<string, Entry>();
    for (let i = 0; i < this.queue.length; ) {
      const q = this.queue[i]!;
      const failed = this.failed.get(q.from);
      if (failed !== undefined) {
        this.queue.splice(i, 1);
        q.reject(failed);
        continue;
      }
      const site = hex(q.from.siteId);
      const entry = sites.get(site);
      if (entry ? entry.from === q.from && entry.pushes.length < MAX_RUN : group.length < this.ctx.maxGroup) {
        if (entry) entry.pushes.push(q);
        else {
          const e = { from: q.from, pushes: [q] };
          sites.set(site, e);
          group.push(e);
        }
        this.queue.splice(i, 1);
      } else i++;
    }
    return group;
  }

  /**
   * Merges pushes in one transaction, on a connection of its own run by hand and pipelined: BEGIN,
   * the lock and the load of the pushes' rows go out together; then the merges' writes, the stamps
   * and COMMIT — two round trips when the pushes fit a window. Throws if any push fails (nothing
   * landed); `alone`: a push that fails also forgets what waited for it. `shared`: in a transaction
   * other databases' groups share (mergeTogether), begun and ended by the caller.
   */
  private async mergeGroup(group: readonly Entry[], alone: boolean, shared?: SharedTx): Promise<Received[][]> {
    // Nothing awaited before the lock is sent when shared: the caller sends the groups' locks in order.
    const tx = shared ? shared.tx : await this.ctx.sql.reserve();
    const io = new PgCellIO(tx as unknown as Sql, this.s, this.id);
    const conflicts = new ConflictNotes();
    const results: Received[][] = [];
    let applied = false;
    // Committed and applied something: what it stored, kept for the fan-out (see handOver).
    // The version its COMMIT makes the newest, once sent.
    let committing: number | undefined;
    let kept: { open: number; next: number; io: PgCellIO; direct: { site: string[]; version: number[] } } | undefined;
    try {
      // postgres.js sends a query when it is awaited, or at once with execute(): BEGIN must go first.
      const begin = shared ? undefined : tx.unsafe('BEGIN').execute();
      // Lock the version row, and take what waited for these batches (if anything).
      const locked = tx
        .unsafe<{ open: number; tables: TableInfo[]; site: Buffer | null; changes: Buffer | null }[]>(
          `WITH d AS (SELECT open_version, tables FROM ${this.s}.databases WHERE id = $1 FOR UPDATE),
                w AS (DELETE FROM ${this.s}.pending WHERE db = $1 AND site_id IN (SELECT decode(h, 'hex') FROM unnest($2::text[]) h) RETURNING site_id, n, changes)
           SELECT d.open_version::float8 AS open, d.tables, w.site_id AS site, w.changes FROM d LEFT JOIN w ON true ORDER BY w.n`,
          [this.id, tx.array(group.map((q) => hex(q.from.siteId)) as never[], 1009)],
          PREPARED,
        )
        .execute();
      // Run after the lock is held, so they see every merge committed before (READ COMMITTED).
      const rows = rowsOf(group.flatMap((e) => e.pushes.flatMap((q) => q.batch.changes)));
      if (rows) io.preload(rows);
      await begin;
      const locks = await locked;
      if (locks.length === 0) throw new HubStoreError(`hosted database ${this.name} is gone`);
      const { open, tables } = locks[0]!;
      let version = open;
      // What the group's last statement records: each pusher's version, and the versions merged
      // straight from their pusher (its site id proved in the session), so its feed leaves its own
      // changes of those versions out for it (as the engine's `direct`).
      const tracked: { site: string[]; version: number[] } = { site: [], version: [] };
      const direct: { site: string[]; version: number[] } = { site: [], version: [] };
      const touched: Change[] = []; // changes of the merges that applied something
      for (const { pushes, from } of group) {
        const site = hex(from.siteId);
        const last = pushes[pushes.length - 1]!.batch;
        const parts: Change[][] = locks.flatMap((w) => (w.changes && w.site && hex(w.site) === site ? [decodeChanges(bytes(w.changes))] : []));
        for (const q of pushes) parts.push(q.batch.changes);
        const changes = fitting(parts.length === 1 ? parts[0]! : parts.flat(), tables, `staged change from ${from.source}`);
        const merged = await this.merge(tx as unknown as Sql, io, tables, changes, version, from, conflicts);
        conflicts.close(merged.applied > 0 ? version : undefined, from.source);
        tracked.site.push(site);
        tracked.version.push(last.version);
        if (merged.applied > 0) {
          touched.push(...parts.flat());
          direct.site.push(site);
          direct.version.push(version);
          version++;
          applied = true;
        }
        // The last push's answer holds what applied and every refusal (the pushes merged as one).
        const refused = merged.refused.map((r) => ({ version: Number(r.dbVersion), message: refusalText(r) }));
        results.push(pushes.map((q) => (q.batch === last ? { version: last.version, applied: merged.applied, refused } : { version: q.batch.version, applied: 0, refused: [] })));
      }
      // The merges' writes go first: in the last statement if nothing reads the cells before it
      // (no documents to materialize), else as statements of their own.
      const docs = touched.length > 0 && touchedDocuments(touched).length > 0;
      const folded = docs ? undefined : io.foldWrites(LAST_PARAMS + 1);
      if (!folded) await io.flushed();
      // Documents the merges touched are materialized again, in the same transaction (documents.ts).
      if (docs) await materializeDocuments(tx as unknown as Sql, this.s, this.id, touched);
      // The conflicts met, as the engine records them (source: the pusher's label, as the SQLite store).
      const noted = conflicts.write(tx as unknown as Sql, this.s, this.id, Date.now());
      noted?.catch(() => {}); // awaited with the commit
      // Track the pushers, record direct versions, stamp the version, tell every hub process
      // (delivered at commit): one statement; commit.
      const a = tx.array.bind(tx) as (xs: unknown[], type: number) => never;
      const last = tx
        .unsafe(
          `WITH ${folded?.ctes.map((c) => `${c},\n`).join('') ?? ''}t AS (INSERT INTO ${this.s}.tracked (db, site_id, version) SELECT $1, decode(x.s, 'hex'), x.v FROM unnest($2::text[], $3::int8[]) AS x(s, v)
                      ON CONFLICT (db, site_id) DO UPDATE SET version = GREATEST(${this.s}.tracked.version, excluded.version)),
                dv AS (INSERT INTO ${this.s}.direct_versions (db, db_version, site) SELECT $1, y.v, decode(y.s, 'hex') FROM unnest($4::text[], $5::int8[]) AS y(s, v)
                      ON CONFLICT (db, db_version) DO UPDATE SET site = excluded.site),
                ov AS (UPDATE ${this.s}.databases SET open_version = $6::int8 WHERE id = $1 AND $6::int8 > $7::int8)
           SELECT CASE WHEN $6::int8 > $7::int8 THEN pg_notify($8, $9) END`,
          [this.id, a(tracked.site, 1009), a(tracked.version, 1016), a(direct.site, 1009), a(direct.version, 1016), version, open, this.ctx.channel, `${this.name} ${version - 1}`, ...(folded?.params ?? [])],
          PREPARED,
        )
        .execute();
      // Its notification may come back before the COMMIT's answer: this process's wake follows.
      if (version > open) this.ctx.committing(this.name, (committing = version - 1));
      let commit: Promise<unknown>;
      if (shared) {
        shared.ready(true);
        commit = shared.committed;
      } else commit = tx.unsafe('COMMIT').execute();
      // If a write or statement failed, PostgreSQL turns the COMMIT into a rollback: nothing landed.
      await Promise.all([io.written(), noted, last, commit]);
      if (applied) kept = { open, next: version, io, direct };
    } catch (err) {
      shared?.ready(false); // (no effect if it was ready)
      if (committing !== undefined) {
        // It may have committed all the same (an answer lost): nothing is handed over, the fan-out reads.
        this.handed = undefined;
        this.ctx.settled(this.name, undefined);
      }
      // Writes kept for the end are dropped (never sent after the rollback). A failed write makes
      // every later statement fail: report the write's own error.
      const cause = io.abandoned().then(
        () => err,
        (first: unknown) => first,
      );
      if (!shared) await tx.unsafe('ROLLBACK').catch(() => {});
      // Nothing of it landed; what waited for it is not kept either (as the SQLite store forgets it).
      if (alone) await this.dropIncomplete(group[0]!.from).catch(() => {});
      throw await cause;
    } finally {
      if (!shared) tx.release();
    }
    if (kept) {
      this.handOver(kept.open, kept.next, kept.io, kept.direct);
      this.ctx.settled(this.name, kept.next - 1);
    }
    return results;
  }

  /**
   * Keeps what a committed group stored in the versions [`open`, `next`) for the fan-out to take
   * (takeStored): its rows as stored, replacing the same rows of what earlier groups kept if it
   * continues that (a row's cells of theirs it overwrote or deleted are gone from it), or on their
   * own. Nothing is kept if its rows are not known exactly (the fan-out reads).
   */
  private handOver(open: number, next: number, io: PgCellIO, direct: { site: string[]; version: number[] }): void {
    const h = this.handed;
    const continues = h !== undefined && h.to === open - 1;
    this.handed = undefined;
    // Kept only while something here waits for its changes (its fan-out, which takes it at the
    // wake): a database nobody here follows keeps nothing in memory.
    if (!this.ctx.following(this.name)) return;
    const rows = io.storedRows(continues ? h.from : open - 1);
    if (!rows) return;
    const kept: Handed = continues ? h : { from: open - 1, to: open - 1, rows: new Map(), size: 0, direct: new Map() };
    for (const [key, cells] of rows) {
      kept.size += cells.length - (kept.rows.get(key)?.length ?? 0);
      kept.rows.set(key, cells);
    }
    if (kept.size > HANDED_CHANGES) return;
    direct.version.forEach((v, i) => kept.direct.set(v, bytes(Buffer.from(direct.site[i]!, 'hex'))));
    kept.to = next - 1;
    this.handed = kept;
  }

  private async merge(tx: Sql, io: PgCellIO, list: TableInfo[], changes: Iterable<Change>, version: number, from: PushOrigin, conflicts: ConflictNotes): Promise<MergeResult & { refused: Refusal[] }> {
    const tables = new Map(list.map((t) => [t.name, t]));
    const sites = new SiteOrdinals(this.siteId);
    const guard = from.gate.writeGuard(from.peer);
    if (guard) {
      await io.uncached(); // the guard rolls refused transactions back to a savepoint
      return mergeGuardedCells(tx, () => io, tables, sites, changes, version, guard, this.ctx.predicates, conflicts);
    }
    return { ...(await mergeCells(io, tables, sites, changes, version, 0, conflicts)), refused: [] };
  }

  /** The newest conflicts merges into it met, newest first (conflicts.ts). */
  async conflicts(limit: number): Promise<Conflict[]> {
    return readConflicts(this.ctx.sql, this.s, this.id, limit);
  }

  async caughtUp(version: number, from: PushOrigin): Promise<void> {
    // Recorded by the merge already when this process merged up to `version` (no round trip then).
    if (version <= (this.merged.get(hex(from.siteId)) ?? -1)) return;
    await this.track(this.ctx.sql, from.siteId, version);
  }

  async dropIncomplete(from: PushOrigin): Promise<void> {
    await this.ctx.sql.unsafe(`DELETE FROM ${this.s}.pending WHERE db = $1 AND site_id = $2`, [this.id, bytea(from.siteId)]);
  }
}

/** The metadata of a database row. */
export function infoOf(row: { name: string; app: string; owner: string; tables: TableInfo[] }, shares: Record<string, PeerPolicy>): DatabaseInfo {
  const owner: HubUser = { app: row.app, user: row.owner };
  return { name: row.name, owner, shares, tables: sortTables(row.tables) };
}
