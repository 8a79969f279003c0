/**
 * What an embedded SQLite hub keeps after BENCH_N (1,000) hosted databases were each used once and
 * left idle: each is opened, takes one single-row push (a group commit on its writer) and one read
 * of its feed (a pooled reader), as a client's session does, and is released; then, past the idle
 * time (the store's idleCloseMs, BENCH_IDLE_MS = 1,000 ms; a base tree without it keeps them all),
 * RSS, JS heap after a full collection, and the process's open file handles on hosted database
 * files. Base and this tree alternate, each run in a fresh process on the same data folder
 * (made once, before the runs); BENCH_RUNS (5) pairs.
 *
 *   node --disable-warning=ExperimentalWarning bench/hub-idle-rss-ab.ts /work/wt/hub-idle-base
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { handlesUnder } from '../test/support/handles.ts';

const N = Number(process.env.BENCH_N ?? 1_000);
const IDLE_MS = Number(process.env.BENCH_IDLE_MS ?? 1_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 5);

interface Measured {
  rssMiB: number;
  rssBeforeMiB: number;
  heapMiB: number;
  handles: number;
  cpuMs: number;
}


async function child(mode: string, root: string, dir: string): Promise<void> {
  const { SqliteHubStore } = await import(`${root}/src/hub/storage/sqlite/store.ts`);
  const { Gate } = await import(`${root}/src/sync/gate.ts`);
  const { packColumns } = await import(`${root}/src/engine/index.ts`);
  const store = new SqliteHubStore(dir, { idleCloseMs: IDLE_MS });
  const gate = new Gate(() => ({ read: 'all', write: 'all' }));
  const name = (i: number): string => `user${String(i).padStart(6, '0')}`;
  const row = (site: Uint8Array, v: number, text: string): unknown => ({
    version: v,
    complete: true,
    changes: [{ table: 'notes', pk: packColumns([BigInt(v)]), cid: 'body', val: text, colVersion: 1, dbVersion: v, siteId: site, seq: 0, cl: 1 }],
  });
  if (mode === 'setup') {
    for (let i = 0; i < N; i++) {
      const db = await store.open(name(i), { app: 'a', user: name(i) });
      await db.declare([{ name: 'notes', pks: ['id'], columns: ['body'] }]);
      const origin = { siteId: randomBytes(16), peer: name(i), source: 'c', gate };
      db.sink.dropIncomplete(origin);
      await db.sink.receive(row(origin.siteId, 1, `first note of ${name(i)}`), origin);
      db.release?.();
    }
    await store.close();
    return;
  }
  const gc = (globalThis as { gc?: () => void }).gc!;
  gc();
  const rssBefore = process.memoryUsage().rss;
  const cpu = process.cpuUsage();
  for (let i = 0; i < N; i++) {
    const db = await store.open(name(i));
    const origin = { siteId: randomBytes(16), peer: name(i), source: 'c', gate };
    db.sink.dropIncomplete(origin);
    await db.sink.receive(row(origin.siteId, 2, `a note ${randomBytes(8).toString('hex')}`), origin);
    for await (const _ of db.feed.batches(0, { exceptSite: new Uint8Array(16) })) {
      // a client's pull: read through
    }
    db.release?.();
  }
  const used = process.cpuUsage(cpu);
  await sleep(IDLE_MS * 2 + 500);
  gc();
  await sleep(50);
  gc();
  const m = process.memoryUsage();
  const out: Measured = {
    rssMiB: m.rss / 2 ** 20,
    rssBeforeMiB: rssBefore / 2 ** 20,
    heapMiB: m.heapUsed / 2 ** 20,
    handles: handlesUnder(join(dir, 'databases')),
    cpuMs: (used.user + used.system) / 1000,
  };
  await store.close();
  console.log(JSON.stringify(out));
}

if (process.argv[2] === 'setup' || process.argv[2] === 'measure') {
  await child(process.argv[2], process.argv[3]!, process.argv[4]!);
} else {
  const base = process.argv[2];
  if (!base) throw new Error('usage: bench/hub-idle-rss-ab.ts BASE_WORKTREE');
  const here = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');
  const dir = mkdtempSync(join(tmpdir(), 'hub-idle-rss-'));
  const run = (mode: string, root: string): string =>
    execFileSync(process.execPath, ['--expose-gc', '--disable-warning=ExperimentalWarning', fileURLToPath(import.meta.url), mode, root, dir], { encoding: 'utf8', maxBuffer: 1 << 24 }).trim();
  try {
    run('setup', here);
    const results: Record<string, Measured[]> = { base: [], this: [] };
    for (let r = 0; r < RUNS; r++) {
      for (const [k, root] of [
        ['base', base],
        ['this', here],
      ] as const) {
        const m = JSON.parse(run('measure', root)) as Measured;
        results[k]!.push(m);
        console.log(`${k} run ${r + 1}: RSS ${m.rssMiB.toFixed(1)} MiB (at start ${m.rssBeforeMiB.toFixed(1)}), heap ${m.heapMiB.toFixed(1)} MiB, ${m.handles} handles on hosted files, ${m.cpuMs.toFixed(0)} ms CPU for ${N} uses`);
      }
    }
    const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    for (const k of ['base', 'this']) {
      const ms = results[k]!;
      const grown = ms.map((m) => m.rssMiB - m.rssBeforeMiB);
      console.log(
        `${k}: ${N} databases used once, idle: RSS growth median ${med(grown).toFixed(1)} MiB (min ${Math.min(...grown).toFixed(1)}, max ${Math.max(...grown).toFixed(1)}), ` +
          `${((med(grown) * 1024) / N).toFixed(1)} KiB per database; RSS median ${med(ms.map((m) => m.rssMiB)).toFixed(1)} MiB; heap median ${med(ms.map((m) => m.heapMiB)).toFixed(1)} MiB; ` +
          `handles median ${med(ms.map((m) => m.handles))}; CPU median ${med(ms.map((m) => m.cpuMs)).toFixed(0)} ms (best ${Math.min(...ms.map((m) => m.cpuMs)).toFixed(0)})`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
