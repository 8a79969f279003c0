/**
 * `ddcp changes > FILE` of this tree against another tree (e.g. a worktree of main), whole processes
 * as a user starts them, interleaved round by round so a loaded machine hits both alike: each tree's
 * package (built as bench/cli.ts builds it: dist/ and the bundled command), on the bench's 100,000
 * rows of `items` (300,000 changes). Prints wall and CPU (user + system of the child, 10 ms ticks) per
 * round, best and median of each, the library's warm read of the same repository in this process
 * (CPU, best of 3) and checks that both trees wrote the same bytes.
 *
 *   node --disable-warning=ExperimentalWarning bench/changes-ab.ts /work/wt/other-tree [rounds]
 *   BENCH_AB_CLONE=1 …                         # the clones' bin/ddcp (TypeScript in src/) too
 */
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Repository } from '../src/index.ts';
import { fillItemsCrr, makeItems, now, Scratch } from './util.ts';
import { buildPackage, childrenCpuMs } from './cli.ts';

const HERE = fileURLToPath(new URL('..', import.meta.url));
const other = resolve(process.argv[2] ?? '');
const rounds = Number(process.argv[3] ?? 7);
if (!process.argv[2]) throw new Error('usage: bench/changes-ab.ts OTHER_TREE [rounds]');

const scratch = new Scratch();
try {
  const source = join(scratch.dir, 'source');
  const repo = await Repository.init(source);
  fillItemsCrr(repo.engine, makeItems(Number(process.env.BENCH_ROWS ?? 100_000)));
  repo.engine.seal();
  let lib = Infinity;
  for (let i = 0; i < 4; i++) {
    const c0 = process.cpuUsage();
    let n = 0;
    for (const c of repo.engine.changesSince(0)) if (c.cl > 0) n++;
    const c = process.cpuUsage(c0);
    if (i > 0) lib = Math.min(lib, (c.user + c.system) / 1000);
    if (n === 0) throw new Error('no changes');
  }
  repo.close();

  // The other tree's own bench/cli.ts builds its package (its tsc config, its bundler script).
  const { buildPackage: buildOther } = (await import(join(other, 'bench', 'cli.ts'))) as { buildPackage: typeof buildPackage };
  const variants: [string, string][] = [
    ['other', join(buildOther(join(scratch.dir, 'pkg-other')), 'bin', 'ddcp')],
    ['this', join(buildPackage(join(scratch.dir, 'pkg-this')), 'bin', 'ddcp')],
  ];
  if (process.env.BENCH_AB_CLONE === '1') variants.push(['other clone', join(other, 'bin', 'ddcp')], ['this clone', join(HERE, 'bin', 'ddcp')]);
  const samples = new Map(variants.map(([name]) => [name, { wall: [] as number[], cpu: [] as number[] }]));
  const run = (bin: string, out: string): { wall: number; cpu: number } => {
    const fd = openSync(out, 'w');
    try {
      const c0 = childrenCpuMs();
      const t0 = now();
      const r = spawnSync(bin, ['-C', source, 'changes'], { stdio: ['ignore', fd, 'pipe'] });
      const wall = now() - t0;
      if (r.status !== 0) throw new Error(`${bin} failed: ${r.stderr}`);
      return { wall, cpu: childrenCpuMs() - c0 };
    } finally {
      closeSync(fd);
    }
  };
  for (const [, bin] of variants) run(bin, join(scratch.dir, 'warm.jsonl')); // compile cache, page cache
  for (let i = 0; i < rounds; i++) {
    for (const [name, bin] of i % 2 === 0 ? variants : [...variants].reverse()) {
      const t = run(bin, join(scratch.dir, `${name}.jsonl`));
      samples.get(name)!.wall.push(Math.round(t.wall));
      samples.get(name)!.cpu.push(t.cpu);
    }
  }
  const same = readFileSync(join(scratch.dir, 'other.jsonl')).equals(readFileSync(join(scratch.dir, 'this.jsonl')));
  const stat = (xs: number[]): string => {
    const s = [...xs].sort((a, b) => a - b);
    return `best ${s[0]} median ${s[s.length >> 1]}`;
  };
  process.stdout.write(`library read (warm, CPU best of 3): ${lib.toFixed(0)} ms; output identical: ${same}\n`);
  for (const [name, s] of samples) {
    const best = Math.min(...s.cpu);
    process.stdout.write(`${name.padEnd(12)} wall ${stat(s.wall)} [${s.wall.join(' ')}]  cpu ${stat(s.cpu)} [${s.cpu.join(' ')}]  library/cpu ${((100 * lib) / best).toFixed(0)}%\n`);
  }
} finally {
  scratch.cleanup();
}
