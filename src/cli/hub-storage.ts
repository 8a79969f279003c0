/** Where a hub keeps its state, as the `hub` commands take it: `--data DIR | --database-url URL [--schema S]`. */
import { resolve } from 'node:path';
import type { HubAuthStorage } from '../hub/index.ts';
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
  const data = opts.databaseUrl === undefined ? (opts.data ?? DEFAULT_DATA) : opts.data;
  return {
    ...(data !== undefined && { dataDir: resolve(ctx.dir(), data) }),
    ...(opts.databaseUrl !== undefined && { databaseUrl: opts.databaseUrl }),
    ...(opts.schema !== undefined && { schema: opts.schema }),
    create,
  };
}
