/**
 * The browser benchmark's dedicated worker: runs bench/browser-workload.ts on sqlite-wasm, in memory
 * and in OPFS (opfs-sahpool), when the page asks; posts the results.
 */
import { deleteBrowserDatabase, openBrowserDatabase, type Storage } from '../src/browser/local.ts';
import { runWorkload } from './browser-workload.ts';

const scope = globalThis as unknown as { onmessage: ((ev: { data: { rows: number; reps: number; storage: Storage } }) => void) | null; postMessage(m: unknown): void };

scope.onmessage = async (ev) => {
  const { rows, reps, storage } = ev.data;
  try {
    const result = await runWorkload(
      async (tag) => {
        if (storage === 'opfs') await deleteBrowserDatabase(`bench-${tag}`);
        return openBrowserDatabase(`bench-${tag}`, { storage });
      },
      async (tag, db) => {
        db.close();
        if (storage === 'opfs') await deleteBrowserDatabase(`bench-${tag}`);
      },
      rows,
      reps,
      () => performance.now(),
    );
    scope.postMessage({ ok: true, result });
  } catch (err) {
    scope.postMessage({ ok: false, error: String((err as Error).stack ?? err) });
  }
};
