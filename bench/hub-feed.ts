/**
 * A/B in one run: a follower's read of a database's newest change (what each follower does on each
 * merge at a hub) through the repository feed (a connection and an engine per read) and through the
 * hub's pooled feed (src/hub/storage/sqlite/feed.ts), alternating rounds on the same file.
 *
 *   node --disable-warning=ExperimentalWarning bench/hub-feed.ts
 */
import { join } from 'node:path';
import { Engine, openDatabase } from '../src/engine/index.ts';
import { RepoFeed } from '../src/repo/feed.ts';
import { Staging } from '../src/repo/staging.ts';
import { HostedFeed } from '../src/hub/storage/sqlite/feed.ts';
import { Scratch } from './util.ts';

const READS = Number(process.env.BENCH_READS ?? 2000);
const ROUNDS = 5;
const scratch = new Scratch();
const path = join(scratch.dir, 'hosted.db');
const db = openDatabase(path);
const engine = Engine.open(db);
db.exec('CREATE TABLE notes(id TEXT PRIMARY KEY NOT NULL, body TEXT)');
engine.asCrr('notes');
const ins = db.prepare('INSERT INTO notes VALUES (?, ?)');
// 1,000 versions of 10 rows: a follower reads only the newest
for (let v = 0; v < 1000; v++) {
  for (let i = 0; i < 10; i++) ins.run(`n${v}-${i}`, `body ${v} ${i}`);
  engine.seal();
}
const last = engine.seal();
const staging = () => new Staging(join(scratch.dir, 'staging.db'));
const feeds = { repo: new RepoFeed({ dbPath: path, engine }, staging), pooled: new HostedFeed({ dbPath: path, engine }, staging) };
const request = { exceptSite: new Uint8Array(16) };
const best: Record<string, number> = { repo: Infinity, pooled: Infinity };
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, feed] of Object.entries(feeds)) {
    const t0 = performance.now();
    for (let i = 0; i < READS; i++) for await (const _ of feed.batches(last - 1, request));
    best[name] = Math.min(best[name]!, (performance.now() - t0) / READS);
  }
}
console.log(JSON.stringify({ reads: READS, rounds: ROUNDS, us_per_read: { repo_feed: Math.round(best.repo! * 1000), pooled: Math.round(best.pooled! * 1000) }, speedup: +(best.repo! / best.pooled!).toFixed(1) }));
feeds.repo.stop();
feeds.pooled.stop();
db.close();
scratch.cleanup();
