/**
 * Per-frame CPU of the sync protocol's messages, as every hub client and the hub pay it: a received
 * batch of one change (a follower's usual frame) and of ten decoded and read, one checked only, a
 * one-change batch encoded (a pushing client's frame), caught-up encoded and decoded. ns per change
 * (median of 9 rounds, min), this tree and, with BENCH_BASE=DIR (another worktree), that one,
 * interleaved in one process.
 *
 *   BENCH_BASE=/path/to/base-worktree node --disable-warning=ExperimentalWarning bench/frame-codec-ab.ts
 */
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
const here = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');
const roots: Record<string, string> = { ...(process.env.BENCH_BASE ? { base: process.env.BENCH_BASE } : {}), this: here };
const mods: Record<string, any> = {};
for (const [k, r] of Object.entries(roots)) mods[k] = { ...(await import(`${r}/src/engine/index.ts`)), ...(await import(`${r}/src/sync/messages.ts`)) };
const site = randomBytes(16);
const mk = (m: any, n: number) => Array.from({ length: n }, (_, j) => ({ table: 'notes', pk: m.packColumns([`17:${1000 + j}`]), cid: 'body', val: `${(Date.now() + j / 7).toFixed(3)} 17 ${1000 + j}`, colVersion: 1, dbVersion: 5000 + j, siteId: site, seq: 0, cl: 1 }));
let sink = 0;
const cases = (m: any): Record<string, [() => void, number]> => {
  const f1 = m.encodeMessage({ type: 'batch', version: 6000, complete: true, changes: mk(m, 1) });
  const f10 = m.encodeMessage({ type: 'batch', version: 6000, complete: true, changes: mk(m, 10) });
  const c1 = mk(m, 1);
  const cu = m.encodeMessage({ type: 'caught-up', version: 123456 });
  return {
    'decode 1 + changes': [() => { sink += m.decodeMessage(f1).changes.length; }, 1],
    'decode 10 + changes (per change)': [() => { sink += m.decodeMessage(f10).changes.length; }, 10],
    'decode 1, scan only': [() => { sink += m.decodeMessage(f1).version; }, 1],
    'encode 1': [() => { sink += m.encodeMessage({ type: 'batch', version: 6000, complete: true, changes: c1 }).length; }, 1],
    'encode caught-up': [() => { sink += m.encodeMessage({ type: 'caught-up', version: 123456 }).length; }, 1],
    'decode caught-up': [() => { sink += m.decodeMessage(cu).version; }, 1],
  };
};
const cs = Object.fromEntries(Object.keys(roots).map((k) => [k, cases(mods[k])])) as Record<string, ReturnType<typeof cases>>;
const res: Record<string, Record<string, number[]>> = {};
const N = 100000;
for (let r = 0; r < 9; r++) for (const name of Object.keys(cs.this!)) for (const k of Object.keys(roots)) {
  const [f, per] = cs[k]![name]!;
  const t = process.cpuUsage(); for (let i = 0; i < N; i++) f(); const d = process.cpuUsage(t);
  ((res[name] ??= {})[k] ??= []).push(((d.user + d.system) * 1000) / N / per);
}
for (const [name, v] of Object.entries(res)) {
  const med = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1]!;
  console.log(name.padEnd(34), Object.entries(v).map(([k, a]) => `${k} ${med(a).toFixed(0)} ns (min ${Math.min(...a).toFixed(0)})`).join('  →  '));
}
