/**
 * Where fetched changes come from. A source streams a peer's changes since a version as bounded
 * batches; the fetch logic doesn't care whether the peer is a folder on this machine or (later) a
 * node on the network.
 */
import { existsSync } from 'node:fs';
import type { Change } from '../engine/change.ts';
import { Engine } from '../engine/engine.ts';
import type { TableInfo } from '../engine/schema.ts';
import { openDatabase, type SqliteConnection } from '../engine/sqlite.ts';
import { batchByVersion, type Batch } from '../sync/batches.ts';
import { readConfig } from './config.ts';
import { RemoteError } from './remotes.ts';
import { dbPathOf, layout } from './layout.ts';

export interface ChangeSource {
  /** The peer's site id. */
  readonly siteId: Uint8Array;
  /** The peer's CRR tables. */
  schema(): TableInfo[];
  /**
   * The peer's changes after `since`, leaving out those that originated at `exceptSite`, as bounded
   * batches (see batches.ts). The last batch (possibly empty) carries the version the peer was at.
   */
  batches(since: number, exceptSite: Uint8Array): AsyncGenerator<Batch>;
  close(): void;
}

/** A repository in a folder on this machine. Reads through its own connection (WAL: never blocks its writers). */
export class LocalSource implements ChangeSource {
  private readonly db: SqliteConnection;
  private readonly engine: Engine;

  constructor(root: string) {
    let config;
    try {
      config = readConfig(layout(root).config);
    } catch (cause) {
      throw new RemoteError(`${root} is not a usable ddcp repository: ${(cause as Error).message}`, { cause });
    }
    const dbPath = dbPathOf(root, config.db);
    // openDatabase would create an empty database (with a new site id) in the remote's repository
    if (!existsSync(dbPath)) throw new RemoteError(`the database of the repository at ${root} is missing (${dbPath})`);
    try {
      this.db = openDatabase(dbPath);
      this.engine = Engine.open(this.db);
    } catch (cause) {
      throw new RemoteError(`cannot open the database of the repository at ${root}: ${(cause as Error).message}`, { cause });
    }
  }

  get siteId(): Uint8Array {
    return this.engine.siteId;
  }

  schema(): TableInfo[] {
    return this.engine.crrs();
  }

  async *batches(since: number, exceptSite: Uint8Array): AsyncGenerator<Batch> {
    const at = this.engine.dbVersion();
    let last = since;
    for (const batch of batchByVersion(this.engine.changesSince(since, { exceptSite }))) {
      last = batch.version;
      yield batch;
    }
    yield { changes: [] as Change[], version: Math.max(at, last), complete: true };
  }

  close(): void {
    this.db.close();
  }
}
