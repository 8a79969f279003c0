/**
 * What PostgreSQL's notification lock costs a committing transaction (the probe behind *pg-notify*
 * in docs/performance.md): BENCH_CLIENTS (8) connections each commit one-row transactions for
 * BENCH_SECONDS (5), in three variants, alternating for BENCH_ROUNDS (3) —
 *   plain:  BEGIN; INSERT; COMMIT
 *   inside: BEGIN; INSERT; SELECT pg_notify(…); COMMIT   (the hub's merges before pg-notify)
 *   after:  BEGIN; INSERT; COMMIT; SELECT pg_notify(…)   (a notification of its own after the commit)
 * and prints transactions/s, the commit's median and p99 (ms: COMMIT sent → answered) and
 * PostgreSQL's CPU per transaction (every postgres process, /proc: compare alternating runs).
 * A notifying transaction holds a cluster-wide lock from before its commit record until its WAL
 * flush ends (async.c, PreCommit_Notify), so `inside` commits one flush at a time; `after`'s
 * notification writes nothing, so its commit needs no flush and the lock is held only briefly.
 *
 *   node --disable-warning=ExperimentalWarning bench/pg-notify-commit.ts
 */
import postgres from 'postgres';
import { pgTicks } from './util.ts';

const URL = process.env.DDCP_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 8);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const TABLE = `pg_notify_commit_${process.pid}`;
const CHANNEL = `${TABLE}_ch`;

type Variant = 'plain' | 'inside' | 'after';

const pct = (xs: number[], p: number): number => xs[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;

async function run(sql: postgres.Sql, variant: Variant): Promise<string> {
  const end = performance.now() + SECONDS * 1000;
  const commits: number[] = [];
  const ticks0 = pgTicks();
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      const conn = await sql.reserve();
      try {
        while (performance.now() < end) {
          await conn.unsafe('BEGIN');
          await conn.unsafe(`INSERT INTO ${TABLE} (v) VALUES (1)`);
          if (variant === 'inside') await conn.unsafe('SELECT pg_notify($1, $2)', [CHANNEL, 'x 1']);
          const t = performance.now();
          await conn.unsafe('COMMIT');
          commits.push(performance.now() - t);
          if (variant === 'after') await conn.unsafe('SELECT pg_notify($1, $2)', [CHANNEL, 'x 1']);
        }
      } finally {
        conn.release();
      }
    }),
  );
  const ticks = pgTicks() - ticks0;
  commits.sort((a, b) => a - b);
  return `${variant.padEnd(6)}: ${Math.round(commits.length / SECONDS)} transactions/s, COMMIT median ${pct(commits, 0.5).toFixed(2)} p99 ${pct(commits, 0.99).toFixed(2)} ms, PostgreSQL ${Math.round((ticks * 10_000) / commits.length)} µs per transaction`;
}

const sql = postgres(URL, { max: CLIENTS + 1, onnotice: () => {} });
// Someone listens, as every hub does (a notification nobody listens for is cheaper to deliver).
const listening = await sql.listen(CHANNEL, () => {});
await sql.unsafe(`CREATE TABLE ${TABLE} (id bigserial PRIMARY KEY, v int)`);
try {
  for (let round = 0; round < ROUNDS; round++) {
    const order: Variant[] = round % 2 === 0 ? ['plain', 'inside', 'after'] : ['after', 'inside', 'plain'];
    for (const v of order) console.log(`round ${round} ${await run(sql, v)}`);
  }
} finally {
  await sql.unsafe(`DROP TABLE ${TABLE}`);
  await listening.unlisten();
  await sql.end();
}
