/**
 * WAL checkpoints of the hosted databases, off the hub's event loop. With SQLite's automatic
 * checkpoint, the commit that takes a WAL past 1,000 pages copies them into the database and syncs
 * the WAL and the database inside that commit — on the event loop, so every other database's
 * fan-out waited for two fsyncs (docs/performance.md, "WAL checkpoints measured"). Here a hosted
 * database's writer has the automatic checkpoint off, reads how full its WAL is after each commit
 * (sqlite/wal-index.ts: one `pread`, no message) and, past `pages` frames not yet copied, asks one
 * worker thread (sqlite/checkpoint-worker.ts), whose own connection runs a passive checkpoint: it
 * takes no lock the writer needs, so commits go on meanwhile. One request per database at a time.
 *
 * Bounds: a reader inside an old snapshot (a slow follower's read) pins the WAL, which grows until
 * it ends; past `hardPages` frames each request also asks for a TRUNCATE checkpoint (emptied, the
 * file cut to 0 bytes) once the reader is gone, retried every `pages` more frames while it is not.
 * If the thread fails, each writer goes back to SQLite's automatic checkpoint (never an unbounded WAL).
 *
 * Closing: the hub closes its connections first — not the last, when the thread holds one, so they
 * close without a checkpoint — then the thread closes its own, the last, and SQLite checkpoints and
 * removes the WAL there. Messages arrive in order, so no checkpoint runs after the close; one still
 * queued behind a close is dropped. Either way what is committed is in the WAL or the database: a
 * close, a race or a kill leaves a consistent database, and durability is SQLite's `synchronous`
 * setting's, unchanged.
 */
import { Worker } from 'node:worker_threads';
import type { SqliteConnection } from '../../../engine/index.ts';
import { checkpointWorker } from './checkpoint-worker.ts';
import { WalIndexReader, type WalFill } from './wal-index.ts';

/** Frames not yet copied to the database that make a checkpoint worth its syncs: SQLite's automatic default. */
export const CHECKPOINT_PAGES = 1_000;

/** Frames in a WAL past which a TRUNCATE checkpoint is tried too (~40 MiB at 4 KiB pages). */
export const HARD_WAL_PAGES = 10_000;

/** Options of a store's checkpointer. */
export interface CheckpointerOptions {
  /** Frames not yet checkpointed that start a checkpoint; default {@link CHECKPOINT_PAGES}. */
  pages?: number;
  /** WAL frames past which a TRUNCATE checkpoint is tried; default {@link HARD_WAL_PAGES}. */
  hardPages?: number;
  /** Told when the thread failed (the writers checkpoint themselves after that). */
  log?: (line: string) => void;
}

interface Done {
  op: 'done';
  path: string;
  frames: number;
  backfilled: number;
  truncated: boolean;
  error?: string;
}

/** One thread checkpointing a store's hosted databases (see the file comment). */
export class Checkpointer {
  readonly pages: number;
  readonly hardPages: number;
  private readonly log: (line: string) => void;
  private worker: Worker | undefined;
  private failed = false;
  private stopped: Promise<void> | undefined;
  /** The watch waiting for each path's answer (one request per database at a time). */
  private readonly waiting = new Map<string, WalWatch>();
  /** Checkpoint requests answered by the thread, for tests and benchmarks. */
  checkpoints = 0;
  /** TRUNCATE checkpoints that emptied a WAL, for tests and benchmarks. */
  truncations = 0;
  /** Last few frames copied by a writer itself so that its WAL starts over (see {@link TAIL_PAGES}). */
  tails = 0;
  /** Databases whose writer went back to SQLite's automatic checkpoint because the thread failed. */
  onLoop = 0;

  constructor(options: CheckpointerOptions = {}) {
    this.pages = Math.max(1, Math.floor(options.pages ?? CHECKPOINT_PAGES));
    this.hardPages = Math.max(this.pages, Math.floor(options.hardPages ?? HARD_WAL_PAGES));
    this.log = options.log ?? (() => {});
  }

  /**
   * Takes over the checkpoints of the database at `path`, whose writer is `writer` (its automatic
   * checkpoint turned off here): tell the watch of each commit, and close it after the writer.
   * Undefined, the automatic checkpoint left on, if its wal-index cannot be read.
   */
  watch(path: string, writer: SqliteConnection): WalWatch | undefined {
    if (this.failed || this.stopped) return undefined;
    const index = WalIndexReader.open(path);
    if (!index || !index.read()) {
      index?.close();
      return undefined;
    }
    writer.exec('PRAGMA wal_autocheckpoint = 0');
    return new WalWatch(this, path, writer, index);
  }

  /** Checkpoint requests out now (asked, not yet answered), for tests. */
  get pending(): number {
    return this.waiting.size;
  }

  /**
   * @internal Starts the thread ahead of the first request (a WAL half full): a thread takes a while
   * to start — on a loaded machine longer than a busy database takes to fill the rest — and a hub
   * whose databases never fill one needs none.
   */
  prepare(): void {
    if (!this.failed && !this.stopped) this.thread();
  }

  /** @internal A watch's request; false if the thread is gone (the watch checkpoints itself). */
  request(watch: WalWatch, truncate: boolean): boolean {
    if (this.failed || this.stopped) return false;
    this.waiting.set(watch.path, watch);
    this.thread().postMessage({ op: 'checkpoint', path: watch.path, truncate });
    return true;
  }

  /** @internal A watch's database closed: the thread closes its connection to it (if it has one). */
  closed(watch: WalWatch, asked: boolean): void {
    if (this.waiting.get(watch.path) === watch) this.waiting.delete(watch.path);
    if (asked && this.worker && !this.failed) this.worker.postMessage({ op: 'close', path: watch.path });
  }

  private thread(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(`(${checkpointWorker.toString()})()`, { eval: true, stdout: false, stderr: false });
    // A hub that never closes its store must still be able to exit; close() holds it for the last checkpoints.
    w.unref();
    w.on('message', (m: Done | { op: 'closed'; path: string }) => {
      if (m.op !== 'done') return;
      this.checkpoints++;
      if (m.truncated) this.truncations++;
      if (m.error) this.log(`checkpoint of ${m.path} failed: ${m.error}`);
      const watch = this.waiting.get(m.path);
      if (!watch) return;
      this.waiting.delete(m.path);
      watch.answered(m.frames >= 0 ? { frames: m.frames, backfilled: m.backfilled } : undefined, m.truncated);
    });
    w.on('error', (err) => this.fail(`checkpoint thread failed: ${err.message}`));
    w.on('exit', (code) => {
      if (!this.stopped) this.fail(`checkpoint thread exited (${code})`);
    });
    return (this.worker = w);
  }

  private fail(line: string): void {
    if (this.failed) return;
    this.failed = true;
    this.log(line);
    // The requests in flight are lost with it: their databases checkpoint on the event loop from now on.
    const waiting = [...this.waiting.values()];
    this.waiting.clear();
    for (const w of waiting) w.answered(undefined, false);
  }

  /** After every watched database closed: the thread closes its connections (checkpointing each) and ends. */
  close(): Promise<void> {
    if (this.stopped) return this.stopped;
    const w = this.worker;
    if (!w || this.failed) return (this.stopped = Promise.resolve());
    w.ref();
    this.stopped = new Promise((resolve) => w.once('exit', () => resolve()));
    w.postMessage({ op: 'stop' });
    return this.stopped;
  }
}

/**
 * Frames a writer copies itself, at most, to let its WAL start over: a checkpoint by the thread
 * copies up to the last commit it saw, and under a stream of commits there is always a newer one, so
 * the WAL would never start over (SQLite starts a WAL over only at a write after a checkpoint copied
 * all of it). Copying the few frames left takes the writer ~1 ms (the syncs), once per filled WAL.
 */
export const TAIL_PAGES = 64;

/** One hosted database's WAL, watched after each commit of its writer (see {@link Checkpointer}). */
export class WalWatch {
  /** A request is out (or the database closed): commits read nothing until it is answered. */
  private asking = false;
  /** The thread has a connection to this database (it was asked at least once). */
  private asked = false;
  private closedAlready = false;
  /** What was backfilled when the request went out, to see whether the answer made progress. */
  private askedBackfilled = 0;
  /** A reader pins the WAL (the last answer copied nothing more): asked again only once it holds this many frames. */
  private stuckUntil = 0;
  private readonly owner: Checkpointer;
  readonly path: string;
  private readonly writer: SqliteConnection;
  private readonly index: WalIndexReader;

  constructor(owner: Checkpointer, path: string, writer: SqliteConnection, index: WalIndexReader) {
    this.owner = owner;
    this.path = path;
    this.writer = writer;
    this.index = index;
  }

  /** After a commit on the writer: a checkpoint asked for if the WAL is full enough. */
  committed(): void {
    if (this.asking || this.closedAlready) return;
    const fill = this.index.read();
    if (!fill || fill.frames < this.stuckUntil) return;
    const { pages, hardPages } = this.owner;
    if (!this.asked && fill.frames >= pages / 2) this.owner.prepare();
    const pending = fill.frames - fill.backfilled;
    const hard = fill.frames >= hardPages;
    // Filled and not started over: the thread catches up (less each time) until a few frames are left.
    const catchUp = fill.frames >= pages && pending > Math.min(TAIL_PAGES, pages);
    if (pending >= pages || catchUp || (hard && pending === 0)) return this.ask(fill, hard);
    // The last few, copied here (the thread's copy ended at an older commit): the next write starts the WAL over.
    if (fill.frames >= pages && pending > 0) {
      this.owner.tails++;
      this.writer.exec('PRAGMA wal_checkpoint(PASSIVE)');
    }
  }

  private ask(fill: WalFill, truncate: boolean): void {
    if (this.owner.request(this, truncate)) {
      this.asking = this.asked = true;
      this.askedBackfilled = fill.backfilled;
      return;
    }
    // No thread: SQLite's automatic checkpoint again, on the event loop, as before.
    this.owner.onLoop++;
    this.writer.exec(`PRAGMA wal_autocheckpoint = ${this.owner.pages}`);
    this.writer.exec('PRAGMA wal_checkpoint(PASSIVE)');
    this.asking = true; // for good: the writer checkpoints itself now
  }

  /** @internal The thread's answer (undefined: it failed or was cancelled). */
  answered(fill: WalFill | undefined, truncated: boolean): void {
    if (this.closedAlready) return;
    this.asking = false;
    // Nothing more copied and nothing truncated: a reader's snapshot holds the rest; wait for more frames.
    const stuck = fill !== undefined && !truncated && fill.backfilled <= this.askedBackfilled && fill.frames > fill.backfilled;
    this.stuckUntil = stuck ? fill.frames + this.owner.pages : 0;
  }

  /** After the writer closed: nothing more is asked; the thread closes its connection (the last: it checkpoints). */
  close(): void {
    if (this.closedAlready) return;
    this.closedAlready = true;
    this.index.close();
    this.owner.closed(this, this.asked);
  }
}
