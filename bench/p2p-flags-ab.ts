/**
 * The pulling side's Node.js flags, A/B: a p2p initial sync with each set of flags for the pulling
 * child (BENCH_P2P_PULL_FLAGS of bench/p2p.ts; the serving child keeps bin/ddcp's), rounds
 * interleaved, from the package build (dist/, as bench/p2p-package.ts builds it) or the clone.
 *
 *   node bench/p2p-flags-ab.ts ROUNDS ROWS dist|clone 'FLAGS A' 'FLAGS B' …
 * An environment setting may lead a set: 'MALLOC_ARENA_MAX=2 --max-semi-space-size=16'.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildPackageChild } from './p2p-package.ts';
import { measureP2pSync } from './p2p.ts';
import { Scratch } from './util.ts';

const [roundsArg, rowsArg, variant, ...sets] = process.argv.slice(2);
if (!roundsArg || !rowsArg || (variant !== 'dist' && variant !== 'clone') || sets.length === 0) throw new Error("usage: node bench/p2p-flags-ab.ts ROUNDS ROWS dist|clone 'FLAGS' …");
const work = mkdtempSync(join(tmpdir(), 'p2p-flags-ab-'));
const out: { set: string; rate: number; cpu: [number, number]; rss: [number, number] }[] = [];
try {
  if (variant === 'dist') {
    mkdirSync(join(work, 'pkg'));
    process.env.BENCH_P2P_CHILD = buildPackageChild(join(work, 'pkg'));
  }
  for (let r = 0; r < Number(roundsArg); r++) {
    for (const set of sets) {
      const env = set.split(/\s+/).filter((w) => /^[A-Z_]+=/.test(w));
      const saved = new Map(env.map((e) => [e.split('=')[0]!, process.env[e.split('=')[0]!]]));
      for (const e of env) process.env[e.split('=')[0]!] = e.slice(e.indexOf('=') + 1);
      process.env.BENCH_P2P_PULL_FLAGS = set.split(/\s+/).filter((w) => w && !/^[A-Z_]+=/.test(w)).join(' ');
      const scratch = new Scratch();
      try {
        const x = await measureP2pSync(scratch, Number(rowsArg));
        out.push({ set, rate: x.changesPerSec, cpu: [x.serverCpuS, x.clientCpuS], rss: [x.serverMaxRssMiB, x.clientMaxRssMiB] });
        process.stdout.write(`${JSON.stringify(set)}: ${Math.round(x.changesPerSec)} changes/s, CPU ${x.serverCpuS.toFixed(2)} / ${x.clientCpuS.toFixed(2)} s, peak ${x.serverMaxRssMiB.toFixed(0)} / ${x.clientMaxRssMiB.toFixed(0)} MiB (load ${loadavg()[0]!.toFixed(1)})\n`);
      } catch (err) {
        process.stdout.write(`${JSON.stringify(set)}: failed: ${(err as Error).message}\n`);
      } finally {
        scratch.cleanup();
        for (const [k, v] of saved) if (v === undefined) delete process.env[k]; else process.env[k] = v;
      }
    }
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
const span = (xs: number[], d = 0): string => `${Math.min(...xs).toFixed(d)}–${Math.max(...xs).toFixed(d)}`;
for (const set of sets) {
  const xs = out.filter((x) => x.set === set);
  if (xs.length === 0) continue;
  process.stdout.write(`${JSON.stringify(set)}: ${span(xs.map((x) => x.rate))} changes/s, CPU pulling ${span(xs.map((x) => x.cpu[1]), 2)} s (serving ${span(xs.map((x) => x.cpu[0]), 2)}), peak pulling ${span(xs.map((x) => x.rss[1]))} MiB (serving ${span(xs.map((x) => x.rss[0]))}) (${xs.length} runs)\n`);
}
