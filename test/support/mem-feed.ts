/**
 * A writer's database in memory for sync tests and the hub bench's light clients: a `ChangeFeed`
 * of `notes(id, body)` where each commit is one new row with one column (a single-cell change) at
 * the next version. Its change signal reaches whoever waits at that moment, as a repository's does.
 */
import { EventEmitter } from 'node:events';
import { packColumns, type Change, type SqlValue, type TableInfo } from '../../src/engine/index.ts';
import { batchByVersion, type Batch } from '../../src/sync/batches.ts';
import type { ChangeFeed } from '../../src/sync/ports.ts';

/** The one table a {@link MemFeed} writes. */
export const NOTES: TableInfo[] = [{ name: 'notes', pks: ['id'], columns: ['body'] }];

export class MemFeed implements ChangeFeed {
  readonly siteId: Uint8Array;
  readonly log: Change[] = [];
  private readonly events = new EventEmitter();

  constructor(siteId: Uint8Array) {
    this.siteId = siteId;
    this.events.setMaxListeners(0); // many followers may wait on one feed (the bench's clients)
  }

  schema(): TableInfo[] {
    return NOTES;
  }

  version(): number {
    return this.log.length;
  }

  /** Commits row `id` (default: the new version) with `body` (default `v<version>`) as the next version; returns that version. */
  commit(id?: SqlValue, body?: string): number {
    const k = this.log.length + 1;
    this.log.push({ table: 'notes', pk: packColumns([id ?? k]), cid: 'body', val: body ?? `v${k}`, colVersion: 1, dbVersion: k, siteId: this.siteId, seq: 0, cl: 1 });
    this.events.emit('changed');
    return k;
  }

  /** Calls `listener` after every commit until the returned function is called (a hub store's watch). */
  onChanged(listener: () => void): () => void {
    this.events.on('changed', listener);
    return () => void this.events.off('changed', listener);
  }

  async *batches(since: number): AsyncGenerator<Batch> {
    const at = this.log.length;
    yield* batchByVersion(this.log.slice(since, at), undefined, since);
    yield { changes: [], version: at, complete: true };
  }

  changed(signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        this.events.off('changed', done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      if (signal.aborted) return resolve();
      this.events.on('changed', done);
      signal.addEventListener('abort', done);
    });
  }
}
