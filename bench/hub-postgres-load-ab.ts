/**
 * The hub load run in PostgreSQL mode (bench/hub.ts), this checkout and another one alternately,
 * with PostgreSQL's own CPU beside the hub's: PostgreSQL runs on the same cores, so what it spends
 * per accepted change counts as much as the hub's.
 *
 *   BENCH_BASE=<other checkout> BENCH_ROUNDS=3 node --disable-warning=ExperimentalWarning bench/hub-postgres-load-ab.ts
 *
 * Each run is `node <tree>/bench/hub.ts` with BENCH_HUB_MODE=postgres and no sustained phase unless
 * BENCH_HUB_SUSTAINED_SECONDS says (the other BENCH_HUB_* knobs pass through; BENCH_HUB_PG_URL defaults to database `hubpg_ab`, made if
 * missing). Between the run's "writing" and "all acknowledged" lines it samples the CPU ticks of
 * every PostgreSQL process (/proc, so other users of the server count too: compare alternating
 * runs) and the server's committed transactions (pg_stat_database), per committed change.
 */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import postgres from 'postgres';
import { pgTicks } from './util.ts';

const here = join(dirname(fileURLToPath(import.meta.url)), '..');
const trees: [string, string][] = [...(process.env.BENCH_BASE ? [['base', process.env.BENCH_BASE] as [string, string]] : []), ['this', here]];
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const URL = process.env.BENCH_HUB_PG_URL ?? 'postgres://127.0.0.1:5432/hubpg_ab';


async function ensureDatabase(): Promise<void> {
  const u = new globalThis.URL(URL);
  const name = u.pathname.slice(1);
  u.pathname = '/test';
  const sql = postgres(u.toString(), { max: 1, onnotice: () => {} });
  const [row] = await sql`SELECT 1 FROM pg_database WHERE datname = ${name}`;
  if (!row) await sql.unsafe(`CREATE DATABASE ${name}`);
  await sql.end();
}

async function commits(sql: postgres.Sql): Promise<number> {
  const [row] = await sql<{ n: string }[]>`SELECT sum(xact_commit)::text AS n FROM pg_stat_database WHERE datname = current_database()`;
  return Number(row!.n);
}

interface Run {
  accepted_per_s: number;
  hub_cpu_us_per_change: number;
  committed: number;
  converged: boolean;
  load: number;
  fanout_ms: { median: number; p99: number };
  sustained?: { offered_per_s: number; accepted_per_s: number; fanout_ms: { median: number; p99: number }; converged: boolean };
}

async function run(tree: string, sql: postgres.Sql): Promise<Run & { pg_us: number; tx_per_change: number }> {
  const child = spawn(join(tree, 'node_modules/.bin/node'), ['--disable-warning=ExperimentalWarning', join(tree, 'bench/hub.ts')], {
    cwd: tree,
    env: { ...process.env, BENCH_HUB_MODE: 'postgres', BENCH_HUB_SUSTAINED_SECONDS: process.env.BENCH_HUB_SUSTAINED_SECONDS ?? '0', BENCH_HUB_PG_URL: URL },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d));
  let t0 = 0, x0 = 0, t1 = 0, x1 = 0;
  let pending: Promise<void> = Promise.resolve();
  let err = '';
  child.stderr.on('data', (d: Buffer) => {
    err += d;
    const s = d.toString();
    if (s.includes('] writing ')) pending = pending.then(async () => {
        t0 = pgTicks();
        x0 = await commits(sql);
      });
    if (s.includes('all acknowledged')) pending = pending.then(async () => {
        t1 = pgTicks();
        x1 = await commits(sql);
      });
  });
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  await pending;
  if (code !== 0) throw new Error(`${tree}: bench/hub.ts exited ${code}\n${err.slice(-2000)}`);
  const r = JSON.parse(out) as Run;
  return { ...r, pg_us: Math.round(((t1 - t0) * 10_000) / r.committed), tx_per_change: +((x1 - x0) / r.committed).toFixed(3) };
}

await ensureDatabase();
const sql = postgres(URL, { max: 1, onnotice: () => {} });
const rows: string[] = [];
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, tree] of round % 2 === 0 ? trees : [...trees].reverse()) {
    const r = await run(tree, sql);
    const line = `round ${round} ${name}: accepted ${r.accepted_per_s}/s, hub ${r.hub_cpu_us_per_change} µs, PostgreSQL ${r.pg_us} µs per change, ${r.tx_per_change} transactions per change, fan-out median / p99 ${r.fanout_ms.median} / ${r.fanout_ms.p99} ms, converged ${r.converged}, load ${r.load}${r.sustained ? `; sustained ${r.sustained.offered_per_s}/s offered: fan-out ${r.sustained.fanout_ms.median} / ${r.sustained.fanout_ms.p99} ms, converged ${r.sustained.converged}` : ''}`;
    console.log(line);
    rows.push(line);
  }
}
await sql.end();
