/**
 * A hub process on PostgreSQL that dies (kill -9) between a merge's COMMIT and its notification to
 * the other hubs: `node pg-commit-then-die.ts PG_URL SCHEMA DATABASE`. It pushes one new row into
 * DATABASE (a `notes` table, declared already), writes `committed <version>` once the push is
 * acknowledged — after its COMMIT was answered, in the same turn of the event loop, before the
 * notification goes out at that turn's end (announce.ts) — and kills itself at once.
 */
import { writeSync } from 'node:fs';
import { Engine, openDatabase } from '../../src/engine/index.ts';
import { PgHubStore } from '../../src/hub/storage/postgres/store.ts';
import { Gate } from '../../src/sync/gate.ts';

const [url, schema, name] = process.argv.slice(2);
const store = await PgHubStore.open({ url: url!, schema: schema! });
const db = (await store.open(name!))!;
const engine = Engine.open(openDatabase(':memory:'));
engine.db.exec('CREATE TABLE notes (id TEXT PRIMARY KEY NOT NULL, body TEXT)');
engine.asCrr('notes');
engine.db.exec("INSERT INTO notes VALUES ('unannounced', 'committed, never notified')");
const gate = new Gate(() => ({ read: 'all', write: 'all' }));
const got = await db.sink.receive({ changes: [...engine.changesSince(0)], version: engine.dbVersion(), complete: true }, { siteId: engine.siteId, peer: 'alice', source: 'alice', gate });
writeSync(1, `committed ${got?.applied ?? 0}\n`);
process.kill(process.pid, 'SIGKILL');
