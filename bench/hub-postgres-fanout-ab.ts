/**
 * The hub's CPU per change on its PostgreSQL write path with followers, in one process: BENCH_D (10)
 * hosted databases in a PostgreSQL store, BENCH_W (2) writer sites each pushing BENCH_K (8)
 * single-row batches per round through each database's sink (group commits), BENCH_F (10)
 * followers on each database's fan-out (a channel that drops the frames). Per change: this
 * process's CPU (merge, group commit, the fan-out's wake, read or handover, encoding) and the
 * PostgreSQL server's (every backend of it — other users of the server count too: run it quiet),
 * medians over 7 rounds of BENCH_ROUNDS (40), this tree and, with BENCH_BASE=DIR (another worktree),
 * that one, alternating. No sockets to clients, no decoding of pushes.
 *
 *   BENCH_BASE=/path/to/base-worktree node --disable-warning=ExperimentalWarning bench/hub-postgres-fanout-ab.ts
 */
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import postgres from 'postgres';
import { pgTicks } from './util.ts';

const here = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');
const roots: [string, string][] = [...(process.env.BENCH_BASE ? [['base', process.env.BENCH_BASE] as [string, string]] : []), ['this', here]];
const D = Number(process.env.BENCH_D ?? 10), K = Number(process.env.BENCH_K ?? 8), W = Number(process.env.BENCH_W ?? 2), F = Number(process.env.BENCH_F ?? 10), ROUNDS = Number(process.env.BENCH_ROUNDS ?? 40);
const PG_URL = process.env.DDCP_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));


async function setup(root: string, schema: string) {
  const { PgHubStore } = await import(`${root}/src/hub/storage/postgres/store.ts`);
  const { Gate } = await import(`${root}/src/sync/gate.ts`);
  const { fanoutOf } = await import(`${root}/src/hub/fanout.ts`);
  const { packColumns } = await import(`${root}/src/engine/index.ts`);
  const store = await PgHubStore.open({ url: PG_URL, schema });
  const gate = new Gate(() => ({ read: 'all', write: 'all' }));
  const stop = new AbortController();
  const ch = { send: () => Promise.resolve(), close: async () => {}, abort() {}, async *[Symbol.asyncIterator]() {} };
  const dbs: { hosted: any; fanout: any; sites: { siteId: Uint8Array; peer: string; source: string; gate: unknown; v: number; i: number }[] }[] = []; // eslint-disable-line @typescript-eslint/no-explicit-any
  for (let d = 0; d < D; d++) {
    const hosted = await store.open(`db${d}`, { app: 'a', user: 'u' });
    await hosted.declare([{ name: 'notes', pks: ['id'], columns: ['body'] }]);
    const fanout = fanoutOf(hosted);
    const v0 = await hosted.feed.version();
    for (let f = 0; f < F; f++) void fanout.send(ch, v0, { exceptSite: randomBytes(16), follow: true, signal: stop.signal });
    dbs.push({ hosted, fanout, sites: Array.from({ length: W }, (_, i) => ({ siteId: randomBytes(16), peer: 'u', source: `c${i}`, gate, v: 0, i })) });
  }
  const round = async (): Promise<void> => {
    const ps: Promise<unknown>[] = [];
    for (const { hosted, sites } of dbs) {
      for (const s of sites) {
        for (let k = 0; k < K; k++) {
          const v = ++s.v;
          ps.push(hosted.sink.receive({ version: v, complete: true, changes: [{ table: 'notes', pk: packColumns([`${s.i}:${v}`]), cid: 'body', val: `${Date.now().toFixed(3)} ${s.i} ${v}`, colVersion: 1, dbVersion: v, siteId: s.siteId, seq: 0, cl: 1 }] }, s));
        }
      }
    }
    await Promise.all(ps);
    await sleep(2); // the fan-out's wakes run
  };
  const stats = (): string => {
    const sum = (k: string): number => dbs.reduce((n, d) => n + (d.fanout.stats as Record<string, number>)[k]!, 0);
    return `group reads ${sum('groupReads')}, handed over ${sum('handedOver')}`;
  };
  return { round, stats, done: async () => { stop.abort(); await sleep(20); await store.close(); } };
}

const admin = postgres(PG_URL, { max: 1, onnotice: () => {} });
const schemas: string[] = [];
const envs: Record<string, Awaited<ReturnType<typeof setup>>> = {};
for (const [k, r] of roots) {
  const schema = `ddcp_hubpg_fanab_${randomBytes(4).toString('hex')}`;
  schemas.push(schema);
  envs[k] = await setup(r, schema);
}
const hub: Record<string, number[]> = {};
const pg: Record<string, number[]> = {};
try {
  for (let rep = 0; rep < 7; rep++) {
    for (const [k] of roots) {
      const e = envs[k]!;
      for (let i = 0; i < 5; i++) await e.round();
      const t = process.cpuUsage();
      const p = pgTicks();
      for (let i = 0; i < ROUNDS; i++) await e.round();
      const d = process.cpuUsage(t);
      const n = ROUNDS * K * W * D;
      (hub[k] ??= []).push((d.user + d.system) / n);
      (pg[k] ??= []).push(((pgTicks() - p) * 10_000) / n);
    }
  }
  const med = (a: number[]): number => [...a].sort((x, y) => x - y)[a.length >> 1]!;
  const show = (r: Record<string, number[]>): string => Object.entries(r).map(([k, a]) => `${k} ${med(a).toFixed(1)} (min ${Math.min(...a).toFixed(1)}, max ${Math.max(...a).toFixed(1)})`).join('  →  ');
  console.log(`D=${D} W=${W} K=${K} F=${F}, µs per change`);
  console.log(`  hub CPU:        ${show(hub)}`);
  console.log(`  PostgreSQL CPU: ${show(pg)}`);
  for (const [k] of roots) console.log(`  ${k}: ${envs[k]!.stats()}`);
} finally {
  for (const e of Object.values(envs)) await e.done();
  for (const s of schemas) await admin.unsafe(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
  await admin.end();
}
