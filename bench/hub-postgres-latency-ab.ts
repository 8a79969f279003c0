/**
 * The PostgreSQL store's share of a change's latency below saturation, in one process: BENCH_D (100)
 * hosted databases, BENCH_W (2) writer sites each, every writer pushing single-row batches through
 * its database's sink at its own random phase so that all of them together offer each rate of
 * BENCH_RATES (250,1000,2500 changes/s) for BENCH_SECONDS (3), BENCH_F (9) followers on each
 * database's fan-out (a channel that drops the frames: the wake's work without sockets). Per rate:
 * push → acknowledged latency (the ack follows the COMMIT's answer, when the fan-out is woken too),
 * median / p99 ms, this process's CPU and that of the PostgreSQL backends serving the store (its
 * connections carry an application_name of their own; the server's shared processes — WAL writer,
 * checkpointer — are left out, as other users of the server are) per change, and the merge
 * transactions per change (distinct xmin of the direct versions written).
 * This tree and, with BENCH_BASE=DIR (another worktree), that one, alternating for BENCH_ROUNDS (3);
 * or BENCH_TREES=name=DIR,name=DIR,… in turn.
 *
 *   BENCH_BASE=/path/to/base-worktree node --disable-warning=ExperimentalWarning bench/hub-postgres-latency-ab.ts
 */
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import postgres from 'postgres';
import { readFileSync } from 'node:fs';

const here = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');
// BENCH_TREES=name=DIR,name=DIR,…: those checkouts instead (variants side by side).
const roots: [string, string][] = process.env.BENCH_TREES
  ? process.env.BENCH_TREES.split(',').map((t) => t.split('=') as [string, string])
  : [...(process.env.BENCH_BASE ? [['base', process.env.BENCH_BASE] as [string, string]] : []), ['this', here]];
const D = Number(process.env.BENCH_D ?? 100), W = Number(process.env.BENCH_W ?? 2), F = Number(process.env.BENCH_F ?? 9);
const RATES = (process.env.BENCH_RATES ?? '250,1000,2500').split(',').map(Number);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3), ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const PG_URL = process.env.DDCP_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Writer {
  hosted: { sink: { receive(b: unknown, from: unknown): Promise<unknown> } };
  site: { siteId: Uint8Array; peer: string; source: string; gate: unknown };
  i: number;
  v: number;
  /** When its next push is due (ms, performance.now()). */
  due: number;
}

/** CPU ticks (user + system) of the given processes. */
function ticksOf(pids: number[]): number {
  let t = 0;
  for (const pid of pids) {
    try {
      const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      t += Number(f[11]) + Number(f[12]);
    } catch {
      // ended meanwhile
    }
  }
  return t;
}

async function setup(root: string, schema: string) {
  const { PgHubStore } = await import(`${root}/src/hub/storage/postgres/store.ts`);
  const { Gate } = await import(`${root}/src/sync/gate.ts`);
  const { fanoutOf } = await import(`${root}/src/hub/fanout.ts`);
  const { packColumns } = await import(`${root}/src/engine/index.ts`);
  const store = await PgHubStore.open({ url: `${PG_URL}?application_name=${schema}`, schema });
  const gate = new Gate(() => ({ read: 'all', write: 'all' }));
  const stop = new AbortController();
  const ch = { send: () => Promise.resolve(), close: async () => {}, abort() {}, async *[Symbol.asyncIterator]() {} };
  const writers: Writer[] = [];
  for (let d = 0; d < D; d++) {
    const hosted = await store.open(`db${d}`, { app: 'a', user: 'u' });
    await hosted.declare([{ name: 'notes', pks: ['id'], columns: ['body'] }]);
    const v0 = await hosted.feed.version();
    for (let f = 0; f < F; f++) void fanoutOf(hosted).send(ch, v0, { exceptSite: randomBytes(16), follow: true, signal: stop.signal });
    for (let w = 0; w < W; w++) writers.push({ hosted, site: { siteId: randomBytes(16), peer: 'u', source: `c${d}.${w}`, gate }, i: d * W + w, v: 0, due: 0 });
  }
  /** Offers `rate` changes/s for `seconds`; resolves with every push's latency (ms) once all are acknowledged. */
  const phase = async (rate: number, seconds: number): Promise<number[]> => {
    const every = (1000 * writers.length) / rate;
    const t0 = performance.now();
    for (const w of writers) w.due = t0 + Math.random() * every;
    const lat: number[] = [];
    const acks: Promise<unknown>[] = [];
    const end = t0 + seconds * 1000;
    for (;;) {
      const now = performance.now();
      if (now >= end) break;
      let next = end;
      for (const w of writers) {
        if (w.due <= now) {
          const v = ++w.v;
          const at = performance.now();
          const change = { table: 'notes', pk: packColumns([`${w.i}:${v}`]), cid: 'body', val: `${v}`, colVersion: 1, dbVersion: v, siteId: w.site.siteId, seq: 0, cl: 1 };
          acks.push(w.hosted.sink.receive({ version: v, complete: true, changes: [change] }, w.site).then(() => void lat.push(performance.now() - at)));
          w.due += every;
        }
        if (w.due < next) next = w.due;
      }
      await sleep(Math.max(0, next - performance.now()));
    }
    await Promise.all(acks);
    await sleep(5); // the fan-out's last wakes run
    return lat;
  };
  return { phase, done: async () => { stop.abort(); await sleep(20); await store.close(); } };
}

/** The CPU ticks of the store's backends (those of its application_name), and its merge transactions so far. */
async function pgOf(sql: postgres.Sql, schema: string): Promise<{ ticks: number; tx: number }> {
  const pids = await sql.unsafe<{ pid: number }[]>(`SELECT pid FROM pg_stat_activity WHERE application_name = $1`, [schema]);
  const [row] = await sql.unsafe<{ n: number }[]>(`SELECT count(DISTINCT xmin::text)::int AS n FROM ${schema}.direct_versions`);
  return { ticks: ticksOf(pids.map((p) => p.pid)), tx: row!.n };
}

const admin = postgres(PG_URL, { max: 1, onnotice: () => {} });
const schemas: string[] = [];
const schemaOf: Record<string, string> = {};
const envs: Record<string, Awaited<ReturnType<typeof setup>>> = {};
for (const [k, r] of roots) {
  const schema = `ddcp_hubpg_latab_${randomBytes(4).toString('hex')}`;
  schemas.push(schema);
  schemaOf[k] = schema;
  envs[k] = await setup(r, schema);
}
const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};
try {
  for (const [k] of roots) await envs[k]!.phase(RATES[0]!, 1); // warm-up
  console.log(`D=${D} W=${W} F=${F}, ${SECONDS} s per rate; push → ack latency, CPU µs per change`);
  for (let round = 0; round < ROUNDS; round++) {
    for (const [k] of round % 2 === 0 ? roots : [...roots].reverse()) {
      if (!envs[k]) continue;
      for (const rate of RATES) {
        const c0 = process.cpuUsage();
        const p0 = await pgOf(admin, schemaOf[k]!);
        const lat = await envs[k]!.phase(rate, SECONDS);
        const c = process.cpuUsage(c0);
        const p1 = await pgOf(admin, schemaOf[k]!);
        const pg = p1.ticks - p0.ticks;
        const x = p1.tx - p0.tx;
        const n = lat.length;
        const load = readFileSync('/proc/loadavg', 'utf8').split(' ')[0];
        console.log(
          `round ${round} ${k} ${rate}/s: latency median ${pct(lat, 50).toFixed(1)} p99 ${pct(lat, 99).toFixed(1)} ms; hub ${Math.round((c.user + c.system) / n)} µs, PostgreSQL ${Math.round((pg * 10_000) / n)} µs, ${(x / n).toFixed(3)} transactions per change; load ${load}`,
        );
      }
    }
  }
} finally {
  for (const e of Object.values(envs)) await e.done();
  for (const s of schemas) await admin.unsafe(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
  await admin.end();
}
