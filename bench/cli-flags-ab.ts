/**
 * Node.js/V8 flags for `ddcp apply FILE` and `ddcp changes > FILE`, A/B/C…: this tree's package (dist/,
 * bundled command) run as `node FLAGS… bin/ddcp.js` — bin/ddcp's own flags first, then the variant's,
 * which override them — on the bench's 300,000 changes, the variants interleaved (order reversed every
 * other round), wall and CPU time of the whole process (CPU from Linux's children times, 10 ms ticks).
 * Each `apply` goes into a fresh empty replica. For young-generation sizes, JIT tiers and the like.
 *
 *   node --disable-warning=ExperimentalWarning bench/cli-flags-ab.ts apply|changes ROUNDS 'FLAGS' ['FLAGS'…]
 *   e.g. … bench/cli-flags-ab.ts apply 30 '' '--min-semi-space-size=16' '--no-maglev'
 *   BENCH_ROWS=100000 (default)
 */
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Repository } from '../src/index.ts';
// @ts-expect-error: plain JS module without types
import { MEMORY_FLAGS } from '../bin/node-flags.js';
import { ITEMS_DDL, makeItems, now, Scratch } from './util.ts';
import { buildPackage, childrenCpuMs } from './cli.ts';
import { itemsRepo } from './items-repo.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const NODE = realpathSync(join(ROOT, 'node_modules', '.bin', 'node'));
const [command, roundsArg, ...variants] = process.argv.slice(2);
if ((command !== 'apply' && command !== 'changes') || variants.length === 0) {
  throw new Error("usage: cli-flags-ab.ts apply|changes ROUNDS 'FLAGS' ['FLAGS'…]");
}
const rounds = Number(roundsArg);
const rows = Number(process.env.BENCH_ROWS ?? 100_000);

/** One process: `node [bin/ddcp's flags] FLAGS pkg/bin/ddcp.js ARGS`, standard output to `out` or nowhere. */
function run(flags: string[], args: string[], out?: string): { wall: number; cpu: number } {
  const fd = out === undefined ? 'ignore' : openSync(out, 'w');
  try {
    const c0 = childrenCpuMs();
    const t0 = now();
    const r = spawnSync(NODE, ['--disable-warning=ExperimentalWarning', ...(MEMORY_FLAGS as string[]), ...flags, join(pkg, 'bin', 'ddcp.js'), ...args], { stdio: ['ignore', fd, 'pipe'] });
    const wall = now() - t0;
    if (r.status !== 0) throw new Error(`ddcp ${args.join(' ')} with ${flags.join(' ')} failed (${r.status}): ${r.stderr}`);
    return { wall, cpu: childrenCpuMs() - c0 };
  } finally {
    if (typeof fd === 'number') closeSync(fd);
  }
}

const scratch = new Scratch();
const pkg = buildPackage(join(scratch.dir, 'pkg'));
try {
  const source = join(scratch.dir, 'source');
  await itemsRepo(source, rows);
  const file = join(scratch.dir, 'changes.jsonl');
  run([], ['-C', source, 'changes'], file);
  run([], ['-C', source, 'status']); // fills the compile cache
  const split = (v: string): string[] => v.split(/\s+/).filter(Boolean);
  const samples = variants.map(() => ({ wall: [] as number[], cpu: [] as number[] }));
  for (let i = 0; i < rounds; i++) {
    const order = variants.map((_, k) => k);
    if (i % 2 === 1) order.reverse();
    for (const k of order) {
      let t;
      if (command === 'apply') {
        const target = join(scratch.dir, `target-${i}-${k}`);
        await itemsRepo(target, 0);
        t = run(split(variants[k]!), ['-C', target, 'apply', file]);
      } else t = run(split(variants[k]!), ['-C', source, 'changes'], join(scratch.dir, 'out.jsonl'));
      samples[k]!.wall.push(Math.round(t.wall));
      samples[k]!.cpu.push(t.cpu);
    }
  }
  const stats = (xs: number[]): string => {
    const s = [...xs].sort((a, b) => a - b);
    return `best ${s[0]} median ${s[Math.floor(s.length / 2)]}`;
  };
  console.log(`ddcp ${command}, ${rows * 3} changes, ${rounds} rounds, package of ${ROOT}; bin/ddcp's flags: ${(MEMORY_FLAGS as string[]).join(' ')}`);
  variants.forEach((v, k) => console.log(`${(v || '(none)').padEnd(40)} wall ${stats(samples[k]!.wall)}; cpu ${stats(samples[k]!.cpu)}`));
} finally {
  scratch.cleanup();
}
