/**
 * What the hub allocates per change on its write path, and its CPU, in one process (the shape of
 * bench/hub-merge-ab.ts, with sessions as the server makes them: each writer's session starts with
 * `dropIncomplete`, so its complete pushes merge straight through the group commit's report): a
 * SQLite hosted database, BENCH_W (2) writer sites pushing single-row batches (BENCH_K (1) per site
 * per round: a group commit of one change per site, as below saturation), BENCH_F (9) followers on
 * its fan-out (channels that drop the frames). Per tree, alternating (this one and BENCH_BASE=DIR),
 * 7 blocks of BENCH_ROUNDS (300) rounds: CPU µs per change, then as many rounds for the bytes
 * allocated on V8's heap per change (V8's sampling heap profiler with collected objects kept, every
 * 4 KiB on average: an estimate, garbage included).
 *
 *   BENCH_BASE=/path/to/base-worktree node --disable-warning=ExperimentalWarning bench/hub-alloc-ab.ts
 */
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hostedNotes } from './util.ts';

const here = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');
const roots: [string, string][] = [...(process.env.BENCH_BASE ? [['base', process.env.BENCH_BASE] as [string, string]] : []), ['this', here]];
const K = Number(process.env.BENCH_K ?? 1);
const W = Number(process.env.BENCH_W ?? 2);
const F = Number(process.env.BENCH_F ?? 9);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 300);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const session = new Session();
session.connect();
const post = <T>(method: string, params?: object): Promise<T> => new Promise((resolve, reject) => session.post(method, params ?? {}, (err, r) => (err ? reject(err) : resolve(r as T))));
interface ProfileNode {
  selfSize: number;
  children: ProfileNode[];
}
const total = (n: ProfileNode): number => n.selfSize + n.children.reduce((s, c) => s + total(c), 0);

async function setup(root: string) {
  const { store, hosted, gate, fanout, packColumns, dir, stop } = await hostedNotes(root, 'hab-');
  const ch = { send: () => Promise.resolve(), close: async () => {}, abort() {}, async *[Symbol.asyncIterator]() {} };
  const v0 = await hosted.feed.version();
  for (let f = 0; f < F; f++) void fanout.send(ch, v0, { exceptSite: randomBytes(16), follow: true, signal: stop.signal });
  const sites = Array.from({ length: W }, (_, i) => ({ siteId: randomBytes(16), peer: 'u', source: `c${i}`, gate, v: 0, i }));
  for (const s of sites) hosted.sink.dropIncomplete(s); // a session's start
  const round = async (): Promise<void> => {
    const ps: Promise<unknown>[] = [];
    for (const s of sites)
      for (let k = 0; k < K; k++) {
        const v = ++s.v;
        ps.push(hosted.sink.receive({ version: v, complete: true, changes: [{ table: 'notes', pk: packColumns([`${s.i}:${v}`]), cid: 'body', val: `${Date.now().toFixed(3)} ${s.i} ${v}`, colVersion: 1, dbVersion: v, siteId: s.siteId, seq: 0, cl: 1 }] }, s));
      }
    await Promise.all(ps);
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
  };
  return {
    round,
    handed: () => fanout.stats.handedOver as number,
    done: async () => {
      stop.abort();
      await sleep(20);
      await store.close?.();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const envs: Record<string, Awaited<ReturnType<typeof setup>>> = {};
for (const [k, r] of roots) envs[k] = await setup(r);
const cpu: Record<string, number[]> = {};
const bytes: Record<string, number[]> = {};
for (let rep = 0; rep < 7; rep++)
  for (const [k] of roots) {
    const e = envs[k]!;
    for (let i = 0; i < 30; i++) await e.round();
    const t = process.cpuUsage();
    for (let i = 0; i < ROUNDS; i++) await e.round();
    const d = process.cpuUsage(t);
    // Then as many rounds again with the heap profiler on (its cost kept out of the CPU figure).
    await post('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
    for (let i = 0; i < ROUNDS; i++) await e.round();
    const { profile } = await post<{ profile: { head: ProfileNode } }>('HeapProfiler.stopSampling');
    (cpu[k] ??= []).push((d.user + d.system) / (ROUNDS * K * W));
    (bytes[k] ??= []).push(total(profile.head) / (ROUNDS * K * W));
    // BENCH_ALLOC_PROFILE=PREFIX: each tree's last sampled profile, PREFIX-<tree>.heapprofile (DevTools opens it)
    if (process.env.BENCH_ALLOC_PROFILE) writeFileSync(`${process.env.BENCH_ALLOC_PROFILE}-${k}.heapprofile`, JSON.stringify(profile));
  }
const med = (a: number[]): number => [...a].sort((x, y) => x - y)[a.length >> 1]!;
for (const [k] of roots) {
  console.log(
    `${k}: CPU µs per change median ${med(cpu[k]!).toFixed(1)} (best ${Math.min(...cpu[k]!).toFixed(1)}; ${cpu[k]!.map((x) => x.toFixed(1)).join(' ')}); ` +
      `bytes allocated per change median ${Math.round(med(bytes[k]!))} (${bytes[k]!.map((x) => Math.round(x)).join(' ')}); wakes handed over ${envs[k]!.handed()}`,
  );
  await envs[k]!.done();
}
