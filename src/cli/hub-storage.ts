/** Where a hub keeps its state, as the `hub` commands take it: `--data DIR | --database-url URL [--schema S]`. */
import { resolve } from 'node:path';
import type { HubAuthStorage } from '../hub/index.ts';
import { DdcpError } from '../index.ts';
import { CliError, ExitCode } from './exit.ts';
import type { Context } from './context.ts';

/** The storage options of a `hub` command. */
export interface StorageOptions {
  data?: string;
  databaseUrl?: string;
  schema?: string;
}

/** The data folder when none is named (the same as `hub serve`'s). */
const DEFAULT_DATA = 'hub';

/** Where the hub keeps its state, from the options (relative to -C). */
export function storageOf(ctx: Context, opts: StorageOptions, create: boolean): HubAuthStorage {
  if (opts.schema !== undefined && opts.databaseUrl === undefined) throw new CliError('--schema goes with --database-url', ExitCode.Usage);
  // As `hub serve`: the data folder is ./hub unless PostgreSQL is given (then only if named, for the master key).
  if (opts.databaseUrl !== undefined) checkDatabaseUrl(opts.databaseUrl);
  const data = opts.databaseUrl === undefined ? (opts.data ?? DEFAULT_DATA) : opts.data;
  return {
    ...(data !== undefined && { dataDir: resolve(ctx.dir(), data) }),
    ...(opts.databaseUrl !== undefined && { databaseUrl: opts.databaseUrl }),
    ...(opts.schema !== undefined && { schema: opts.schema }),
    create,
  };
}

/**
 * `--database-url`, checked before anything connects: not a `postgres://` URL is a usage error (the
 * driver would say only "Invalid URL", or try it as something else). The URL is not echoed: it may
 * hold a password.
 */
export function checkDatabaseUrl(url: string): void {
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    // not a URL at all
  }
  if (!parsed || !/^postgres(?:ql)?:$/.test(parsed.protocol)) {
    throw new CliError('--database-url is not a PostgreSQL URL: expected postgres://[USER@]HOST[:PORT]/DATABASE', ExitCode.Usage);
  }
}

/**
 * Runs `open`, which connects to the PostgreSQL at `url` (if given): the driver's own errors
 * (`connect ECONNREFUSED …`, `database "x" does not exist`) don't say what they were connecting to,
 * so they are named here — host and database, never the password. ddcp's own errors pass unchanged.
 */
export async function connecting<T>(url: string | undefined, open: () => Promise<T>): Promise<T> {
  try {
    return await open();
  } catch (err) {
    if (url === undefined || err instanceof DdcpError) throw err;
    const { host, pathname } = new URL(url);
    throw new CliError(`cannot connect to PostgreSQL at ${host || 'localhost'}${pathname} (--database-url): ${(err as Error).message}`, ExitCode.Failure, { cause: err });
  }
}
