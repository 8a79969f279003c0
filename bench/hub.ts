/**
 * Hub load run on loopback: one hub process (embedded SQLite) and many clients of one database in
 * this process — all following it live, some committing single-row changes — measuring accepted
 * changes/s, fan-out latency to the other clients (commit at a writer → batch read at a reader:
 * median, p99), hub RSS idle and per connected client, wire bytes per change, and that every client
 * converged with nothing lost.
 *
 *   node --disable-warning=ExperimentalWarning bench/hub.ts
 *   BENCH_HUB_CLIENTS=1000 BENCH_HUB_WRITERS=200 BENCH_HUB_SECONDS=10 BENCH_HUB_INTERVAL_MS=20 node … bench/hub.ts
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Engine, openDatabase, type TableInfo } from '../src/engine/index.ts';
import { RepoFeed } from '../src/repo/feed.ts';
import { Staging } from '../src/repo/staging.ts';
import type { Batch } from '../src/sync/batches.ts';
import { runSession, type PullTarget } from '../src/sync/client.ts';
import type { FrameChannel } from '../src/sync/channel.ts';
import type { SiteProof } from '../src/sync/proof.ts';
import { dialWs } from '../src/transport/ws/dial.ts';
import { proofOf } from '../test/support/identity.ts';
import { Scratch } from './util.ts';

/** A reading client's site id and its proof (a real key, as a client database has). */
function readerIdentity(): { siteId: Uint8Array; proof: SiteProof } {
  const siteId = randomBytes(16);
  return { siteId, proof: proofOf(siteId) };
}

const int = (name: string, fallback: number): number => Number(process.env[name] ?? fallback);
const CLIENTS = int('BENCH_HUB_CLIENTS', 1000);
const WRITERS = Math.min(CLIENTS, int('BENCH_HUB_WRITERS', 200));
const SECONDS = int('BENCH_HUB_SECONDS', 10);
const INTERVAL_MS = int('BENCH_HUB_INTERVAL_MS', 20);
const SCHEMA: TableInfo[] = [{ name: 'notes', pks: ['id'], columns: ['body'] }];
const log = (m: string): void => void process.stderr.write(`[bench hub] ${m}\n`);

const rssKiB = (pid: number): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);

/** A reader: counts what arrives, and each change's latency from the commit time in its body. */
class Reader implements PullTarget {
  changes = 0;
  bytes = 0;
  latencies: number[] = [];
  from() {
    return { since: 0, held: [] };
  }
  welcome(): void {}
  batch(b: Batch): void {
    const at = performance.now();
    for (const c of b.changes) {
      this.changes++;
      if (c.cid === 'body' && typeof c.val === 'string') this.latencies.push(at - Number(c.val.split(' ')[0]));
    }
  }
  caughtUp(): void {}
}

/** Counts the bytes of frames read from a channel. */
function counting(channel: FrameChannel, reader: Reader): FrameChannel {
  return {
    send: (f, o) => channel.send(f, o),
    close: (o) => channel.close(o),
    abort: (e) => channel.abort(e),
    async *[Symbol.asyncIterator]() {
      for await (const f of channel) {
        reader.bytes += f.length;
        yield f;
      }
    },
  };
}

interface Writer {
  engine: Engine;
  feed: RepoFeed;
  /** Its claim to its site id (a key of its own). */
  proof: SiteProof;
  committed: number;
  acked: number;
  version: number;
}

function writer(dir: string, i: number): Writer {
  const path = join(dir, `w${i}.db`);
  const db = openDatabase(path);
  const engine = Engine.open(db);
  db.exec('CREATE TABLE notes(id TEXT PRIMARY KEY NOT NULL, body TEXT)');
  engine.asCrr('notes');
  const feed = new RepoFeed({ dbPath: path, engine }, () => new Staging(join(dir, `w${i}.staging.db`)));
  return { engine, feed, proof: proofOf(engine.siteId), committed: 0, acked: 0, version: 0 };
}

const pct = (xs: number[], p: number): number => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

async function main(): Promise<void> {
  const scratch = new Scratch();
  const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', fileURLToPath(new URL('./hub-child.ts', import.meta.url)), join(scratch.dir, 'hub')], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  let url = '';
  let pid = 0;
  for await (const chunk of child.stdout!) {
    out += String(chunk);
    const m = /listening (\S+) pid (\d+)/.exec(out);
    if (m) {
      url = `${m[1]}/bench`;
      pid = Number(m[2]);
      break;
    }
  }
  const stop = new AbortController();
  try {
    const writers = Array.from({ length: WRITERS }, (_, i) => writer(scratch.dir, i));
    // the first push declares the schema
    writers[0]!.engine.db.exec(`INSERT INTO notes VALUES ('seed', '${performance.now()} seed')`);
    await runSession(await dialWs(url, { token: 'bench' }), { siteId: writers[0]!.engine.siteId, proof: writers[0]!.proof, schema: SCHEMA, push: writers[0]!.feed });
    const rssBase = rssKiB(pid);
    log(`hub ${url}: RSS ${Math.round(rssBase / 1024)} MiB before clients; connecting ${CLIENTS} clients (${WRITERS} writing)`);
    const readers: Reader[] = [];
    const sessions: Promise<unknown>[] = [];
    const t0 = performance.now();
    for (let i = 0; i < CLIENTS; i++) {
      const r = new Reader();
      readers.push(r);
      const w = writers[i];
      const channel = counting(await dialWs(url, { token: 'bench' }), r);
      sessions.push(
        runSession(channel, {
          ...(w ? { siteId: w.engine.siteId, proof: w.proof } : readerIdentity()),
          schema: SCHEMA,
          pull: r,
          ...(w ? { push: w.feed, onAck: (v: number) => (w.acked = Math.max(w.acked, v)) } : {}),
          follow: true,
          signal: stop.signal,
        }).catch((err: Error) => log(`client ${i}: ${err.message}`)),
      );
    }
    // wait for everyone to be caught up on the seed
    while (readers.slice(1).some((r) => r.changes < 1)) await sleep(50);
    log(`${CLIENTS} clients connected and caught up in ${Math.round(performance.now() - t0)} ms`);
    await sleep(500);
    const rssConnected = rssKiB(pid);
    for (const r of readers) {
      r.latencies = [];
      r.changes = 0;
      r.bytes = 0;
    }
    // writing: each writer commits one single-row change every INTERVAL_MS, for SECONDS
    const start = performance.now();
    const end = start + SECONDS * 1000;
    let n = 0;
    await Promise.all(
      writers.map(async (w, i) => {
        await sleep(Math.random() * INTERVAL_MS);
        const ins = w.engine.db.prepare('INSERT INTO notes VALUES (?, ?)');
        while (performance.now() < end) {
          ins.run(`w${i}-${n++}`, `${performance.now()} x`);
          w.version = w.engine.seal();
          w.committed++;
          w.feed.check();
          await sleep(INTERVAL_MS);
        }
      }),
    );
    const committed = writers.reduce((s, w) => s + w.committed, 0);
    while (writers.some((w) => w.acked < w.version) && performance.now() < end + 60_000) await sleep(20);
    const acceptedMs = performance.now() - start;
    // converged: every reader has every other writer's changes (one cell each), nothing lost
    const expect = (i: number): number => committed - (writers[i]?.committed ?? 0);
    while (readers.some((r, i) => r.changes < expect(i)) && performance.now() < end + 120_000) await sleep(50);
    const converged = readers.every((r, i) => r.changes === expect(i));
    const lat = readers.flatMap((r) => r.latencies);
    const bytes = readers.reduce((s, r) => s + r.bytes, 0);
    const received = readers.reduce((s, r) => s + r.changes, 0);
    const report = {
      clients: CLIENTS,
      writers: WRITERS,
      committed,
      accepted_per_s: Math.round((committed * 1000) / acceptedMs),
      fanout_ms: { median: +pct(lat, 50).toFixed(1), p99: +pct(lat, 99).toFixed(1), samples: lat.length },
      hub_rss_mib: { idle: +(rssBase / 1024).toFixed(1), connected: +(rssConnected / 1024).toFixed(1) },
      rss_per_client_kib: +((rssConnected - rssBase) / CLIENTS).toFixed(1),
      wire_bytes_per_change: +(bytes / Math.max(1, received)).toFixed(1),
      converged,
      lost: readers.reduce((s, r, i) => s + Math.max(0, expect(i) - r.changes), 0),
    };
    console.log(JSON.stringify(report, null, 2));
    stop.abort();
    await Promise.all(sessions);
    for (const w of writers) w.feed.stop();
  } finally {
    child.kill('SIGTERM');
    scratch.cleanup?.();
  }
}

await main();
