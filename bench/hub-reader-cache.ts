/**
 * What a pooled reader's page cache size (`PRAGMA cache_size`) costs a hosted database's reads, on a
 * database of BENCH_ROWS (20,000) rows: CPU per read, cache sizes alternated in rounds (BENCH_ROUNDS,
 * 7), each on a reader engine of its own, for
 * - `full`: a new client's catch-up, everything from version 0;
 * - `newest`: the newest version after the writer committed one (what a session's pull reads; in WAL
 *   mode a reader's cache is dropped whenever another connection committed since its last read);
 * - `again`: the newest version again, nothing committed between (the cache kept).
 * Also RSS after each reader's reads, per reader (one process, so only the order of magnitude).
 *
 *   node --disable-warning=ExperimentalWarning bench/hub-reader-cache.ts
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Engine, openDatabase } from '../src/engine/index.ts';
import { Scratch } from './util.ts';

const ROWS = Number(process.env.BENCH_ROWS ?? 20_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const SIZES = (process.env.BENCH_SIZES ?? '-2000,-256,-128').split(',').map(Number);
const NOBODY = new Uint8Array(16);
const scratch = new Scratch();
const path = join(scratch.dir, 'hosted.db');
const writer = Engine.open(openDatabase(path));
writer.db.exec('CREATE TABLE notes(id INTEGER PRIMARY KEY NOT NULL, body TEXT, tag TEXT)');
writer.asCrr('notes');
const ins = writer.db.prepare('INSERT INTO notes (body, tag) VALUES (?, ?)');
for (let v = 0; v < ROWS / 10; v++) {
  writer.db.exec('BEGIN');
  for (let i = 0; i < 10; i++) ins.run(`body ${v} ${i} ${randomBytes(12).toString('hex')}`, `t${i}`);
  writer.db.exec('COMMIT');
  writer.seal();
}
const pages = (writer.db.prepare('PRAGMA page_count').get() as { page_count: number }).page_count;
const upd = writer.db.prepare('UPDATE notes SET body = ? WHERE id = ?');
const readers = new Map(SIZES.map((s) => {
  const db = openDatabase(path);
  db.exec(`PRAGMA cache_size = ${s}`);
  return [s, Engine.open(db)];
}));
const read = (e: Engine, since: number): number => {
  let n = 0;
  for (const _ of e.changesSince(since, { unsealed: true, exceptSite: NOBODY })) n++;
  return n;
};
const cpu = (f: () => void): number => {
  const t = process.cpuUsage();
  f();
  const d = process.cpuUsage(t);
  return (d.user + d.system) / 1000;
};
const res: Record<string, Record<number, number[]>> = { full: {}, newest: {}, again: {} };
for (let r = 0; r < ROUNDS; r++) {
  for (const [s, e] of readers) {
    (res.full![s] ??= []).push(cpu(() => read(e, 0)));
    let t = 0;
    for (let i = 0; i < 200; i++) {
      upd.run(`changed ${r} ${i}`, 1 + ((r * 200 + i) * 7919) % ROWS);
      const v = writer.seal();
      t += cpu(() => read(e, v - 1));
    }
    (res.newest![s] ??= []).push(t / 200);
    const v = writer.currentDbVersion();
    (res.again![s] ??= []).push(cpu(() => { for (let i = 0; i < 200; i++) read(e, v - 1); }) / 200);
  }
}
const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(`database: ${ROWS} rows, ${pages} pages; CPU per read, median (least) of ${ROUNDS} rounds`);
for (const k of ['full', 'newest', 'again'] as const) {
  console.log(`${k.padEnd(7)} ${SIZES.map((s) => `cache_size ${s}: ${med(res[k]![s]!).toFixed(3)} ms (${Math.min(...res[k]![s]!).toFixed(3)})`).join(', ')}`);
}
for (const e of readers.values()) e.db.close();
writer.db.close();
scratch.cleanup();
