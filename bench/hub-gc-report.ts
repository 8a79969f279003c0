/**
 * The figures of `BENCH_HUB_GC=FILE node bench/hub.ts` runs, per run and write phase:
 * `node bench/hub-gc-report.ts FILE`. Each run appends two lines to FILE, the hub's (bench/hub-gc-probe.ts:
 * GC pauses, old-generation samples) and the driver's (mode, tree, flags, its phases' spans); per
 * phase: GC pauses (count, ms in all, longest, by kind), the hub's CPU µs per change, and the old
 * generation's growth per second (least squares over the 1 s samples in the phase) and across the
 * phase's mark-compacts (what a full collection left, first → last). With the hub's `--trace-gc`
 * output (`BENCH_HUB_NODE_FLAGS=--trace-gc BENCH_HUB_STDOUT=TRACE`, one file per run, given after
 * FILE in the same order), also the bytes the hub allocated on V8's heap per change: between the
 * phase's first and last 1 s heap sample, the heap's growth plus what each collection freed.
 */
import { readFileSync } from 'node:fs';

interface Hub { pid: number; origin: number; pauses: [number, string, number, number][]; samples: [number, number, number, number][] }
interface Run { mode: string; tree: string; flags: string; phases: { rate: number; seconds: number; from: number; to: number; committed: number; hubCpuMs: number }[] }

/** [epoch ms, heap MB before, heap MB after] of each collection in a --trace-gc output. */
const traces = process.argv.slice(3).map((f) =>
  readFileSync(f, 'utf8')
    .split('\n')
    .map((l) => /\s(\d+) ms: (?:Scavenge|Mark-Compact|Minor Mark-Sweep)[^\d]*([\d.]+) \([\d.]+\) -> ([\d.]+)/.exec(l))
    .filter((m) => m !== null)
    .map((m) => [Number(m[1]), Number(m[2]), Number(m[3])] as [number, number, number]),
);
let run = 0;
const lines = readFileSync(process.argv[2]!, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Hub | Run);
const slope = (pts: [number, number][]): number => {
  if (pts.length < 2) return NaN;
  const n = pts.length;
  const mx = pts.reduce((s, p) => s + p[0], 0) / n;
  const my = pts.reduce((s, p) => s + p[1], 0) / n;
  const num = pts.reduce((s, p) => s + (p[0] - mx) * (p[1] - my), 0);
  const den = pts.reduce((s, p) => s + (p[0] - mx) ** 2, 0);
  return num / den;
};
const mb = (b: number): string => (b / 2 ** 20).toFixed(2);
let hub: Hub | undefined;
for (const l of lines) {
  if ('pauses' in l) {
    hub = l;
    continue;
  }
  if (!hub) continue;
  console.log(`# ${l.mode} tree=${l.tree} flags='${l.flags}'`);
  const all = hub.pauses;
  const life = all.reduce((s, p) => s + p[2], 0);
  console.log(`  whole life: ${all.length} pauses, ${life.toFixed(0)} ms, max ${Math.max(0, ...all.map((p) => p[2])).toFixed(1)} ms; old gen at end ${mb(hub.samples.at(-1)?.[1] ?? 0)} MB, rss ${mb(hub.samples.at(-1)?.[3] ?? 0)} MB`);
  for (const ph of l.phases) {
    const ps = all.filter((p) => p[0] >= ph.from && p[0] < ph.to);
    const byKind: Record<string, [number, number, number]> = {};
    for (const p of ps) {
      const k = (byKind[p[1]] ??= [0, 0, 0]);
      k[0]++;
      k[1] += p[2];
      k[2] = Math.max(k[2], p[2]);
    }
    const sm = hub.samples.filter((s) => s[0] >= ph.from && s[0] < ph.to);
    const majors = ps.filter((p) => p[1] === 'major' && p[3] >= 0);
    const secs = (ph.to - ph.from) / 1000;
    const sorted = ps.map((p) => p[2]).sort((a, b) => a - b);
    const tr = traces[run];
    let alloc = NaN;
    if (tr && sm.length >= 2) {
      // Between the phase's first and last heap sample: the heap's growth plus what each collection freed, scaled to the phase.
      const [a, b] = [sm[0]!, sm.at(-1)!];
      let mbs = (b[2] - a[2]) / 2 ** 20;
      for (const [t, before, after] of tr) if (hub.origin + t >= a[0] && hub.origin + t < b[0]) mbs += before - after;
      alloc = (mbs * (ph.to - ph.from)) / (b[0] - a[0]);
    }
    const p99 = sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))] ?? 0;
    console.log(
      `  ${String(ph.rate).padStart(5)}/s ${ph.seconds}s (${secs.toFixed(1)} s to converged, ${ph.committed} changes): hub ${Math.round((ph.hubCpuMs * 1000) / Math.max(1, ph.committed))} µs/change${tr ? `, ${((alloc * 2 ** 20) / 1024 / Math.max(1, ph.committed)).toFixed(1)} KiB allocated/change` : ''}; GC ${ps.length} pauses ${ps.reduce((s, p) => s + p[2], 0).toFixed(0)} ms max ${Math.max(0, ...sorted).toFixed(1)} p99 ${p99.toFixed(1)} [${Object.entries(byKind).map(([k, v]) => `${k} ${v[0]}/${v[1].toFixed(0)}ms/max ${v[2].toFixed(1)}`).join(', ')}]; old gen ${(slope(sm.map((s) => [s[0] / 1000, s[1]])) / 2 ** 20).toFixed(2)} MB/s (samples), after mark-compacts ${majors.map((p) => mb(p[3])).join(' → ') || '–'} MB`,
    );
  }
  hub = undefined;
  run++;
}
