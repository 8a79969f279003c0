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
  curveSeconds?: number;
  curve_runs?: { committed?: number; offered_per_s: number; accepted_per_s: number; hub_cpu_us_per_change: number; clients_cpu_us_per_change: number; changes_per_frame: number; machine_busy: number; fanout_ms: { median: number; p99: number }; converged: boolean }[];
  warmupSeconds?: number;
}

/** PostgreSQL's CPU ticks and commits over one write phase (its "writing" line to its "all acknowledged" line). */
interface PhasePg {
  ticks: number;
  commits: number;
}

async function run(tree: string, sql: postgres.Sql): Promise<Run & { pg_us: number; tx_per_change: number; phases: PhasePg[] }> {
  const child = spawn(join(tree, 'node_modules/.bin/node'), ['--disable-warning=ExperimentalWarning', join(tree, 'bench/hub.ts')], {
    cwd: tree,
    env: { ...process.env, BENCH_HUB_MODE: 'postgres', BENCH_HUB_SUSTAINED_SECONDS: process.env.BENCH_HUB_SUSTAINED_SECONDS ?? '0', BENCH_HUB_PG_URL: URL },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d));
  let t0 = 0, x0 = 0, t1 = 0, x1 = 0;
  // Every write phase in order: warm-up (if any), saturation, then the curve's rates.
  const phases: PhasePg[] = [];
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
        phases.push({ ticks: t1 - t0, commits: x1 - x0 });
      });
  });
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  await pending;
  if (code !== 0) throw new Error(`${tree}: bench/hub.ts exited ${code}\n${err.slice(-2000)}`);
  const r = JSON.parse(out) as Run;
  const first = phases.length - (r.curve_runs?.length ?? 0) - 1; // the saturation phase's
  const sat = phases[first] ?? { ticks: t1 - t0, commits: x1 - x0 };
  return { ...r, pg_us: Math.round((sat.ticks * 10_000) / r.committed), tx_per_change: +(sat.commits / r.committed).toFixed(3), phases: phases.slice(first + 1) };
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
    // The latency curve's rates: the phase's figures and PostgreSQL's CPU and commits per accepted change.
    (r.curve_runs ?? []).forEach((c, i) => {
      const pg = r.phases[i];
      // Committed in the phase: its count where the tree reports it, else what was offered (all of it is, when it converged).
      const n = c.committed ?? c.offered_per_s * (r.curveSeconds ?? 3);
      const pgText = pg ? `PostgreSQL ${Math.round((pg.ticks * 10_000) / n)} µs, ${(pg.commits / n).toFixed(3)} transactions per change` : 'PostgreSQL ?';
      console.log(`  ${name} offered ${c.offered_per_s}/s: accepted ${c.accepted_per_s}/s, hub ${c.hub_cpu_us_per_change} + clients ${c.clients_cpu_us_per_change} µs per change, ${pgText}, ${c.changes_per_frame} changes per frame, machine ${Math.round(c.machine_busy * 100)} % busy, fan-out median / p99 ${c.fanout_ms.median} / ${c.fanout_ms.p99} ms, converged ${c.converged}`);
    });
  }
}
await sql.end();
