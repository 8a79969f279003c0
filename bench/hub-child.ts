/**
 * The hub under load, in its own process (so its RSS is its own): `node bench/hub-child.ts DIR`
 * serves DIR (embedded SQLite) on 127.0.0.1, every client with bearer token `bench` acting as user
 * `bench` of app `bench`; prints `listening ws://… pid N`, stops on SIGTERM.
 */
import type { Authenticator } from '../src/hub/auth/port.ts';
import { HubServer } from '../src/hub/server.ts';
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
const hub = await HubServer.start({ store: new SqliteHubStore(process.argv[2]!), auth, host: '127.0.0.1', port: 0 });
console.log(`listening ${hub.url} pid ${process.pid}`);
process.once('SIGTERM', () => void hub.stop().then(() => process.exit(0)));
