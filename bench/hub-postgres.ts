/**
 * The hub's PostgreSQL store: changes merged per second (a pushed batch of BENCH_PG_CHANGES
 * single-column changes, new rows and then updates of them), against the SQLite engine merging the
 * same batch in the same run; and single-row pushes through one hub process with a follower on
 * another (ack latency, and the time until the other process's follower wakes), median and p99;
 * and BENCH_PG_WRITERS clients pushing BENCH_PG_EACH single-row transactions each into one database
 * at once (each awaiting its ack before its next push, as a session does): changes accepted per
 * second with group commit (the default) and with each push its own transaction (maxGroup 1),
 * interleaved in one run.
 *
 *   node --disable-warning=ExperimentalWarning bench/hub-postgres.ts
 *   DDCP_TEST_PG_URL=postgres://… BENCH_PG_CHANGES=10000 BENCH_PG_PUSHES=200 node … bench/hub-postgres.ts
 */
import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { Engine, openDatabase, type Change } from '../src/engine/index.ts';
import { PgHubStore } from '../src/hub/storage/postgres/store.ts';
import { Gate } from '../src/sync/gate.ts';

const URL = process.env.DDCP_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const N = Number(process.env.BENCH_PG_CHANGES ?? 10_000);
const PUSHES = Number(process.env.BENCH_PG_PUSHES ?? 200);
const WRITERS = Number(process.env.BENCH_PG_WRITERS ?? 200);
const EACH = Number(process.env.BENCH_PG_EACH ?? 20);
const REPS = 3;
const ALL = new Gate(() => ({ read: 'all', write: 'all' }));
const OWNER = { app: 'bench', user: 'u' };

function source(): Engine {
  const e = Engine.open(openDatabase(':memory:'));
  e.db.exec('CREATE TABLE notes (id NOT NULL PRIMARY KEY, body)');
  e.asCrr('notes');
  return e;
}

/** N single-column changes: N new rows, then N updates of those rows. */
function batches(): { insert: Change[]; update: Change[]; siteId: Uint8Array } {
  const e = source();
  e.db.exec('BEGIN');
  const ins = e.db.prepare('INSERT INTO notes VALUES (?, ?)');
  for (let i = 0; i < N; i++) ins.run(BigInt(i), `note ${i}`);
  e.db.exec('COMMIT');
  const insert = [...e.changesSince(0)];
  const v = e.dbVersion();
  e.db.exec("UPDATE notes SET body = body || ' (edited)'");
  const update = [...e.changesSince(v)];
  return { insert, update, siteId: e.siteId };
}

const pct = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]!;
const rate = (n: number, ms: number): string => `${Math.round((n * 1000) / ms).toLocaleString('en-US')}/s`;

const sql = postgres(URL, { max: 4, onnotice: () => {} });
const schema = `ddcp_hubpg_bench_${randomBytes(4).toString('hex')}`;
const [one, two] = await Promise.all([PgHubStore.open({ url: URL, schema }), PgHubStore.open({ url: URL, schema })]);
const ungrouped = await PgHubStore.open({ url: URL, schema, maxGroup: 1 });
try {
  const { insert, update, siteId } = batches();
  const from = { siteId, peer: 'u', source: 'u', gate: ALL };
  const best = { pgInsert: Infinity, pgUpdate: Infinity, sqlInsert: Infinity, sqlUpdate: Infinity };
  for (let r = 0; r < REPS; r++) {
    const db = (await one.open(`m${r}`, OWNER))!;
    await db.declare([{ name: 'notes', pks: ['id'], columns: ['body'] }]);
    let t = performance.now();
    await db.sink.receive({ changes: insert, version: 1, complete: true }, from);
    best.pgInsert = Math.min(best.pgInsert, performance.now() - t);
    t = performance.now();
    await db.sink.receive({ changes: update, version: 2, complete: true }, from);
    best.pgUpdate = Math.min(best.pgUpdate, performance.now() - t);
    const e = Engine.open(openDatabase(':memory:'));
    e.db.exec('CREATE TABLE notes (id NOT NULL, body, PRIMARY KEY (id))');
    e.asCrr('notes');
    t = performance.now();
    e.applyChanges(insert);
    best.sqlInsert = Math.min(best.sqlInsert, performance.now() - t);
    t = performance.now();
    e.applyChanges(update);
    best.sqlUpdate = Math.min(best.sqlUpdate, performance.now() - t);
    e.db.close();
  }
  // PostgreSQL's own floor on this machine now: the same number of rows into the same table, by itself.
  let floor = Infinity;
  for (let r = 0; r < REPS; r++) {
    const t = performance.now();
    await sql.unsafe(
      `INSERT INTO ${schema}.cells SELECT -1 - $2::int, 'notes', int8send(g), 'body', int8send(g), 1, 1, '\\x41414141414141414141414141414141'::bytea, g FROM generate_series(1, $1::int) g`,
      [N, r],
    );
    floor = Math.min(floor, performance.now() - t);
  }
  console.log(`merged, batch of ${N} single-column changes, best of ${REPS}:`);
  console.log(`  PostgreSQL alone: INSERT of ${N} cell rows by generate_series ${floor.toFixed(0)} ms (${rate(N, floor)})`);
  console.log(`  PostgreSQL  new rows ${best.pgInsert.toFixed(0)} ms (${rate(N, best.pgInsert)}), updates ${best.pgUpdate.toFixed(0)} ms (${rate(N, best.pgUpdate)})`);
  console.log(`  SQLite      new rows ${best.sqlInsert.toFixed(0)} ms (${rate(N, best.sqlInsert)}), updates ${best.sqlUpdate.toFixed(0)} ms (${rate(N, best.sqlUpdate)})`);

  // Single-row pushes through hub one; a follower on hub two.
  const a = (await one.open('live', OWNER))!;
  await a.declare([{ name: 'notes', pks: ['id'], columns: ['body'] }]);
  const b = (await two.open('live'))!;
  const e = source();
  const acks: number[] = [];
  const wakes: number[] = [];
  for (let i = 0; i < PUSHES; i++) {
    e.db.prepare('INSERT INTO notes VALUES (?, ?)').run(BigInt(i), 'x');
    const v = e.dbVersion();
    const changes = [...e.changesSince(v - 1)];
    const woke = b.feed.changed(new AbortController().signal);
    const t = performance.now();
    await a.sink.receive({ changes, version: v, complete: true }, { ...from, siteId: e.siteId });
    acks.push(performance.now() - t);
    await woke;
    wakes.push(performance.now() - t);
  }
  console.log(`${PUSHES} single-row pushes into hub one: ack median ${pct(acks, 50).toFixed(1)} ms, p99 ${pct(acks, 99).toFixed(1)} ms;`);
  console.log(`  push to hub two's follower woken (LISTEN/NOTIFY): median ${pct(wakes, 50).toFixed(1)} ms, p99 ${pct(wakes, 99).toFixed(1)} ms`);

  // Many writers at once into one database: each pushes its single-row transactions in turn.
  const writers = Array.from({ length: WRITERS }, (_, w) => {
    const e = source();
    const pushes: { changes: Change[]; version: number }[] = [];
    for (let i = 0; i < EACH; i++) {
      e.db.prepare('INSERT INTO notes VALUES (?, ?)').run(`w${w}-${i}`, `from ${w}`);
      const v = e.dbVersion();
      pushes.push({ changes: [...e.changesSince(v - 1)], version: v });
    }
    return { siteId: e.siteId, pushes };
  });
  const total = writers.reduce((n, w) => n + w.pushes.reduce((m, p) => m + p.changes.length, 0), 0);
  const rates: Record<string, number[]> = { grouped: [], single: [] };
  for (let r = 0; r < REPS; r++) {
    for (const [label, store] of [['grouped', one], ['single', ungrouped]] as const) {
      const db = (await store.open(`many-${label}-${r}`, OWNER))!;
      await db.declare([{ name: 'notes', pks: ['id'], columns: ['body'] }]);
      const t = performance.now();
      await Promise.all(
        writers.map(async (w) => {
          for (const p of w.pushes) await db.sink.receive({ ...p, complete: true }, { ...from, siteId: w.siteId });
        }),
      );
      rates[label]!.push((total * 1000) / (performance.now() - t));
    }
  }
  const fmt = (xs: number[]): string => xs.map((x) => Math.round(x).toLocaleString('en-US')).join(' / ');
  console.log(`${WRITERS} writers × ${EACH} single-row pushes into one database at once (${total} changes), changes accepted/s per round:`);
  console.log(`  group commit (default): ${fmt(rates.grouped!)}`);
  console.log(`  one transaction each (maxGroup 1): ${fmt(rates.single!)}`);
} finally {
  await Promise.all([one.close(), two.close(), ungrouped.close()]);
  await sql.unsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await sql.end();
}
