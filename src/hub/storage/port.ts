/**
 * The hub's storage port: where hosted databases live (SQLite files in a data folder, or
 * PostgreSQL). A handful of methods, like automerge-repo's storage port; the server does the rest.
 * Every implementation passes one conformance suite (test/support/hub-store-suite.ts).
 *
 * A hosted database is what a sync session talks to: its `feed` (what clients pull, with a change
 * signal that must also fire for changes another hub process accepted) and its `sink` (what clients
 * push). Its CRR schema comes from the first push (`declare`) and may grow by added tables and columns.
 * Its metadata says who owns it and with whom it is shared, under which sync-v2 policy.
 */
import type { Conflict, TableInfo } from '../../engine/index.ts';
import type { PeerPolicy } from '../../sync/policy.ts';
import type { ChangeFeed, ChangeSink } from '../../sync/ports.ts';
import type { SiteProof } from '../../sync/proof.ts';

/** A user of an app: who owns a database. Users of one app share its namespace of user ids. */
export interface HubUser {
  app: string;
  user: string;
}

/** A hosted database's metadata. */
export interface DatabaseInfo {
  name: string;
  owner: HubUser;
  /**
   * Users of the owner's app it is shared with, and what each may read and write (sync-v2 policy;
   * a rule's `:peer` is the user id). The owner reads and writes everything.
   */
  shares: Record<string, PeerPolicy>;
  /** Its CRR tables (none until the first push declares them). */
  tables: TableInfo[];
}

/** A hosted database's name, owner and shares: its metadata without its tables. */
export type DatabaseAccess = Pick<DatabaseInfo, 'name' | 'owner' | 'shares'>;

/** One hosted database, open. */
export interface HubDatabase {
  readonly name: string;
  /** What clients pull; `changed()` also fires for changes accepted by another hub process on the same storage. */
  readonly feed: ChangeFeed;
  /**
   * What clients push (merged through the session's gate; acknowledged only once durable). A
   * session hands it several pushes before the first is answered: it merges an origin's pushes in
   * the order given, and none of them after one that failed.
   */
  readonly sink: ChangeSink;
  /**
   * The database's claim to its site id (sync/proof.ts), signed by its own identity: an Ed25519 key
   * made when the database was created and stored with it, so every hub process serving it proves
   * the same address.
   */
  readonly proof: SiteProof;
  /**
   * The versions in (`since`, `until`] merged straight from their origin (a pusher whose site id was
   * proved in its session), each with that site id: whoever filters the feed's changes itself (the
   * hub's fan-out, hub/fanout.ts) leaves a site's own changes out for it only at these versions, as
   * the feed's `exceptSite` does.
   */
  directVersions(since: number, until: number): Promise<Map<number, Uint8Array>>;
  /** Owner, shares, tables — as stored now. */
  info(): Promise<DatabaseInfo>;
  /**
   * Makes the database's schema hold `tables`: creates missing tables and adds missing columns (the
   * schema only grows). Throws {@link SchemaDeclareError} naming the table (and column) that cannot
   * fit — another primary key, a key column declared as a non-key one or the reverse, a reserved
   * name — and changes nothing then.
   */
  declare(tables: readonly TableInfo[]): Promise<void>;
  /** Shares the database with `user` (of the owner's app) under `policy`, or stops sharing (undefined). */
  share(user: string, policy: PeerPolicy | undefined): Promise<void>;
  /**
   * The newest conflicts its merges recorded (engine/conflicts.ts), newest first, for the inspector;
   * absent where the store does not record them (both stores here do; PostgreSQL's: postgres/conflicts.ts).
   */
  conflicts?(limit: number): Promise<Conflict[]>;
  /**
   * Gives back the hold the `open` that returned it took: call it once per such open, when done
   * with the database (a session ended, an API call answered). A database nobody holds, with no work
   * in flight, is closed after the store's idle time and opened again by the next `open`
   * (storage/leases.ts). Absent: the store keeps its databases open while it runs.
   */
  release?(): void;
}

/** Where hosted databases live. */
export interface HubStore {
  /**
   * The database called `name`, open and held until its `release()` (every holder at a time gets the
   * same one), or undefined if there is none — unless `create` is given: then a missing one is
   * created, owned by `create`.
   * Throws {@link DatabaseNameError} for a name that is not a valid database name.
   */
  open(name: string, create?: HubUser): Promise<HubDatabase | undefined>;
  /** Every hosted database's metadata, by name. */
  list(): Promise<DatabaseInfo[]>;
  /**
   * The databases `who` owns or is shared with, by name, without their tables: from the store's
   * metadata alone, opening no database (any user may ask, as often as they like). Absent: the
   * server filters {@link list}.
   */
  listFor?(who: HubUser): Promise<DatabaseAccess[]>;
  /** Hosted databases open now (held, or idle and not closed yet), for the `ddcp_hub_open_databases` gauge. */
  readonly openDatabases?: number;
  /**
   * Opens that went past the store's cap on open databases because every open one was in use
   * (storage/leases.ts), for the `ddcp_hub_opens_over_cap_total` counter.
   */
  readonly opensOverCap?: number;
  /** Closes every open database; pending writes are durable when it resolves. */
  close(): Promise<void>;
}

export { DatabaseNameError, HubStoreError, SchemaDeclareError, checkDatabaseName } from './errors.ts';
