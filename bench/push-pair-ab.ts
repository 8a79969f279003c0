/**
 * A/B of a pushing client's commit through a real hub (SQLite store, WebSocket on loopback), in CPU
 * time, between another tree (BENCH_BASE) and this one, in one process: per tree a hub and one
 * following client of that tree; the client commits single-row changes one at a time, each awaited
 * until acknowledged; the process's CPU (hub + client, both in it) per commit, in BENCH_ROUNDS
 * alternating blocks of BENCH_BLOCK (500) commits per tree. With push-batch-caught-up negotiated
 * a commit is one message each way (this tree), else a batch + caught-up and two acks (the base).
 * Prints each tree's per-block µs per commit, medians, and the median of paired (this − base).
 *
 *   BENCH_BASE=/work/wt/push-pair-base node --disable-warning=ExperimentalWarning bench/push-pair-ab.ts
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 8);
const BLOCK = Number(process.env.BENCH_BLOCK ?? 500);
const here = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');
if (!process.env.BENCH_BASE) throw new Error('BENCH_BASE=/path/to/base-worktree is required');
const roots: [string, string][] = [['base', process.env.BENCH_BASE], ['this', here]];

async function setup(label: string, root: string) {
  const { startHub, TokenAuthenticator } = await import(`${root}/test/support/hub.ts`);
  const { MemFeed, NOTES } = await import(`${root}/test/support/mem-feed.ts`);
  const { proofOf } = await import(`${root}/test/support/identity.ts`);
  const { runSession } = await import(`${root}/src/sync/client.ts`);
  const { dialWs } = await import(`${root}/src/transport/ws/dial.ts`);
  const dir = mkdtempSync(join(tmpdir(), 'ppab-'));
  const auth = new TokenAuthenticator();
  auth.issue('t', 'alice');
  const hub = await startHub(dir, auth);
  const writer = new MemFeed(randomBytes(16));
  let acked = 0;
  let waiting: { at: number; resolve: () => void } | undefined;
  const stop = new AbortController();
  // Counts the messages each way (after the handshake's) and the bytes the client sends.
  const count = { sent: 0, read: 0, sentBytes: 0 };
  const ch = await dialWs(`${hub.url}/db`, { token: 't' });
  const counted = {
    send: (f: Uint8Array, o?: unknown) => ((count.sent++, (count.sentBytes += f.length)), ch.send(f, o)),
    close: (o?: unknown) => ch.close(o),
    abort: (e: Error) => ch.abort(e),
    release: (f: Uint8Array) => ch.release?.(f),
    async *[Symbol.asyncIterator]() {
      for await (const f of ch) {
        count.read++;
        yield f;
      }
    },
  };
  const session = runSession(counted, {
    siteId: writer.siteId, proof: proofOf(writer.siteId), schema: NOTES, push: writer, follow: true, signal: stop.signal,
    onAck: (v: number) => {
      acked = Math.max(acked, v);
      if (waiting && acked >= waiting.at) waiting.resolve();
    },
  });
  const commit = (): Promise<void> => {
    const at = writer.commit(`row ${writer.log.length % 1000}`);
    return acked >= at ? Promise.resolve() : new Promise((resolve) => (waiting = { at, resolve }));
  };
  return {
    label, commit,
    count,
    async close() {
      stop.abort();
      await session.catch(() => {});
      await hub.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const trees = [];
for (const [label, root] of roots) trees.push(await setup(label, root));
// Warm-up: JIT, the database created and its statements prepared.
for (const t of trees) for (let i = 0; i < BLOCK; i++) await t.commit();
const per: Record<string, number[]> = { base: [], this: [] };
for (let r = 0; r < ROUNDS; r++) {
  for (const t of r % 2 === 0 ? trees : [...trees].reverse()) {
    const c0 = process.cpuUsage();
    for (let i = 0; i < BLOCK; i++) await t.commit();
    const c = process.cpuUsage(c0);
    per[t.label]!.push((c.user + c.system) / BLOCK);
  }
}
const commits = BLOCK * (ROUNDS + 1);
for (const t of trees) console.log(`${t.label}: per commit ${((t.count.sent - 1) / commits).toFixed(2)} messages sent (${((t.count.sentBytes) / commits).toFixed(1)} payload bytes), ${((t.count.read - 1) / commits).toFixed(2)} read`);
for (const t of trees) await t.close();
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
for (const l of ['base', 'this']) console.log(`${l}: µs per commit ${per[l]!.map((x) => x.toFixed(0)).join(' ')}; median ${median(per[l]!).toFixed(0)}, best ${Math.min(...per[l]!).toFixed(0)}`);
console.log(`median of paired (this − base): ${median(per.this!.map((x, i) => x - per.base![i]!)).toFixed(1)} µs per commit`);
