/**
 * The wall time of a hosted SQLite database's one-change group commit, checkpoints included: per
 * tree (this one and, with BENCH_BASE=DIR, that one), a hosted database of BENCH_ROWS (20,000) rows
 * written before, then BENCH_ROUNDS (3,000) single-row pushes (an update of a row spread over the
 * table, each its own group commit) through the database's sink, awaited one by one; alternating
 * blocks of 500, BENCH_REPS (3) blocks per tree. Prints each tree's median, p99, p99.9 and longest
 * push (µs: what the event loop was blocked for, a WAL checkpoint's syncs included) and its CPU per push.
 *
 *   BENCH_BASE=/path/to/base-worktree node --disable-warning=ExperimentalWarning bench/hub-commit-wall-ab.ts
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROWS = Number(process.env.BENCH_ROWS ?? 20_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3000);
const REPS = Number(process.env.BENCH_REPS ?? 3);
const BLOCK = 500;
const here = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');
const roots: [string, string][] = [...(process.env.BENCH_BASE ? [['base', process.env.BENCH_BASE] as [string, string]] : []), ['this', here]];

async function setup(root: string) {
  const { SqliteHubStore } = await import(`${root}/src/hub/storage/sqlite/store.ts`);
  const { Gate } = await import(`${root}/src/sync/gate.ts`);
  const { packColumns } = await import(`${root}/src/engine/index.ts`);
  const dir = mkdtempSync(join(tmpdir(), 'cwab-'));
  const store = new SqliteHubStore(dir);
  const hosted = await store.open('db1', { app: 'a', user: 'u' });
  await hosted.declare([{ name: 'notes', pks: ['id'], columns: ['body'] }]);
  const gate = new Gate(() => ({ read: 'all', write: 'all' }));
  const origin = { siteId: randomBytes(16), peer: 'u', source: 'c', gate };
  let v = 0;
  const push = (id: number) => {
    const version = ++v;
    return hosted.sink.receive({ version, complete: true, changes: [{ table: 'notes', pk: packColumns([`row ${id}`]), cid: 'body', val: `${version} ${'x'.repeat(40)}`, colVersion: version, dbVersion: version, siteId: origin.siteId, seq: 0, cl: 1 }] }, origin);
  };
  // The rows, 200 to a push.
  for (let i = 0; i < ROWS; i += 200) await Promise.all(Array.from({ length: 200 }, (_, j) => push(i + j)));
  const walls: number[] = [];
  let cpu = 0;
  let n = 0;
  const block = async () => {
    const c = process.cpuUsage();
    for (let i = 0; i < BLOCK; i++) {
      const t = performance.now();
      await push(((v * 7919) % ROWS));
      walls.push((performance.now() - t) * 1000);
    }
    const d = process.cpuUsage(c);
    cpu += d.user + d.system;
    n += BLOCK;
  };
  return { block, stats: () => ({ walls, cpu: cpu / n }), done: async () => { await store.close?.(); rmSync(dir, { recursive: true, force: true }); } };
}

const envs: Record<string, Awaited<ReturnType<typeof setup>>> = {};
for (const [k, r] of roots) envs[k] = await setup(r);
for (let rep = 0; rep < (REPS * ROUNDS) / BLOCK; rep++) for (const [k] of rep % 2 === 0 ? roots : [...roots].reverse()) await envs[k]!.block();
for (const [k] of roots) {
  const { walls, cpu } = envs[k]!.stats();
  const s = [...walls].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(s.length * p))]!.toFixed(0);
  console.log(`${k}: ${s.length} pushes, wall median ${q(0.5)} µs, p99 ${q(0.99)}, p99.9 ${q(0.999)}, longest ${s[s.length - 1]!.toFixed(0)}; CPU ${cpu.toFixed(1)} µs per push`);
}
for (const e of Object.values(envs)) await e.done();
