/**
 * The hub's CPU per change on its write path, in one process: a SQLite hosted database, BENCH_W (2)
 * writer sites each pushing single-row batches through the database's sink (group commits of
 * BENCH_K (8) per site), BENCH_F (10) followers on its fan-out (a channel that drops the frames).
 * µs per change over 7 rounds of BENCH_ROUNDS (150), this tree and, with BENCH_BASE=DIR (another
 * worktree), that one, alternating. No sockets and no decoding of pushes: the merge, the group
 * commit, the fan-out's wake and encoding.
 *
 *   BENCH_BASE=/path/to/base-worktree node --disable-warning=ExperimentalWarning bench/hub-merge-ab.ts
 */
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { hostedNotes } from './util.ts';
const here = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');
const roots: [string, string][] = [...(process.env.BENCH_BASE ? [['base', process.env.BENCH_BASE] as [string, string]] : []), ['this', here]];
const K = Number(process.env.BENCH_K ?? 8), W = Number(process.env.BENCH_W ?? 2), F = Number(process.env.BENCH_F ?? 10), ROUNDS = Number(process.env.BENCH_ROUNDS ?? 150);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function setup(root: string) {
  const { store, hosted, gate, fanout, packColumns, dir, stop } = await hostedNotes(root, 'mab-');
  let sent = 0;
  const ch = { send: () => { sent++; return Promise.resolve(); }, close: async () => {}, abort() {}, async *[Symbol.asyncIterator]() {} };
  const v0 = await hosted.feed.version();
  for (let f = 0; f < F; f++) void fanout.send(ch, v0, { exceptSite: randomBytes(16), follow: true, signal: stop.signal });
  const sites = Array.from({ length: W }, (_, i) => ({ siteId: randomBytes(16), peer: 'u', source: `c${i}`, gate, v: 0, i }));
  const round = async () => {
    const ps: Promise<unknown>[] = [];
    for (const s of sites) for (let k = 0; k < K; k++) {
      const v = ++s.v;
      ps.push(hosted.sink.receive({ version: v, complete: true, changes: [{ table: 'notes', pk: packColumns([`${s.i}:${v}`]), cid: 'body', val: `${Date.now().toFixed(3)} ${s.i} ${v}`, colVersion: 1, dbVersion: v, siteId: s.siteId, seq: 0, cl: 1 }] }, s));
    }
    await Promise.all(ps);
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
  };
  return { round, done: async () => { stop.abort(); await sleep(20); await store.close?.(); rmSync(dir, { recursive: true, force: true }); }, sent: () => sent };
}
const envs: Record<string, Awaited<ReturnType<typeof setup>>> = {};
for (const [k, r] of roots) envs[k] = await setup(r);
const res: Record<string, number[]> = {};
for (let rep = 0; rep < 7; rep++) for (const [k] of roots) {
  const e = envs[k]!;
  for (let i = 0; i < 20; i++) await e.round();
  const t = process.cpuUsage();
  for (let i = 0; i < ROUNDS; i++) await e.round();
  const d = process.cpuUsage(t);
  (res[k] ??= []).push((d.user + d.system) / (ROUNDS * K * W));
}
const med = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1]!;
console.log(`K=${K} W=${W} F=${F}:`, Object.entries(res).map(([k, a]) => `${k} ${med(a).toFixed(1)} µs/change (min ${Math.min(...a).toFixed(1)}, max ${Math.max(...a).toFixed(1)})`).join('  →  '));
for (const e of Object.values(envs)) await e.done();
