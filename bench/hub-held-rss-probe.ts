/**
 * Where the memory of a held (open) hosted database goes, embedded SQLite: RSS, JS heap and
 * "external" after each step, each kind of connection measured over BENCH_N (300) databases in a
 * fresh process (made once, before: one table declared, BENCH_ROWS (20) single-row pushes each).
 *
 * - `raw`: bare connections (openDatabase), then the schema loaded, then an Engine on each, then a
 *   feed read on it, then `PRAGMA shrink_memory` (what is page cache), then the engines dropped.
 * - `store`: the hub's store, databases held: after the open (the writer), one read (one pooled
 *   reader), 8 reads at once (8 readers), then `PRAGMA shrink_memory` on every connection.
 *
 * BENCH_CACHE sets `PRAGMA cache_size` on the raw connections (default: SQLite's, -2000).
 *
 *   node --disable-warning=ExperimentalWarning bench/hub-held-rss-probe.ts [ROOT]
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const N = Number(process.env.BENCH_N ?? 300);
const ROWS = Number(process.env.BENCH_ROWS ?? 20);
const CACHE = process.env.BENCH_CACHE;
const NOBODY = new Uint8Array(16);
const name = (i: number): string => `user${String(i).padStart(6, '0')}`;

async function child(mode: string, root: string, dir: string): Promise<void> {
  const { SqliteHubStore } = await import(`${root}/src/hub/storage/sqlite/store.ts`);
  const { Gate } = await import(`${root}/src/sync/gate.ts`);
  const { packColumns, Engine, openDatabase } = await import(`${root}/src/engine/index.ts`);
  const gc = (globalThis as { gc?: () => void }).gc!;
  const mark = (label: string, base?: NodeJS.MemoryUsage): NodeJS.MemoryUsage => {
    gc();
    gc();
    const m = process.memoryUsage();
    if (base) {
      const per = (a: number, b: number): string => (((a - b) / N) / 1024).toFixed(1).padStart(7);
      console.log(`${label.padEnd(44)} per database: RSS ${per(m.rss, base.rss)} KiB, heap ${per(m.heapUsed, base.heapUsed)} KiB, external ${per(m.external, base.external)} KiB`);
    }
    return m;
  };
  if (mode === 'setup') {
    const store = new SqliteHubStore(dir, { idleCloseMs: 60_000 });
    const gate = new Gate(() => ({ read: 'all', write: 'all' }));
    for (let i = 0; i < N; i++) {
      const db = await store.open(name(i), { app: 'a', user: name(i) });
      await db.declare([{ name: 'notes', pks: ['id'], columns: ['body'] }]);
      const origin = { siteId: randomBytes(16), peer: name(i), source: 'c', gate };
      db.sink.dropIncomplete(origin);
      for (let v = 1; v <= ROWS; v++) {
        await db.sink.receive({ version: v, complete: true, changes: [{ table: 'notes', pk: packColumns([BigInt(v)]), cid: 'body', val: `note ${v} of ${name(i)} ${randomBytes(8).toString('hex')}`, colVersion: 1, dbVersion: v, siteId: origin.siteId, seq: 0, cl: 1 }] }, origin);
      }
      db.release();
    }
    await store.close();
    const probe = openDatabase(join(dir, 'databases', `${name(0)}.db`));
    console.log(`a hosted database: ${(probe.prepare('PRAGMA page_count').get() as { page_count: number }).page_count} pages, ${(probe.prepare("SELECT count(*) n FROM sqlite_schema").get() as { n: number }).n} schema objects`);
    probe.close();
    return;
  }
  const path = (i: number): string => join(dir, 'databases', `${name(i)}.db`);
  const start = mark('start');
  if (mode === 'raw') {
    const conns = Array.from({ length: N }, (_, i) => openDatabase(path(i)));
    if (CACHE) for (const c of conns) c.exec(`PRAGMA cache_size = ${CACHE}`);
    mark('connection opened', start);
    for (const c of conns) c.prepare('SELECT 1 FROM sqlite_schema LIMIT 1').get();
    mark('+ schema loaded', start);
    const engines = conns.map((c) => Engine.open(c));
    mark('+ Engine.open', start);
    for (const e of engines) for (const _ of e.changesSince(0, { unsealed: true, exceptSite: NOBODY }));
    mark('+ one feed read', start);
    for (const c of conns) c.exec('PRAGMA shrink_memory');
    mark('+ PRAGMA shrink_memory', start);
    for (const e of engines) for (const _ of e.changesSince(0, { unsealed: true, exceptSite: NOBODY }));
    mark('+ another feed read', start);
    for (const c of conns) c.close();
    mark('closed', start);
    return;
  }
  const store = new SqliteHubStore(dir, { idleCloseMs: 600_000, readerTrimMs: 600_000 });
  const dbs = [];
  for (let i = 0; i < N; i++) dbs.push(await store.open(name(i)));
  mark('held, writer only', start);
  const gate = new Gate(() => ({ read: 'all', write: 'all' }));
  for (const db of dbs) {
    // A client's session: what its site left staged is dropped, then one single-row push.
    const origin = { siteId: randomBytes(16), peer: 'p', source: 'c', gate };
    db.sink.dropIncomplete(origin);
    await db.sink.receive({ version: 1, complete: true, changes: [{ table: 'notes', pk: packColumns([0n]), cid: 'body', val: `pushed ${randomBytes(8).toString('hex')}`, colVersion: 1, dbVersion: 1, siteId: origin.siteId, seq: 0, cl: 1 }] }, origin);
  }
  mark('+ a session and its push', start);
  const read = async (db: { feed: { batches(s: number, r: object): AsyncIterable<unknown> } }): Promise<void> => {
    for await (const _ of db.feed.batches(0, { exceptSite: NOBODY }));
  };
  for (const db of dbs) await read(db);
  mark('+ one read (1 pooled reader)', start);
  for (const db of dbs) await Promise.all(Array.from({ length: 8 }, () => read(db)));
  mark('+ 8 reads at once (8 pooled readers)', start);
  for (const db of dbs) {
    const x = db as unknown as { db: { exec(s: string): void }; feed: { idle: { db: { exec(s: string): void } }[] } };
    x.db.exec('PRAGMA shrink_memory');
    for (const e of x.feed.idle) e.db.exec('PRAGMA shrink_memory');
  }
  mark('+ PRAGMA shrink_memory on all', start);
  for (const db of dbs) db.release();
  await store.close();
  mark('closed', start);
}

if (process.argv[2] === 'setup' || process.argv[2] === 'raw' || process.argv[2] === 'store') {
  await child(process.argv[2], process.argv[3]!, process.argv[4]!);
} else {
  const here = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');
  const root = process.argv[2] ?? here;
  const dir = mkdtempSync(join(tmpdir(), 'hub-held-rss-'));
  const run = (mode: string): void => {
    console.log(`-- ${mode}`);
    process.stdout.write(execFileSync(process.execPath, ['--expose-gc', '--disable-warning=ExperimentalWarning', fileURLToPath(import.meta.url), mode, root, dir], { encoding: 'utf8', maxBuffer: 1 << 24 }));
  };
  try {
    run('setup');
    run('raw');
    run('store');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
