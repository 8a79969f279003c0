/**
 * A hub in a child process, for restart and kill -9 tests: `node hub-child.ts DATA_DIR PORT TOKENS_JSON`
 * (tokens: `{"token": "user", …}`, all of app test-app). Prints `listening ws://…` once it listens;
 * SIGTERM/SIGINT stop it gracefully (exit 0).
 */
import { SqliteHubStore } from '../../src/hub/storage/sqlite/store.ts';
import { HubServer } from '../../src/hub/server.ts';
import { TokenAuthenticator } from './hub.ts';

const [dir, port, tokens] = process.argv.slice(2);
const auth = new TokenAuthenticator();
for (const [token, user] of Object.entries(JSON.parse(tokens!) as Record<string, string>)) auth.issue(token, user);
const hub = await HubServer.start({ store: new SqliteHubStore(dir!), auth, host: '127.0.0.1', port: Number(port) });
console.log(`listening ${hub.url}`);
const stop = (): void => void hub.stop().then(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
