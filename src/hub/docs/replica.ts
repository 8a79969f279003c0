/**
 * A hub-side document replica: what the hub's JSON document API (socket.ts) reads and writes. It is
 * an ordinary repository (an engine on its own SQLite file under the hub's document cache) holding
 * `Documents`, that follows one hosted database exactly as a library client of one user would —
 * through a sync session served by `serveHubSession` with that user's principal and policy, over an
 * in-process channel instead of a WebSocket. So:
 *
 * - an edit made through the JSON API is a real CRR change of the replica's site, pushed into the
 *   store through the same schema declaration, gate and sink as any pushed change (refused whole by
 *   the user's write policy, durable before it is acknowledged), with the same history and merge
 *   rules as a library client's;
 * - the replica receives every change the store's feed has — from library clients, other replicas,
 *   other hub processes on the same PostgreSQL — filtered by the user's read policy, and its
 *   `Documents` turns them into events;
 * - one code path serves both storage modes: the store is reached only through its port.
 *
 * One replica per (database, user), because read and write policies are per user: a replica holds
 * only what its user may read and pushes as that user.
 */
import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Documents } from '../../docs/index.ts';
import { ident, transaction, type Engine } from '../../engine/index.ts';
import { isSchemaMisfit, type FollowEvent } from '../../repo/follow.ts';
import type { RepoFeed } from '../../repo/feed.ts';
import { Repository } from '../../repo/repository.ts';
import type { Dial } from '../../sync/protocol.ts';
import type { SessionLog } from '../../sync/server.ts';
import { framePair } from '../../transport/memory.ts';
import { accessOf } from '../access.ts';
import type { Principal } from '../auth/port.ts';
import { HubRequestError } from '../errors.ts';
import type { HubMetrics } from '../metrics.ts';
import { serveHubSession } from '../session.ts';
import { planDeclare } from '../storage/declare.ts';
import type { HubDatabase } from '../storage/port.ts';
import { DocsApiError } from './errors.ts';

/** The replica's one remote: the hosted database (the location is a label; sessions are dialled in-process). */
const REMOTE = 'hub';

export interface ReplicaOptions {
  /** The replica's folder (a repository; created on first use, resumed after). */
  dir: string;
  db: HubDatabase;
  /** Whose replica: sessions are served as this principal (the latest one that connected). */
  principal: Principal;
  metrics: HubMetrics;
  log: SessionLog;
}

interface Waiter {
  version: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

/** Makes the replica's schema hold the hosted database's tables (so pulled changes fit), as the hub's own declare does. */
export function mirrorSchema(engine: Engine, tables: Parameters<typeof planDeclare>[1]): void {
  const plan = planDeclare(engine.crrs(), tables);
  if (plan.create.length === 0 && plan.add.length === 0) return;
  transaction(engine.db, () => {
    for (const t of plan.create) {
      const cols = [...t.pks.map((c) => `${ident(c)} NOT NULL`), ...t.columns.map(ident)];
      engine.db.exec(`CREATE TABLE ${ident(t.name)} (${cols.join(', ')}, PRIMARY KEY (${t.pks.map(ident).join(', ')}))`);
      engine.asCrr(t.name);
    }
    for (const a of plan.add) {
      engine.beginAlter(a.table);
      for (const c of a.columns) engine.db.exec(`ALTER TABLE ${ident(a.table)} ADD COLUMN ${ident(c)}`);
      engine.commitAlter(a.table);
    }
  });
}

export class DocsReplica {
  readonly docs: Documents;
  readonly db: HubDatabase;
  /** Resolves once the replica has caught up with the database for the first time. */
  readonly ready: Promise<void>;
  /** Whose replica; the sessions it dials use the latest principal given. */
  principal: Principal;
  private readonly repo: Repository;
  private readonly feed: RepoFeed;
  private readonly options: ReplicaOptions;
  private readonly stop = new AbortController();
  private readonly task: Promise<void>;
  private readonly waiters = new Set<Waiter>();
  /** The database's tracked version of us: everything up to it was merged or refused there. */
  private acked = 0;
  /** Our versions the database refused, and why (kept until their waiters have heard). */
  private readonly refused = new Map<number, string>();
  private closed = false;

  private constructor(repo: Repository, options: ReplicaOptions) {
    this.repo = repo;
    this.options = options;
    this.db = options.db;
    this.principal = options.principal;
    // A hub holds one of these per user and database: a smaller cache of documents (≈ 1 kB each) than a client's,
    // and SQLite's default page cache (a client's 64 MiB, times users and databases, would be the hub's memory).
    this.docs = new Documents(repo.engine, { author: options.principal.user, cacheSize: 1_000, pageCacheBytes: 0 });
    this.feed = repo.feed();
    let readyResolve!: () => void;
    let readyReject!: (err: Error) => void;
    this.ready = new Promise<void>((resolve, reject) => {
      readyResolve = resolve;
      readyReject = reject;
    });
    this.ready.catch(() => {}); // a caller that never awaits it must not see an unhandled rejection
    let isReady = false;
    const onEvent = (e: FollowEvent): void => {
      if (e.type === 'merged') {
        if (e.outcome.received > 0) this.docs.refresh();
      } else if (e.type === 'caught-up') {
        if (!isReady) {
          isReady = true;
          this.docs.refresh();
          readyResolve();
        }
      } else if (e.type === 'acked') this.ack(e.version);
      else if (e.type === 'refused') this.refused.set(e.refusal.version, e.refusal.message);
      else if (e.type === 'disconnected' && e.error && !isReady && !this.closed) {
        // The first session failed (access gone, the store down): the caller hears why.
        isReady = true;
        readyReject(e.error);
      }
    };
    this.task = this.run(onEvent);
  }

  /** Opens (or creates) the replica in `options.dir` and starts following the database. */
  static async open(options: ReplicaOptions): Promise<DocsReplica> {
    const repo = existsSync(`${options.dir}/.ddcp/config.json`) ? Repository.open(options.dir) : await Repository.init(options.dir);
    try {
      repo.onNotice = (m) => options.log('warn', `document replica of ${options.db.name}: ${m}`);
      if (!repo.remotes().some((r) => r.name === REMOTE)) repo.addRemote(REMOTE, `ws://hub.invalid/${options.db.name}`);
      mirrorSchema(repo.engine, (await options.db.info()).tables);
      return new DocsReplica(repo, options);
    } catch (err) {
      repo.close();
      throw err;
    }
  }

  /** A sync session with the database, served in-process as the replica's user under their policy now. */
  private readonly dial: Dial = async (signal) => {
    const policy = accessOf(await this.db.info(), this.principal);
    if (!policy) throw new HubRequestError(403, 'forbidden', `database ${this.db.name} is not yours and not shared with you`);
    const [server, client] = framePair({ names: [`${this.principal.user}@json-api`, `hub:${this.db.name}`] });
    void serveHubSession(server, {
      db: this.db,
      principal: this.principal,
      policy,
      signal: signal ?? this.stop.signal,
      metrics: this.options.metrics,
      clock: {},
      log: this.options.log,
    });
    return client;
  };

  /** Follows the database until closed; a schema the database grew since is mirrored and following resumes. */
  private async run(onEvent: (e: FollowEvent) => void): Promise<void> {
    const signal = this.stop.signal;
    while (!signal.aborted) {
      try {
        await this.repo.follow(REMOTE, this.dial, { signal, onEvent, push: this.feed, retryMs: 50, maxRetryMs: 2_000 });
      } catch (err) {
        if (signal.aborted) break;
        this.options.log('warn', `document replica of ${this.db.name} for ${this.principal.user}: ${(err as Error).message}`);
        if (isSchemaMisfit(err)) {
          try {
            mirrorSchema(this.repo.engine, (await this.db.info()).tables);
          } catch (e) {
            this.options.log('warn', `document replica of ${this.db.name}: cannot mirror its schema: ${(e as Error).message}`);
          }
        }
        await sleep(500, undefined, { signal }).catch(() => {});
      }
    }
  }

  /**
   * Runs a change through `Documents` and resolves with its result once the database has merged it
   * (durably); rejects with {@link DocsApiError} `refused` if the database's gate refused it. A
   * change that changes nothing resolves at once. Errors `fn` throws (an invalid patch…) pass
   * through, with nothing changed.
   */
  async write<T>(fn: (docs: Documents) => T): Promise<T> {
    const { result, merged } = this.begin(fn);
    await merged;
    return result;
  }

  /**
   * The first half of {@link write}: runs the change now (throwing what `fn` throws, or if closed)
   * and gives its result with a promise that settles once the database merged (or refused) it.
   * Changes begun one after another are pushed in that order, without each waiting for the one
   * before to be merged (several go in one push).
   */
  begin<T>(fn: (docs: Documents) => T): { result: T; merged: Promise<void> } {
    if (this.closed) throw new DocsApiError('unavailable', 'the document replica is closed');
    const before = this.repo.engine.dbVersion();
    const result = fn(this.docs);
    const version = this.repo.engine.dbVersion(); // seals the change under its own version
    if (version === before) return { result, merged: Promise.resolve() };
    this.feed.check(); // the session sends it now
    const merged = new Promise<void>((resolve, reject) => {
      const w: Waiter = { version, resolve, reject };
      this.waiters.add(w);
      this.settle(w);
    });
    return { result, merged };
  }

  private ack(version: number): void {
    this.acked = Math.max(this.acked, version);
    for (const w of [...this.waiters]) this.settle(w);
    for (const v of this.refused.keys()) if (v <= this.acked && ![...this.waiters].some((w) => w.version === v)) this.refused.delete(v);
  }

  private settle(w: Waiter): void {
    if (w.version > this.acked) return;
    this.waiters.delete(w);
    const why = this.refused.get(w.version);
    if (why === undefined) w.resolve();
    else w.reject(new DocsApiError('refused', `the database refused the change: ${why}`));
  }

  /** Stops following and closes the replica's repository (its files stay, so the next open resumes). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stop.abort();
    for (const w of this.waiters) w.reject(new DocsApiError('unavailable', 'the document replica closed before the database acknowledged the change'));
    this.waiters.clear();
    await this.task;
    this.feed.stop();
    this.repo.close();
  }
}
