/** The hub store conformance suite over the embedded SQLite store (a data folder). */
import { rmSync } from 'node:fs';
import { SqliteHubStore } from '../src/hub/storage/sqlite/store.ts';
import { tempDir } from './support/cli.ts';
import { runHubStoreTests } from './support/hub-store-suite.ts';

runHubStoreTests('sqlite', async () => {
  const dir = tempDir();
  return { open: async () => new SqliteHubStore(dir), cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
});
