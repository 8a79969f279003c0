/**
 * A repository on disk. Like git, ddcp keeps its own state in a `.ddcp` folder beside the data:
 *
 *     <root>/ddcp.db            the database: a plain SQLite file any program can open (or, with
 *                               `init --db`, an app's existing file wherever it lives)
 *     <root>/.ddcp/config.json  format version and the database's path (relative to <root>)
 *
 * Inside the database ddcp keeps its bookkeeping in tables named `ddcp_*` and `<table>__ddcp_*`.
 */
import { join } from 'node:path';

export const STATE_DIR = '.ddcp';
export const CONFIG_FILE = 'config.json';
export const DEFAULT_DB = 'ddcp.db';

export interface Layout {
  root: string;
  stateDir: string;
  config: string;
}

export function layout(root: string): Layout {
  const stateDir = join(root, STATE_DIR);
  return { root, stateDir, config: join(stateDir, CONFIG_FILE) };
}
