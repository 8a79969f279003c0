/**
 * The task manager's web page with a hub, in one command: a hub on 127.0.0.1 (embedded storage in
 * the data folder, real authentication), the page built and served beside it, and a user token
 * minted for `--user` — printed as the page's address (hub and token in its query) and as the
 * terminal instance's command line, so browsers and terminals join one list.
 *
 *   node examples/tasks-web/serve.ts [--data DIR] [--hub-port N] [--page-port N] [--user NAME] [--db NAME]
 *
 * Defaults: ./hub (as `ddcp hub serve`), hub port 7420, page port 7421 (0: a free one), user `me`,
 * database `tasks`. Every client is a device of that one user, so no sharing is needed. The token
 * lives 24 h (the hub's longest); run it again for a fresh one. Stops on Ctrl-C.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_HUB_PORT, handleAuthRequest, HubServer, lockDataFolder, MAX_TOKEN_TTL_MS, openHubAuth, SqliteHubStore, type HubAuthenticator } from '../../src/hub/index.ts';
import { serveStatic } from '../../scripts/serve-static.ts';
import { buildTasksWeb } from './build.ts';

/** The app the example's tokens belong to (one credential, made on first use and kept). */
const APP = 'tasks-web';

/** A user token for `user`, as an app's backend would get one (through the app's credential). */
async function tokenFor(auth: HubAuthenticator, user: string): Promise<string> {
  const existing = (await auth.credentials.list()).find((c) => c.app === APP && c.revokedAt === undefined);
  const key = existing?.key ?? (await auth.credentials.create(APP)).key;
  return (await auth.mintUserToken({ app: APP, key, email: user }, MAX_TOKEN_TTL_MS)).token;
}

const port = (text: string, what: string): number => {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`bad ${what} ${JSON.stringify(text)}: a port number (0 picks a free one)`);
  return n;
};

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      data: { type: 'string', default: 'hub' },
      'hub-port': { type: 'string', default: String(DEFAULT_HUB_PORT) },
      'page-port': { type: 'string', default: String(DEFAULT_HUB_PORT + 1) },
      user: { type: 'string', default: 'me' },
      db: { type: 'string', default: 'tasks' },
    },
  });
  const dataDir = resolve(values.data);
  const lock = lockDataFolder(dataDir);
  const auth = await openHubAuth({ dataDir, create: true });
  const site = mkdtempSync(join(tmpdir(), 'ddcp-tasks-web-'));
  const stops: (() => Promise<unknown> | void)[] = [() => lock.release(), () => auth.close(), () => rmSync(site, { recursive: true, force: true })];
  const stop = async (): Promise<void> => {
    for (const s of stops.reverse()) await s();
  };
  try {
    const hub = await HubServer.start({
      store: new SqliteHubStore(dataDir),
      auth: auth.auth,
      host: '127.0.0.1',
      port: port(values['hub-port'], '--hub-port'),
      http: (req, res) => handleAuthRequest(auth.auth, req, res),
    });
    stops.push(() => hub.stop());
    await buildTasksWeb(site);
    const page = await serveStatic(site, port(values['page-port'], '--page-port'));
    stops.push(() => page.close());
    const db = `${hub.url}/${values.db}`;
    const token = await tokenFor(auth.auth, values.user);
    const query = new URLSearchParams({ hub: db, token });
    process.stdout.write(
      `hub listening on ${hub.url} (data: ${dataDir})\n` +
        `page: ${page.url}/index.html?${query}\n` +
        `terminal: node examples/tasks/main.ts DIR --peer ${db} --token ${token}\n` +
        `token for ${values.user} (24 h): ${token}\n`,
    );
  } catch (err) {
    await stop();
    throw err;
  }
  await new Promise<void>((done) => {
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
  });
  await stop();
}

try {
  await main(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`tasks-web: error: ${(err as Error).message}\n`);
  process.exitCode = 1;
}
