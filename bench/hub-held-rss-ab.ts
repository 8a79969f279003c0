/**
 * What an embedded SQLite hub's held (open) hosted databases cost in memory: BENCH_N (300)
 * databases, each held open (as a connected follower holds it), given a client's session (what its
 * site left staged dropped, one single-row push) and 8 reads of its feed at once (a burst of
 * clients catching up). Then RSS growth per database and file handles on hosted files, in two
 * shapes, each in a fresh process on the same data folder (made once: one table, BENCH_ROWS (20)
 * rows per database):
 * - `burst`: all of it at once, measured right after (no quiet spell passed: what the hub holds
 *   while every database is busy);
 * - `quiet`: the databases used in waves of BENCH_WAVE (50), each wave followed by a quiet spell
 *   (2.5 × the pool's trim time, here BENCH_TRIM_MS = 300 ms), measured after the last: what a hub
 *   whose held databases take turns being busy holds (what a quiet database gives back is reused by
 *   the next wave; the allocator keeps its high-water mark).
 * Base and this tree alternate, BENCH_RUNS (5) pairs per shape; CPU of the uses is reported too.
 *
 *   node --disable-warning=ExperimentalWarning bench/hub-held-rss-ab.ts /work/wt/hub-mem-base
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { handlesUnder } from '../test/support/handles.ts';

const N = Number(process.env.BENCH_N ?? 300);
const ROWS = Number(process.env.BENCH_ROWS ?? 20);
const WAVE = Number(process.env.BENCH_WAVE ?? 50);
const TRIM_MS = Number(process.env.BENCH_TRIM_MS ?? 300);
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const SHAPES = (process.env.BENCH_SHAPES ?? 'burst,quiet').split(',');
const NOBODY = new Uint8Array(16);

interface Measured {
  grownMiB: number;
  heapMiB: number;
  handles: number;
  cpuMs: number;
}

async function child(mode: string, root: string, dir: string): Promise<void> {
  const { SqliteHubStore } = await import(`${root}/src/hub/storage/sqlite/store.ts`);
  const { Gate } = await import(`${root}/src/sync/gate.ts`);
  const { packColumns } = await import(`${root}/src/engine/index.ts`);
  const gate = new Gate(() => ({ read: 'all', write: 'all' }));
  const name = (i: number): string => `user${String(i).padStart(6, '0')}`;
  const row = (site: Uint8Array, v: number, text: string): unknown => ({
    version: v,
    complete: true,
    changes: [{ table: 'notes', pk: packColumns([BigInt(v)]), cid: 'body', val: text, colVersion: 1, dbVersion: v, siteId: site, seq: 0, cl: 1 }],
  });
  if (mode === 'setup') {
    const store = new SqliteHubStore(dir, { idleCloseMs: 60_000 });
    for (let i = 0; i < N; i++) {
      const db = await store.open(name(i), { app: 'a', user: name(i) });
      await db.declare([{ name: 'notes', pks: ['id'], columns: ['body'] }]);
      const origin = { siteId: randomBytes(16), peer: name(i), source: 'c', gate };
      db.sink.dropIncomplete(origin);
      for (let v = 1; v <= ROWS; v++) await db.sink.receive(row(origin.siteId, v, `note ${v} of ${name(i)} ${randomBytes(8).toString('hex')}`), origin);
      db.release();
    }
    await store.close();
    return;
  }
  const quiet = mode === 'quiet';
  const store = new SqliteHubStore(dir, { idleCloseMs: 600_000, readerTrimMs: quiet ? TRIM_MS : 600_000 });
  const gc = (globalThis as { gc?: () => void }).gc!;
  gc();
  const before = process.memoryUsage().rss;
  const held = [];
  let cpuUs = 0;
  for (let w = 0; w < N; w += WAVE) {
    const cpu = process.cpuUsage();
    for (let i = w; i < Math.min(N, w + WAVE); i++) {
      const db = await store.open(name(i));
      held.push(db);
      const origin = { siteId: randomBytes(16), peer: name(i), source: 'c', gate };
      db.sink.dropIncomplete(origin);
      await db.sink.receive(row(origin.siteId, 1, `pushed ${randomBytes(8).toString('hex')}`), origin);
      await Promise.all(Array.from({ length: 8 }, async () => {
        for await (const _ of db.feed.batches(0, { exceptSite: NOBODY }));
      }));
    }
    const used = process.cpuUsage(cpu);
    cpuUs += used.user + used.system;
    if (quiet) await sleep(TRIM_MS * 2.5);
  }
  gc();
  await sleep(20);
  gc();
  const m = process.memoryUsage();
  const out: Measured = { grownMiB: (m.rss - before) / 2 ** 20, heapMiB: m.heapUsed / 2 ** 20, handles: handlesUnder(join(dir, 'databases/')), cpuMs: cpuUs / 1000 };
  for (const db of held) db.release();
  await store.close();
  console.log(JSON.stringify(out));
}

if (process.argv[2] === 'setup' || process.argv[2] === 'burst' || process.argv[2] === 'quiet') {
  await child(process.argv[2], process.argv[3]!, process.argv[4]!);
} else {
  const base = process.argv[2];
  if (!base) throw new Error('usage: bench/hub-held-rss-ab.ts BASE_WORKTREE');
  const here = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');
  const dir = mkdtempSync(join(tmpdir(), 'hub-held-rss-'));
  const run = (mode: string, root: string): string =>
    execFileSync(process.execPath, ['--expose-gc', '--disable-warning=ExperimentalWarning', fileURLToPath(import.meta.url), mode, root, dir], { encoding: 'utf8', maxBuffer: 1 << 24 }).trim();
  const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  try {
    run('setup', here);
    for (const shape of SHAPES) {
      const results: Record<string, Measured[]> = { base: [], this: [] };
      for (let r = 0; r < RUNS; r++) {
        for (const [k, root] of [['base', base], ['this', here]] as const) {
          const m = JSON.parse(run(shape, root)) as Measured;
          results[k]!.push(m);
          console.log(`${shape} ${k} run ${r + 1}: RSS +${m.grownMiB.toFixed(1)} MiB (${((m.grownMiB * 1024) / N).toFixed(0)} KiB per database), heap ${m.heapMiB.toFixed(1)} MiB, ${m.handles} handles, ${m.cpuMs.toFixed(0)} ms CPU`);
        }
      }
      for (const k of ['base', 'this']) {
        const ms = results[k]!;
        const g = ms.map((m) => m.grownMiB);
        const cpu = ms.map((m) => m.cpuMs);
        console.log(
          `${shape} ${k}: ${N} held databases: RSS growth median ${med(g).toFixed(1)} MiB (${Math.min(...g).toFixed(1)}–${Math.max(...g).toFixed(1)}), ` +
            `${((med(g) * 1024) / N).toFixed(0)} KiB per database; handles median ${med(ms.map((m) => m.handles))}; CPU median ${med(cpu).toFixed(0)} ms (least ${Math.min(...cpu).toFixed(0)})`,
        );
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
