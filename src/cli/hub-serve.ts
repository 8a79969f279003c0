/** `ddcp hub serve`: the sync hub, until SIGINT/SIGTERM. */
import type { Command } from 'commander';
import { existsSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { AdminAccess, DEFAULT_HUB_MAX_CONNECTIONS_PER_ADDRESS, DEFAULT_HUB_PORT, handleAuthRequest, HubServer, lockDataFolder, openAdminStore, openHubAuth, PgHubStore, SqliteHubStore, type AdminStore, type DataFolderLock, type HubStore } from '../hub/index.ts';
import { CliError, ExitCode, outliveStdout } from './exit.ts';
import type { Context } from './context.ts';
import { checkDatabaseUrl, connecting } from './hub-storage.ts';

/** `HOST:PORT`, `:PORT`, `PORT` or `[v6]:PORT` → host and port. */
export function parseListen(text: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*))?:?(\d{1,5})$/.exec(text.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || !(port >= 0 && port <= 65535)) throw new CliError(`bad --listen ${JSON.stringify(text)}: expected HOST:PORT (e.g. 127.0.0.1:${DEFAULT_HUB_PORT} or 0.0.0.0:${DEFAULT_HUB_PORT})`, ExitCode.Usage);
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port };
}

/** `--idle-close SECONDS`: a non-negative number of seconds (fractions allowed) → milliseconds. */
export function parseIdleClose(text: string): number {
  const s = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text.trim()) || !Number.isFinite(s) || s * 1000 > 2 ** 31 - 1) {
    throw new CliError(`bad --idle-close ${JSON.stringify(text)}: expected a number of seconds, 0 or more (e.g. 5 or 0.5)`, ExitCode.Usage);
  }
  return Math.round(s * 1000);
}

/** `--max-connections-per-address N`: a positive whole number of connections. */
export function parseMaxPerAddress(text: string): number {
  const n = Number(text.trim());
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n) || n < 1) {
    throw new CliError(`bad --max-connections-per-address ${JSON.stringify(text)}: expected a whole number of connections, 1 or more`, ExitCode.Usage);
  }
  return n;
}

/** `--max-open N`: a positive whole number of databases. */
export function parseMaxOpen(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n) || n < 1) throw new CliError(`bad --max-open ${JSON.stringify(text)}: expected a whole number of databases, 1 or more`, ExitCode.Usage);
  return n;
}

export function registerServe(hub: Command, ctx: Context): void {
  hub
    .command('serve')
    .description('run the sync hub: databases at ws://HOST:PORT/<db>, their documents as JSON at /v1/docs/<db>, GET /healthz and /metrics')
    .option('--listen <host:port>', `where to listen (default: 127.0.0.1:${DEFAULT_HUB_PORT})`)
    .option('--data <dir>', 'the data folder: embedded SQLite storage, one file per database (default: ./hub)')
    .option('--database-url <url>', 'PostgreSQL instead (postgres://…): all state there, so several hubs can serve one storage')
    .option('--schema <name>', 'with --database-url: the schema of the hub tables (default: ddcp_hub)')
    .option('--idle-close <seconds>', 'close a hosted database this long after its last client or call ended; opened again when used (default: 5)')
    .option('--max-open <n>', 'at most this many hosted databases open at once: one more closes the least recently used idle ones first (default: 1000; exceeded, and counted in /metrics, only if all are in use)')
    .option('--max-frame <bytes>', 'the largest frame a client may send (default: 16 MiB)')
    .option('--max-connections-per-address <n>', `at most this many WebSocket connections open from one client address at once; one more is refused (HTTP 429, too-many-connections) (default: ${DEFAULT_HUB_MAX_CONNECTIONS_PER_ADDRESS}; behind a reverse proxy all clients share its address)`)
    .option('--docs-cache <dir>', "where the JSON document API keeps its per-user replicas, kept across restarts (default: a temporary folder removed at stop)")
    .option('--no-inspector', "don't serve the operator's inspector at /ui")
    .addHelpText('after', `
Clients add a database as a remote (ddcp remote add origin ws://HOST:PORT/notes) and authenticate
with a user token (ddcp hub login ws://HOST:PORT, or DDCP_HUB_TOKEN); a database is created by its
owner's first push (a pull creates nothing), its schema grows by added columns after it. An
app's backend gets tokens for its users from the hub (ddcp hub credentials create). Apps without
the library use documents over JSON at ws://HOST:PORT/v1/docs/<db> with the same tokens. The
operator's inspector is at http://HOST:PORT/ui (log in with a token of ddcp hub admin-token create).
Stops on Ctrl-C or SIGTERM: sessions finish the batch they are merging, clients reconnect later.

Examples:
  ddcp hub serve --data ./hub
  ddcp hub serve --data ./hub --idle-close 30 --max-open 5000
  ddcp hub serve --listen 0.0.0.0:7420 --database-url postgres://127.0.0.1/hub`)
    .action(async (opts: { listen?: string; data?: string; databaseUrl?: string; schema?: string; maxFrame?: string; docsCache?: string; idleClose?: string; maxOpen?: string; maxConnectionsPerAddress?: string; inspector: boolean }) => {
      const stopped = new Promise<void>((resolve_) => {
        process.once('SIGINT', () => resolve_());
        process.once('SIGTERM', () => resolve_());
      });
      if (opts.schema !== undefined && opts.databaseUrl === undefined) throw new CliError('--schema goes with --database-url', ExitCode.Usage);
      if (opts.databaseUrl !== undefined) checkDatabaseUrl(opts.databaseUrl);
      const { host, port } = parseListen(opts.listen ?? `127.0.0.1:${DEFAULT_HUB_PORT}`);
      const maxFrameBytes = opts.maxFrame === undefined ? undefined : Number(opts.maxFrame);
      if (maxFrameBytes !== undefined && !(Number.isSafeInteger(maxFrameBytes) && maxFrameBytes >= 1024)) throw new CliError(`bad --max-frame ${opts.maxFrame}: a number of bytes, at least 1024`, ExitCode.Usage);
      const idleCloseMs = opts.idleClose === undefined ? undefined : parseIdleClose(opts.idleClose);
      const maxOpen = opts.maxOpen === undefined ? undefined : parseMaxOpen(opts.maxOpen);
      const maxConnectionsPerAddress = opts.maxConnectionsPerAddress === undefined ? undefined : parseMaxPerAddress(opts.maxConnectionsPerAddress);
      const leases = { ...(idleCloseMs !== undefined && { idleCloseMs }), ...(maxOpen !== undefined && { maxOpen }) };
      const dataDir = opts.databaseUrl === undefined || opts.data !== undefined ? resolve(ctx.dir(), opts.data ?? 'hub') : undefined;
      const log = (line: string): void => void process.stderr.write(`${new Date().toISOString()} ${line}\n`);
      // One hub per embedded data folder (a second would not hear of the first's merges).
      let lock: DataFolderLock | undefined;
      // A data folder this start makes is removed if the hub does not start: no half-made hub left behind.
      const made = dataDir !== undefined && !existsSync(dataDir);
      const giveUp = (): void => {
        lock?.release(); // a hub that never started holds nothing (a stale pid could later be another process's)
        if (made) rmSync(dataDir!, { recursive: true, force: true });
      };
      if (opts.databaseUrl === undefined) {
        try {
          lock = lockDataFolder(dataDir!);
        } catch (err) {
          throw new CliError(`cannot start the hub: ${(err as Error).message}`, ExitCode.Failure);
        }
      }
      let auth: Awaited<ReturnType<typeof openHubAuth>>;
      try {
        auth = await connecting(opts.databaseUrl, () => openHubAuth(
          { ...(dataDir !== undefined && { dataDir }), ...(opts.databaseUrl !== undefined && { databaseUrl: opts.databaseUrl }), ...(opts.schema !== undefined && { schema: opts.schema }), create: true },
          { log: (e) => log(`auth refused (${e.method}) from ${e.remoteAddress}${e.key ? ` [${e.key}]` : ''}: ${e.reason}`) },
        ));
      } catch (err) {
        giveUp();
        throw err;
      }
      let store: HubStore | undefined;
      let server: HubServer | undefined;
      let admins: AdminStore | undefined;
      try {
        if (opts.inspector) {
          admins = await openAdminStore({ ...(dataDir !== undefined && { dataDir }), ...(opts.databaseUrl !== undefined && { databaseUrl: opts.databaseUrl }), ...(opts.schema !== undefined && { schema: opts.schema }), create: true });
        }
        store = opts.databaseUrl !== undefined ? await PgHubStore.open({ url: opts.databaseUrl, ...(opts.schema !== undefined && { schema: opts.schema }), ...leases }) : new SqliteHubStore(dataDir!, { ...leases, log });
        server = await HubServer.start({
          store,
          auth: auth.auth,
          host,
          port,
          ...(maxFrameBytes !== undefined && { maxFrameBytes }),
          ...(maxConnectionsPerAddress !== undefined && { maxConnectionsPerAddress }),
          ...(opts.docsCache !== undefined && { docs: { dir: resolve(ctx.dir(), opts.docsCache) } }),
          log: (level, message) => log(`${level === 'warn' ? 'warn: ' : ''}${message}`),
          http: (req, res) => handleAuthRequest(auth.auth, req, res),
          ...(admins && { inspector: { admins: new AdminAccess({ store: admins, log: (level, line) => log(`${level === 'warn' ? 'warn: ' : ''}${line}`) }) } }),
        });
      } catch (err) {
        await store?.close();
        await admins?.close();
        await auth.close();
        giveUp();
        throw new CliError(`cannot start the hub: ${(err as Error).message}`, ExitCode.Failure);
      }
      outliveStdout();
      ctx.out(`hub listening on ${server.url}`);
      if (admins) ctx.out(`inspector: ${server.url.replace(/^ws/, 'http')}/ui`);
      ctx.out(`storage: ${opts.databaseUrl !== undefined ? `PostgreSQL (${opts.schema ?? 'ddcp_hub'})` : dataDir}`);
      await stopped;
      log('stopping: finishing in-flight batches');
      await server.stop();
      await admins?.close();
      await auth.close();
      lock?.release();
      log('stopped');
    });
}
