/**
 * The SQL one wake of a hosted SQLite database runs: a single-row push merged in its group commit,
 * with a fan-out following (no sockets), every statement run (`run`/`get`/`all`/`iterate`), `exec`
 * and `prepare` on any connection printed in order, after 20 warm-up pushes. Argument: a tree's path
 * (default this one), to compare two.
 *
 *   node --disable-warning=ExperimentalWarning bench/hub-wake-statements.ts [TREE]
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync, StatementSync } from 'node:sqlite';
import { fileURLToPath } from 'node:url';
const root = process.argv[2] ?? fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');
let on = false;
const log: string[] = [];
for (const m of ['run', 'get', 'all', 'iterate'] as const) {
  const orig = (StatementSync.prototype as any)[m];
  (StatementSync.prototype as any)[m] = function (...a: unknown[]) { if (on) log.push(`${m}: ${String(this.sourceSQL).replace(/\s+/g, ' ').slice(0, 160)}`); return orig.apply(this, a); };
}
const oe = DatabaseSync.prototype.exec;
DatabaseSync.prototype.exec = function (sql: string) { if (on) log.push(`exec: ${sql.replace(/\s+/g, ' ').slice(0, 160)}`); return oe.call(this, sql); };
const op = DatabaseSync.prototype.prepare;
DatabaseSync.prototype.prepare = function (sql: string) { if (on) log.push(`PREPARE: ${sql.replace(/\s+/g, ' ').slice(0, 160)}`); return op.call(this, sql); };

const { SqliteHubStore } = await import(`${root}/src/hub/storage/sqlite/store.ts`);
const { Gate } = await import(`${root}/src/sync/gate.ts`);
const { fanoutOf } = await import(`${root}/src/hub/fanout.ts`);
const { packColumns } = await import(`${root}/src/engine/index.ts`);
const dir = mkdtempSync(join(tmpdir(), 'trace-'));
const store = new SqliteHubStore(dir);
const hosted = await store.open('db1', { app: 'a', user: 'u' });
await hosted.declare([{ name: 'notes', pks: ['id'], columns: ['body'] }]);
const gate = new Gate(() => ({ read: 'all', write: 'all' }));
const fanout = fanoutOf(hosted);
const stop = new AbortController();
// One follower on a channel that drops its frames (the fan-out's wake takes the merges' report).
const channel = { send: () => Promise.resolve(), close: async () => {}, abort() {}, async *[Symbol.asyncIterator]() {} };
void fanout.send(channel, await hosted.feed.version(), { exceptSite: randomBytes(16), follow: true, signal: stop.signal });
const sites = [randomBytes(16), randomBytes(16)];
const origins = sites.map((siteId, i) => ({ siteId, peer: 'u', source: `c${i}`, gate, v: 0, i }));
let k = 0;
const turn = () => new Promise((r) => setImmediate(r));
const round = async () => {
  const s = origins[k++ % origins.length]!;
  const v = ++s.v;
  await hosted.sink.receive({ version: v, complete: true, changes: [{ table: 'notes', pk: packColumns([`${s.i}:${v}`]), cid: 'body', val: `x ${s.i} ${v}`, colVersion: 1, dbVersion: v, siteId: s.siteId, seq: 0, cl: 1 }] }, s);
  await turn(); await turn();
};
for (let i = 0; i < 20; i++) await round();
on = true;
await round();
on = false;
console.log(log.join('\n'));
console.log('total', log.length);
process.exit(0);
