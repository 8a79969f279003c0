/**
 * What an embedded SQLite hub keeps in memory for a database pushed to while nobody follows it: one
 * writer session pushes BENCH_N (20,000) single-row batches (group commits of BENCH_K (16)), no
 * follower; then the JS heap after a full collection, less the one before the pushes. This tree
 * and, with BENCH_BASE=DIR, that one, each in a fresh process (`--expose-gc`).
 *
 *   BENCH_BASE=/path/to/base-worktree node --disable-warning=ExperimentalWarning bench/hub-unfollowed-ab.ts
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const N = Number(process.env.BENCH_N ?? 20_000);
const K = Number(process.env.BENCH_K ?? 16);

if (process.argv[2] === 'child') {
  const root = process.argv[3]!;
  const { SqliteHubStore } = await import(`${root}/src/hub/storage/sqlite/store.ts`);
  const { Gate } = await import(`${root}/src/sync/gate.ts`);
  const { packColumns } = await import(`${root}/src/engine/index.ts`);
  const dir = mkdtempSync(join(tmpdir(), 'huf-'));
  const store = new SqliteHubStore(dir);
  const hosted = await store.open('db1', { app: 'a', user: 'u' });
  await hosted.declare([{ name: 'notes', pks: ['id'], columns: ['body'] }]);
  const origin = { siteId: randomBytes(16), peer: 'u', source: 'c', gate: new Gate(() => ({ read: 'all', write: 'all' })) };
  hosted.sink.dropIncomplete(origin); // a session's start
  const heap = (): number => {
    (globalThis as { gc?: () => void }).gc!();
    return process.memoryUsage().heapUsed;
  };
  const before = heap();
  for (let v = 1; v <= N; ) {
    const ps: Promise<unknown>[] = [];
    for (let k = 0; k < K && v <= N; k++, v++) ps.push(hosted.sink.receive({ version: v, complete: true, changes: [{ table: 'notes', pk: packColumns([BigInt(v)]), cid: 'body', val: `note ${v} ${'x'.repeat(40)}`, colVersion: 1, dbVersion: v, siteId: origin.siteId, seq: 0, cl: 1 }] }, origin));
    await Promise.all(ps);
  }
  const after = heap();
  console.log(((after - before) / 2 ** 20).toFixed(1));
  await store.close();
  rmSync(dir, { recursive: true, force: true });
} else {
  const here = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');
  for (const [k, root] of [...(process.env.BENCH_BASE ? [['base', process.env.BENCH_BASE]] : []), ['this', here]] as [string, string][]) {
    const mib = execFileSync(process.execPath, ['--expose-gc', '--disable-warning=ExperimentalWarning', fileURLToPath(import.meta.url), 'child', root], { encoding: 'utf8' }).trim();
    console.log(`${k}: ${N} single-row pushes to a database nobody follows: JS heap +${mib} MiB after a full collection`);
  }
}
