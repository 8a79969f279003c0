/**
 * What the cap on open hosted databases (`--max-open`, storage/leases.ts) bounds (embedded SQLite):
 *
 * 1. File handles one idle open database holds after uses with 0, 1, 4 and 8 reads at once (its
 *    writer's database, WAL and shared memory, plus those of the read connections its pool opened
 *    on demand), then after a quiet spell (BENCH_TRIM_MS, 300 ms here for the pool's 5 s), when the
 *    pool closed its unused readers: as a database a quiet follower holds open keeps them.
 * 2. BENCH_N (1,200) databases each used once (made, its table declared, 4 reads at once, released)
 *    within the idle time (60 s), with the default cap (1,000) and uncapped, alternated BENCH_RUNS (3)
 *    times in this process: the peak of open handles on hosted files, databases open at the end, and
 *    CPU per use (a close for the cap included).
 *
 * BENCH_MAX_OPEN sets the cap (1,000); BENCH_ONLY=capped|uncapped runs one side (e.g. under a low
 * `ulimit -n`, where the uncapped side runs out of file handles).
 *
 *   node --disable-warning=ExperimentalWarning bench/hub-max-open.ts
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteHubStore } from '../src/hub/storage/sqlite/store.ts';
import { handlesUnder } from '../test/support/handles.ts';

const N = Number(process.env.BENCH_N ?? 1_200);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const CAP = Number(process.env.BENCH_MAX_OPEN ?? 1_000);
const ONLY = process.env.BENCH_ONLY;
const NOBODY = new Uint8Array(16);
const TABLES = [{ name: 'notes', pks: ['id'], columns: ['body'] }] as never;
const TRIM_MS = Number(process.env.BENCH_TRIM_MS ?? 300);


async function use(store: SqliteHubStore, name: string, reads: number): Promise<void> {
  const db = (await store.open(name, { app: 'a', user: 'u' }))!;
  await db.declare(TABLES);
  await Promise.all(Array.from({ length: reads }, async () => {
    for await (const _ of db.feed.batches(0, { exceptSite: NOBODY }));
  }));
  db.release!();
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

// 1. Handles per idle open database, at once and after a quiet spell.
for (const reads of [0, 1, 4, 8]) {
  const dir = mkdtempSync(join(tmpdir(), 'hub-max-open-'));
  const store = new SqliteHubStore(dir, { idleCloseMs: 60_000, readerTrimMs: TRIM_MS });
  for (let i = 0; i < 10; i++) await use(store, `db${i}`, reads);
  const files = join(dir, 'databases/');
  const now = handlesUnder(files) / 10;
  await new Promise((r) => setTimeout(r, TRIM_MS * 2.5));
  console.log(`idle open database after ${reads} reads at once: ${now} file handles, ${handlesUnder(files) / 10} after a quiet spell`);
  await store.close();
  rmSync(dir, { recursive: true, force: true });
}

// 2. N databases used within the idle time, capped and not.
async function run(maxOpen: number): Promise<{ peak: number; open: number; cpuMs: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'hub-max-open-'));
  const files = join(dir, 'databases/');
  const store = new SqliteHubStore(dir, { idleCloseMs: 60_000, maxOpen });
  let peak = 0;
  const t0 = process.cpuUsage();
  for (let i = 0; i < N; i++) {
    await use(store, `db${i}`, 4);
    if (i % 50 === 49) peak = Math.max(peak, handlesUnder(files));
  }
  const t = process.cpuUsage(t0);
  const open = store.openDatabases;
  await store.close();
  rmSync(dir, { recursive: true, force: true });
  return { peak, open, cpuMs: (t.user + t.system) / 1000 / N };
}

const results: Record<string, { peak: number[]; open: number[]; cpuMs: number[] }> = {};
for (let r = 0; r < RUNS; r++) {
  for (const [label, maxOpen] of [['uncapped', Number.MAX_SAFE_INTEGER], [`cap ${CAP}`, CAP]] as const) {
    if (ONLY !== undefined && ONLY !== (label === 'uncapped' ? 'uncapped' : 'capped')) continue;
    const x = await run(maxOpen);
    const acc = (results[label] ??= { peak: [], open: [], cpuMs: [] });
    acc.peak.push(x.peak);
    acc.open.push(x.open);
    acc.cpuMs.push(x.cpuMs);
    console.log(`run ${r + 1} ${label}: peak handles ${x.peak}, open at the end ${x.open}, ${x.cpuMs.toFixed(2)} ms CPU per use`);
  }
}
for (const [label, x] of Object.entries(results)) {
  console.log(`${label}: peak handles median ${median(x.peak)} (${Math.min(...x.peak)}–${Math.max(...x.peak)}), open ${median(x.open)}, CPU per use median ${median(x.cpuMs).toFixed(2)} ms (best ${Math.min(...x.cpuMs).toFixed(2)}, worst ${Math.max(...x.cpuMs).toFixed(2)})`);
}
