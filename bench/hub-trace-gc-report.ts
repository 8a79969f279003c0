/**
 * Do the slowest traced deliveries of a bench/hub.ts run wait for a GC pause? `node bench/hub-trace-gc-report.ts
 * TRACEDUMP GCFILE` reads the raw traces (`BENCH_HUB_TRACE=1 BENCH_HUB_TRACE_DUMP=TRACEDUMP`) and every process's
 * GC pauses (`BENCH_HUB_GC=GCFILE BENCH_HUB_CLIENT_GC=1`), on the same epoch clock, and prints per process its
 * pauses inside the traced window and the share of the slowest 2 % of deliveries (commit → decoded at one
 * follower) whose interval spans one of its pauses of ≥ 5 ms, beside the same share of the fastest half.
 */
import { readFileSync } from 'node:fs';
import type { Trace } from './hub-trace.ts';

const lines = (f: string): any[] => readFileSync(f, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
const merged: Trace = {};
for (const t of lines(process.argv[2]!) as Trace[]) for (const [stage, m] of Object.entries(t)) for (const [k, ts] of Object.entries(m)) ((merged[stage] ??= {})[k] ??= []).push(...ts);
/** [latency, commit, decoded] (ms) per delivery */
const all: [number, number, number][] = [];
for (const [k, ts] of Object.entries(merged.commit ?? {})) {
  const c = Math.min(...ts);
  for (const d of merged.decoded?.[k] ?? []) all.push([d - c, c, d]);
}
all.sort((a, b) => a[0] - b[0]);
if (all.length === 0) throw new Error('no traced deliveries');
const n = all.length;
console.log(`deliveries ${n}: median ${all[n >> 1]![0].toFixed(1)} ms, p99 ${all[Math.floor(n * 0.99)]![0].toFixed(1)} ms`);
const from = Math.min(...all.map((x) => x[1]));
const to = Math.max(...all.map((x) => x[2]));
const slow = all.slice(Math.floor(n * 0.98));
const fast = all.slice(0, n >> 1);
for (const p of lines(process.argv[3]!).filter((l) => l.pauses)) {
  const pauses = (p.pauses as [number, string, number, number][]).map(([at, , ms]) => [at, at + ms, ms] as const);
  const inside = pauses.filter(([a]) => a >= from && a <= to);
  const spans = (x: [number, number, number]): boolean => pauses.some(([a, b, ms]) => ms >= 5 && a < x[2] && b > x[1]);
  const share = (xs: [number, number, number][]): string => (xs.filter(spans).length / xs.length).toFixed(2);
  console.log(`pid ${p.pid}: ${inside.length} pauses in the traced window (${inside.reduce((s, x) => s + x[2], 0).toFixed(0)} ms, longest ${Math.max(0, ...inside.map((x) => x[2])).toFixed(1)}); spanning one ≥ 5 ms: slowest 2 % ${share(slow)}, fastest half ${share(fast)}`);
}
