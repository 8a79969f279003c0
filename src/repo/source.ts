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

/** What a fetch asks a source for. */
export interface SourceRequest {
  /** The site id we expect the peer to have (from an earlier fetch), if any. */
  expectedSite?: Uint8Array;
  /** The peer's version to start after, given its site id. */
  since(siteId: Uint8Array): number;
  /** Leave out changes that originated here. */
  exceptSite: Uint8Array;
}

/** An open read of a peer's changes. */
export interface SourceRead {
  /** The peer's site id. */
  siteId: Uint8Array;
  /** The peer's CRR tables. */
  schema: TableInfo[];
  /**
   * The peer's changes after the requested version, as bounded batches (see batches.ts). The last
   * batch (possibly empty, complete) carries the version the peer was at.
   */
  batches: AsyncGenerator<Batch>;
  /**
   * The peer's db_versions this read covers, when known: after `since`, up to `version` (where the
   * peer was when the read began). Lets progress show how far a fetch is; counts of changes are not
   * known before they arrive.
   */
  span?: { since: number; version: number };
}

export interface ChangeSource {
  open(request: SourceRequest): Promise<SourceRead>;
  close(): void | Promise<void>;
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

  async open(request: SourceRequest): Promise<SourceRead> {
    const engine = this.engine;
    const since = request.since(engine.siteId);
    return { siteId: engine.siteId, schema: engine.crrs(), batches: toAsync(readBatches(engine, since, request.exceptSite)), span: { since, version: engine.dbVersion() } };
  }

  close(): void {
    this.db.close();
  }
}

/**
 * A repository's changes after `since` (not those of `exceptSite`) as bounded batches, ending with
 * an empty complete batch at the version the repository was at.
 */
export function* readBatches(engine: Engine, since: number, exceptSite: Uint8Array): Generator<Batch> {
  const at = engine.dbVersion();
  let last = since;
  for (const batch of batchByVersion(engine.changesSince(since, { exceptSite }))) {
    last = batch.version;
    yield batch;
  }
  yield { changes: [] as Change[], version: Math.max(at, last), complete: true };
}

async function* toAsync<T>(it: Iterable<T>): AsyncGenerator<T> {
  yield* it;
}
