/**
 * What `ddcp changes` prints — every change after a db_version as JSON lines — read on two cores when
 * there are many. The feed is cut into stretches (ranges of (db_version, seq), engine feedSplits) of
 * at most {@link PrintOptions.rangeRows} rows of each stream; this thread and a worker thread
 * (changes-worker.ts) each read and format whichever stretch is next, in read transactions on the same
 * snapshot, and the bytes are written in feed order: the output is exactly what one thread writes.
 * At most {@link LOOKAHEAD} stretches are in hand ahead of the one being written, so memory stays
 * bounded however large the feed. A small feed (one stretch), a worker that cannot start, or one whose
 * snapshot is not this thread's (something committed in between) leaves this thread to read it
 * all — the same bytes; a worker that fails midway has its stretch read again here.
 */
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MessagePort, Worker } from 'node:worker_threads';
import { CommitWatch, type ChangeRange, type FeedPosition } from '../engine/index.ts';
import { ChangeLineWriter, type Repository } from '../index.ts';

/** Stretches taken ahead of the one being written. */
const LOOKAHEAD = 3;
/** Chunks either thread may hold ahead of what is written: memory stays bounded however large a stretch. */
const CHUNKS_AHEAD = 8;

export interface PrintOptions {
  /** Stretches to cut each stream (a table's row clocks, sentinels, overrides) into; default 16. */
  pieces?: number;
  /** A second thread only for a feed of at least this many rows (default 20,000: it costs ~30 ms of CPU to start). */
  minRows?: number;
  /** Bytes of JSON lines per write; default 1 MiB. */
  chunkBytes?: number;
  /** Read with a second thread when the feed is large enough (default true). */
  threads?: boolean;
}

/** What the worker is given when it starts. */
export interface WorkerSetup {
  path: string;
  since: number;
  chunkBytes: number;
  /**
   * Two Int32s: the worker adds to the first after each message it posts (see changes-worker.ts), this
   * thread to the second after writing each chunk the worker read (the worker waits while it is
   * {@link WorkerSetup.ahead} chunks ahead of that).
   */
  signal: SharedArrayBuffer;
  ahead: number;
}

export type ToWorker = { kind: 'range'; i: number; range: ChangeRange } | { kind: 'end' };
export type FromWorker =
  | { kind: 'ready'; crrs: string }
  | { kind: 'chunk'; i: number; chunk: Uint8Array; done: boolean }
  | { kind: 'failed'; message: string };

/** A stretch's bytes not yet written, and how many were. */
interface Stretch {
  chunks: Uint8Array[];
  done: boolean;
  written: number;
  /** Read by the worker (its chunks are counted back to it as written). */
  byWorker: boolean;
}

/** The worker's file: changes-worker.ts from source, .js compiled or bundled (beside this module's code). */
const WORKER = (): URL => new URL(`./changes-worker${extname(fileURLToPath(import.meta.url))}`, import.meta.url);

/**
 * Writes the changes after `since` as JSON lines through `write` (which must take the buffer over, and
 * resolve when it wants more): `formatChange(c) + '\n'` of each, in feed order.
 */
export async function printChanges(repo: Repository, since: number, write: (bytes: Uint8Array) => Promise<void>, options: PrintOptions = {}): Promise<void> {
  const engine = repo.engine;
  const chunkBytes = options.chunkBytes ?? 1 << 20;
  engine.seal();
  // The first look before this thread's snapshot is pinned; the second once the worker pinned its own.
  const watch = options.threads === false ? undefined : new CommitWatch(repo.dbPath);
  const db = engine.db;
  db.exec('BEGIN');
  let stop: (() => void) | undefined;
  try {
    const { cuts, rows } = engine.feedSplits(since, options.pieces ?? 16); // pins the snapshot
    const ranges = rangesOf(since, rows >= (options.minRows ?? 20_000) ? cuts : []);
    const own = async (range: ChangeRange | undefined, out: (chunk: Uint8Array) => Promise<void>): Promise<void> => {
      const lines = new ChangeLineWriter(chunkBytes);
      for (const c of engine.changesSince(since, { unsealed: true, range })) {
        lines.add(c);
        if (lines.full) await out(lines.take());
      }
      if (lines.size > 0) await out(lines.take());
    };
    if (ranges.length < 2 || !watch) return await own(undefined, write);
    const { Worker, MessageChannel, receiveMessageOnPort } = process.getBuiltinModule('node:worker_threads');
    const signal = new SharedArrayBuffer(8);
    const bell = new Int32Array(signal);
    const channel = new MessageChannel();
    const port: MessagePort = channel.port1;
    let worker: Worker | undefined;
    /** 'starting' until its snapshot is checked; the stretch it reads, if any. */
    let state = 'starting' as 'starting' | 'ready' | 'gone';
    let working: number | undefined;
    const stretches = new Map<number, Stretch>();
    const redo: number[] = [];
    let nextRead = 0;
    let nextWrite = 0;
    let byWorker = 0;
    let waits = 0;
    let waited = 0;
    const t00 = performance.now();

    const dismiss = (): void => {
      if (state === 'gone') return;
      state = 'gone';
      if (working !== undefined) redo.push(working); // read again here, past what was written
      working = undefined;
      port.close();
      void worker?.terminate();
    };
    stop = dismiss;
    try {
      const setup: WorkerSetup = { path: repo.dbPath, since, chunkBytes, signal, ahead: CHUNKS_AHEAD };
      worker = new Worker(WORKER(), { workerData: { ...setup, port: channel.port2 }, transferList: [channel.port2] });
      worker.unref();
      worker.on('error', dismiss);
      worker.on('exit', dismiss);
    } catch {
      dismiss();
    }

    const handle = (m: FromWorker): void => {
      if (state === 'gone') return;
      if (m.kind === 'ready') {
        // The same snapshot: no commit since before ours was pinned, and the same CRRs.
        if (!watch.committed() && m.crrs === JSON.stringify(engine.crrs())) state = 'ready';
        else dismiss();
      } else if (m.kind === 'chunk') {
        const s = stretches.get(m.i)!;
        s.chunks.push(m.chunk);
        if (m.done) {
          s.done = true;
          working = undefined;
        }
      } else dismiss();
    };
    const receive = (): boolean => {
      let any = false;
      for (let m = receiveMessageOnPort(port); m && state !== 'gone'; m = receiveMessageOnPort(port)) {
        handle(m.message as FromWorker);
        any = true;
      }
      return any;
    };
    const open = (i: number, byWorker: boolean): Stretch => {
      const s: Stretch = { chunks: [], done: false, written: 0, byWorker };
      stretches.set(i, s);
      return s;
    };
    const assign = (): void => {
      receive();
      if (state !== 'ready' || working !== undefined || nextRead >= ranges.length || nextRead >= nextWrite + LOOKAHEAD) return;
      const i = nextRead++;
      open(i, true);
      working = i;
      byWorker++;
      port.postMessage({ kind: 'range', i, range: ranges[i]! } satisfies ToWorker);
    };
    /** Writes what can be written, in order. */
    const pump = async (): Promise<void> => {
      for (let s = stretches.get(nextWrite); s; s = stretches.get(nextWrite)) {
        while (s.chunks.length > 0) {
          const chunk = s.chunks.shift()!;
          s.written += chunk.length;
          const written = write(chunk);
          if (s.byWorker) {
            Atomics.add(bell, 1, 1);
            Atomics.notify(bell, 1);
          }
          await written;
        }
        if (!s.done) return;
        stretches.delete(nextWrite++);
      }
    };
    /** Waits for the worker's next message (or a while), letting I/O and its events run meanwhile. */
    const waitForWorker = async (): Promise<void> => {
      const t0 = performance.now();
      waits++;
      try {
      const rung = Atomics.load(bell, 0);
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (!receive() && state !== 'gone') Atomics.wait(bell, 0, rung, 20);
      receive();
      } finally { waited += performance.now() - t0; }
    };
    /** Reads stretch `i` here, leaving out its first `skip` bytes (written already from the worker's read). */
    const readHere = async (i: number, skip: number): Promise<void> => {
      const s = stretches.get(i) ?? open(i, false);
      s.chunks = [];
      s.byWorker = false;
      await own(ranges[i]!, async (chunk) => {
        if (skip >= chunk.length) skip -= chunk.length;
        else {
          s.chunks.push(skip > 0 ? chunk.subarray(skip) : chunk);
          skip = 0;
        }
        assign();
        await pump();
        // Ahead of the worker's stretch being written: hold on rather than pile up chunks.
        while (s.chunks.length >= CHUNKS_AHEAD && state !== 'gone') {
          await waitForWorker();
          await pump();
        }
      });
      s.done = true;
      assign();
      await pump();
    };

    while (nextWrite < ranges.length) {
      assign();
      if (redo.length > 0) {
        const i = redo.shift()!;
        await readHere(i, stretches.get(i)?.written ?? 0);
      } else if (nextRead < ranges.length && nextRead < nextWrite + LOOKAHEAD) {
        await readHere(nextRead++, 0);
      } else {
        await pump();
        if (nextWrite >= ranges.length || receive()) continue;
        await waitForWorker();
      }
    }
    if (state === 'ready') port.postMessage({ kind: 'end' } satisfies ToWorker);
    if (process.env.DDCP_TRACE) { const u = process.threadCpuUsage(); process.stderr.write(`[changes] ${ranges.length} stretches, worker ${state}, by worker: ${byWorker}; waits ${waits} ${waited.toFixed(0)} ms of ${(performance.now() - t00).toFixed(0)}; main cpu ${((u.user + u.system) / 1000).toFixed(0)} ms at ${performance.now().toFixed(0)}\n`); }
  } finally {
    stop?.();
    if (db.isTransaction) db.exec('COMMIT');
    watch?.close();
  }
}

/** The stretches between `cuts`, from the start of the feed after `since` to its end. */
function rangesOf(since: number, cuts: FeedPosition[]): ChangeRange[] {
  const ranges: ChangeRange[] = [];
  // Every change after `since` is at or after (since, 0) whatever its seq; numbers, as positions read are.
  let from: FeedPosition = { dbVersion: since, seq: 0 };
  for (const to of cuts) {
    ranges.push({ from, to });
    from = to;
  }
  ranges.push({ from });
  return ranges;
}
