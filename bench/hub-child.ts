/**
 * The hub under load, in its own process (so its RSS and CPU time are its own):
 * `node bench/hub-child.ts DIR DBS` serves DIR (embedded SQLite), `node bench/hub-child.ts postgres://… SCHEMA DBS`
 * serves that PostgreSQL schema; on 127.0.0.1, every client with bearer token `bench` acting as
 * user `bench` of app `bench`, who owns databases db0 … db(DBS−1), made before the hub listens (a
 * pull creates no database, so followers that connect before a writer's first push would be refused).
 * Prints `listening ws://… pid N`, stops on SIGTERM.
 */
import { writeFileSync } from 'node:fs';
import type { Authenticator } from '../src/hub/auth/port.ts';
import { fanoutOf } from '../src/hub/fanout.ts';
import { HubServer } from '../src/hub/server.ts';
import type { HubDatabase } from '../src/hub/storage/port.ts';
import { PgHubStore } from '../src/hub/storage/postgres/store.ts';
import { SqliteHubStore } from '../src/hub/storage/sqlite/store.ts';
import { TRACE, traceHub } from './hub-trace.ts';

const auth: Authenticator = {
  authenticate: async (req) => {
    if (req.headers.authorization !== 'Bearer bench') throw new Error('authentication failed');
    return { app: 'bench', user: 'bench', method: 'token' };
  },
  refresh: async (p) => p,
  valid: async () => true,
  accessChanged: async () => {},
  onRevoked: () => () => {},
};
const where = process.argv[2]!;
const pg = where.startsWith('postgres://');
const store = pg ? await PgHubStore.open({ url: where, schema: process.argv[3]!, max: 10 }) : new SqliteHubStore(where);
const dbs = Number(process.argv[pg ? 4 : 3] ?? 0);
const opened: HubDatabase[] = [];
for (let i = 0; i < dbs; i++) opened.push((await store.open(`db${i}`, { app: 'bench', user: 'bench' }))!);
// BENCH_HUB_TRACE=1: the stages of traced changes in the hub, written to BENCH_HUB_TRACE_FILE when it stops (bench/hub-trace.ts).
const tracer = TRACE ? traceHub(opened) : undefined;
const hub = await HubServer.start({ store, auth, host: '127.0.0.1', port: 0 });
console.log(`listening ${hub.url} pid ${process.pid}`);
process.once('SIGTERM', () => {
  // The fan-out's work, summed over the databases: reads of the store and frames encoded per wake.
  const sum = (k: 'groupReads' | 'handedOver' | 'followerReads' | 'encoded'): number => opened.reduce((s, d) => s + fanoutOf(d).stats[k], 0);
  const commits = opened.reduce((s, d) => s + ((d.feed as { commits?: number }).commits ?? 0), 0);
  process.stderr.write(`[bench hub] hub: group reads ${sum('groupReads')}, wakes handed the merged changes ${sum('handedOver')}, follower reads ${sum('followerReads')}, frames encoded ${sum('encoded')}, group commits ${commits}; JS heap ${(process.memoryUsage().heapUsed / 2 ** 20).toFixed(0)} MiB used, RSS ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB\n`);
  if (tracer) process.stderr.write(`[bench hub] ${tracer.health('hub (its whole life)')}\n`);
  if (tracer && process.env.BENCH_HUB_TRACE_FILE) writeFileSync(process.env.BENCH_HUB_TRACE_FILE, JSON.stringify(tracer.trace));
  void hub.stop().then(() => process.exit(0));
});
