/**
 * A repository on disk. Like git, ddcp keeps its own state in a `.ddcp` folder beside the data:
 *
 *     <root>/ddcp.db            the database: a plain SQLite file any program can open (or, with
 *                               `init --db`, an app's existing file wherever it lives)
 *     <root>/.ddcp/config.json  format version, the database's path (relative to <root>), remotes
 *     <root>/.ddcp/identity.key the Ed25519 private key (mode 0600); its peer id is the address
 *     <root>/.ddcp/staging.db   changes fetched from remotes, not merged yet
 *
 * Inside the database ddcp keeps its bookkeeping in tables named `ddcp_*` and `<table>__ddcp_*`.
 */
import { isAbsolute, join } from 'node:path';

export const STATE_DIR = '.ddcp';
export const CONFIG_FILE = 'config.json';
export const DEFAULT_DB = 'ddcp.db';
export const IDENTITY_FILE = 'identity.key';
export const STAGING_FILE = 'staging.db';

export interface Layout {
  root: string;
  stateDir: string;
  config: string;
  identity: string;
  staging: string;
}

export function layout(root: string): Layout {
  const stateDir = join(root, STATE_DIR);
  return { root, stateDir, config: join(stateDir, CONFIG_FILE), identity: join(stateDir, IDENTITY_FILE), staging: join(stateDir, STAGING_FILE) };
}

/** The database file of a repository, from the path in its config. */
export function dbPathOf(root: string, db: string): string {
  return isAbsolute(db) ? db : join(root, db);
}
