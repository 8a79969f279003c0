/**
 * The hub's event-loop delay per phase of bench/hub.ts runs: `node bench/hub-loop-report.ts GCFILE
 * LOOPFILE [LABEL]` pairs the n-th run's phases (the `phases` line bench/hub.ts appends to its
 * `BENCH_HUB_GC` file) with the n-th probe line (bench/hub-loop-probe.ts), and prints for each
 * phase the median and the worst of its one-second windows' p99 and max delay (ms), windows wholly
 * inside the phase.
 */
import { readFileSync } from 'node:fs';

const lines = (f: string): any[] => readFileSync(f, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
const runs = lines(process.argv[2]!).filter((l) => l.phases);
// One line per process: a worker thread's probe (threads inherit --import) writes its own first, with the same pid.
const probes = lines(process.argv[3]!).filter((l, i, all) => all[i + 1]?.pid !== l.pid);
const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
runs.forEach((run, i) => {
  const w: [number, number, number, number, number, number][] = probes[i]?.windows ?? [];
  const out: string[] = [];
  for (const p of run.phases as { rate: number; from: number; to: number }[]) {
    const inside = w.filter(([t]) => t - 1000 >= p.from && t <= p.to);
    if (inside.length === 0) continue;
    const p99 = inside.map((x) => x[4]);
    const max = inside.map((x) => x[5]);
    out.push(`${p.rate}/s: p99 ${med(p99).toFixed(1)} (worst ${Math.max(...p99).toFixed(1)}), max ${med(max).toFixed(1)} (worst ${Math.max(...max).toFixed(1)}) ms`);
  }
  console.log(`${process.argv[4] ?? ''} run ${i + 1}: ${out.join('; ')}`);
});
