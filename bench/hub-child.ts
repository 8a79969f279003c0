/**
 * The hub under load, in its own process (so its RSS and CPU time are its own):
 * `node bench/hub-child.ts DIR DBS` serves DIR (embedded SQLite), `node bench/hub-child.ts postgres://… SCHEMA DBS`
 * serves that PostgreSQL schema; on 127.0.0.1, every client with bearer token `bench` acting as
 * user `bench` of app `bench`, who owns databases db0 … db(DBS−1), made before the hub listens (a
 * pull creates no database, so followers that connect before a writer's first push would be refused).
 * Prints `listening ws://… pid N`, stops on SIGTERM.
 */
import type { Authenticator } from '../src/hub/auth/port.ts';
import { HubServer } from '../src/hub/server.ts';
import { PgHubStore } from '../src/hub/storage/postgres/store.ts';
import { SqliteHubStore } from '../src/hub/storage/sqlite/store.ts';

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
for (let i = 0; i < dbs; i++) await store.open(`db${i}`, { app: 'bench', user: 'bench' });
const hub = await HubServer.start({ store, auth, host: '127.0.0.1', port: 0 });
console.log(`listening ${hub.url} pid ${process.pid}`);
process.once('SIGTERM', () => void hub.stop().then(() => process.exit(0)));
