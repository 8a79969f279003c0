/**
 * The second thread of `ddcp changes` (changes-print.ts): on a read-only connection of its own, in
 * one read transaction, it reads the stretches of the feed it is sent and hands them back as JSON
 * lines (the bytes the first thread would write for them). It imports only the engine and the line
 * writer: a thread's start-up is its own modules to load.
 */
import { workerData } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import { SnapshotReader } from '../engine/index.ts';
import { ChangeLineWriter } from '../sync/jsonl-writer.ts';
import type { FromWorker, ToWorker, WorkerSetup } from './changes-print.ts';

const { path, since, chunkBytes, port, signal, ahead } = workerData as WorkerSetup & { port: MessagePort };
const bell = new Int32Array(signal);
/** Chunks posted; the first thread counts those it wrote in bell[1]. */
let posted = 0;

/** Posts to the first thread, and rings its bell (it may be waiting in Atomics.wait, not in its event loop). */
function post(message: FromWorker, transfer: ArrayBuffer[] = []): void {
  port.postMessage(message, transfer);
  Atomics.add(bell, 0, 1);
  Atomics.notify(bell, 0);
}

const text = (err: unknown): string => (err instanceof Error ? err.message : String(err));

let reader: SnapshotReader | undefined;
try {
  reader = SnapshotReader.open(path);
  post({ kind: 'ready', crrs: JSON.stringify(reader.crrs()) });
} catch (err) {
  post({ kind: 'failed', message: text(err) });
}

port.on('message', (m: ToWorker) => {
  if (m.kind === 'end' || !reader) {
    if (process.env.DDCP_TRACE) { const u = process.threadCpuUsage(); process.stderr.write(`[worker] cpu ${((u.user + u.system) / 1000).toFixed(0)} ms at ${performance.now().toFixed(0)}\n`); }
    reader?.end();
    reader = undefined;
    port.close();
    return;
  }
  try {
    const lines = new ChangeLineWriter(chunkBytes);
    for (const c of reader.changes(since, m.range)) {
      lines.add(c);
      if (lines.full) {
        // Not more than `ahead` chunks ahead of what was written: memory stays bounded.
        for (let written = Atomics.load(bell, 1); posted - written >= ahead; written = Atomics.load(bell, 1)) Atomics.wait(bell, 1, written, 50);
        posted++;
        const chunk = lines.take();
        post({ kind: 'chunk', i: m.i, chunk, done: false }, [chunk.buffer as ArrayBuffer]);
      }
    }
    const chunk = lines.take();
    posted++;
    post({ kind: 'chunk', i: m.i, chunk, done: true }, [chunk.buffer as ArrayBuffer]);
  } catch (err) {
    post({ kind: 'failed', message: text(err) });
  }
});
