/**
 * The body of the hub's checkpoint thread (sqlite/checkpointer.ts starts it): its own node:sqlite
 * connection per hosted database it was asked to checkpoint, kept until the database closes. It
 * imports nothing and reads nothing from its module, because it runs from its source text (an
 * `eval` worker): the published CLI is one esbuild bundle, where a worker file beside this module
 * would not exist.
 *
 * Messages (in order, from the hub's event loop):
 * - `{ op: 'checkpoint', path, truncate }`: a passive checkpoint (no lock the writer needs; repeated
 *   while it still copies frames committed meanwhile, so the WAL can start over), then, with
 *   `truncate`, a TRUNCATE one: the WAL emptied and its file cut to 0 bytes if no reader and no
 *   writer is in it at that moment (busy timeout 0: it never waits, so never holds the writer's lock
 *   while waiting for readers). Answered `{ op: 'done', path, frames, backfilled, truncated, error? }`.
 * - `{ op: 'close', path }`: the hub closed the database; this connection closes too, and if it is
 *   the database's last (it usually is: the hub's closed first) SQLite checkpoints and removes the
 *   WAL in this thread. A checkpoint asked for before a close that has arrived too is skipped.
 * - `{ op: 'stop' }`: every connection closed so, then the thread ends.
 */
export function checkpointWorker(): void {
  const threads = process.getBuiltinModule('node:worker_threads');
  const { DatabaseSync } = process.getBuiltinModule('node:sqlite');
  const port = threads.parentPort!;
  type Message = { op: 'checkpoint'; path: string; truncate: boolean } | { op: 'close'; path: string } | { op: 'stop' };
  const open = new Map<string, InstanceType<typeof DatabaseSync>>();
  /** Passes of a passive checkpoint per request at most (each after the first copies only what was committed during the one before). */
  const PASSES = 3;

  const connection = (path: string): InstanceType<typeof DatabaseSync> => {
    let db = open.get(path);
    if (!db) {
      db = new DatabaseSync(path, { timeout: 0 });
      // The hub's setting (engine/sqlite.ts): a checkpoint syncs the WAL before copying and the database after.
      db.exec('PRAGMA synchronous = NORMAL');
      open.set(path, db);
    }
    return db;
  };
  const close = (path: string): void => {
    const db = open.get(path);
    open.delete(path);
    db?.close();
  };
  const checkpoint = (path: string, truncate: boolean): void => {
    try {
      const db = connection(path);
      const run = (mode: string) => db.prepare(`PRAGMA wal_checkpoint(${mode})`).get() as { busy: number; log: number; checkpointed: number };
      let r = run('PASSIVE');
      for (let pass = 1; pass < PASSES && r.log > r.checkpointed && r.checkpointed >= 0; pass++) {
        const before = r.checkpointed;
        r = run('PASSIVE');
        if (r.checkpointed <= before && r.log === r.checkpointed) break;
      }
      let truncated = false;
      if (truncate) {
        const t = run('TRUNCATE');
        truncated = t.busy === 0;
        if (truncated) r = t;
      }
      port.postMessage({ op: 'done', path, frames: r.log, backfilled: r.checkpointed, truncated });
    } catch (err) {
      port.postMessage({ op: 'done', path, frames: -1, backfilled: -1, truncated: false, error: String((err as Error)?.message ?? err) });
    }
  };
  const handle = (batch: Message[]): void => {
    for (let i = 0; i < batch.length; i++) {
      const m = batch[i]!;
      if (m.op === 'stop') {
        for (const path of [...open.keys()]) close(path);
        port.close();
        return;
      }
      if (m.op === 'close') {
        try {
          close(m.path);
        } catch {
          // SQLite closes the connection whatever the close's checkpoint did; the next open recovers the WAL.
        }
        port.postMessage({ op: 'closed', path: m.path });
        continue;
      }
      // Closed in the same batch: its close checkpoints, and nothing may run on it after the hub closed it.
      if (batch.some((n, j) => j > i && n.op === 'close' && n.path === m.path)) {
        port.postMessage({ op: 'done', path: m.path, frames: -1, backfilled: -1, truncated: false });
        continue;
      }
      checkpoint(m.path, m.truncate);
    }
  };
  port.on('message', (first: Message) => {
    // Everything already sent, at once: a close that came after a checkpoint request cancels it.
    const batch = [first];
    for (let m = threads.receiveMessageOnPort(port); m; m = threads.receiveMessageOnPort(port)) batch.push(m.message as Message);
    handle(batch);
  });
}
