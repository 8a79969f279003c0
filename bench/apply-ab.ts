/**
 * `ddcp apply FILE` A/B: the package (dist/, bundled command) of this tree and of another, each
 * applying the bench's JSON lines into an empty replica, interleaved, wall and CPU time of the whole
 * process (CPU from Linux's children times, 10 ms ticks); beside the library's warm merge of the same
 * changes in this process (best of the rounds), as bench/ddcp.ts measures it.
 *
 *   node --disable-warning=ExperimentalWarning bench/apply-ab.ts /path/to/other/tree [rounds=5]
 *   BENCH_ROWS=100000 (default) · BENCH_APPLY_CLONE=1: run the trees' bin/ddcp (TypeScript) instead
 */
import { spawnSync } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Repository, type Change } from '../src/index.ts';
import { ITEMS_DDL, gc, makeItems, now, Scratch } from './util.ts';
import { buildPackage, childrenCpuMs } from './cli.ts';
import { itemsRepo } from './items-repo.ts';

const HERE = fileURLToPath(new URL('..', import.meta.url));
const other = resolve(process.argv[2] ?? '');
if (!process.argv[2]) throw new Error('usage: apply-ab.ts OTHER_TREE [rounds]');
const rounds = Number(process.argv[3] ?? 5);
const rows = Number(process.env.BENCH_ROWS ?? 100_000);
const clone = process.env.BENCH_APPLY_CLONE === '1';

function run(bin: string, args: string[], out?: string): { wall: number; cpu: number } {
  const fd = out === undefined ? 'ignore' : openSync(out, 'w');
  try {
    const c0 = childrenCpuMs();
    const t0 = now();
    const r = spawnSync(bin, args, { stdio: ['ignore', fd, 'pipe'] });
    const wall = now() - t0;
    if (r.status !== 0) throw new Error(`${bin} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
    return { wall, cpu: childrenCpuMs() - c0 };
  } finally {
    if (typeof fd === 'number') closeSync(fd);
  }
}

const scratch = new Scratch();
try {
  const { buildPackage: buildOther } = (await import(join(other, 'bench', 'cli.ts'))) as { buildPackage: typeof buildPackage };
  const trees: [string, string][] = clone
    ? [
        ['this', HERE],
        ['other', other],
      ]
    : [
        ['this', buildPackage(join(scratch.dir, 'pkg-this'))],
        ['other', buildOther(join(scratch.dir, 'pkg-other'))],
      ];
  const source = join(scratch.dir, 'source');
  await itemsRepo(source, rows);
  const file = join(scratch.dir, 'changes.jsonl');
  run(join(trees[0]![1], 'bin', 'ddcp'), ['-C', source, 'changes'], file);
  for (const [, root] of trees) run(join(root, 'bin', 'ddcp'), ['-C', source, 'status']); // compile cache

  const src = Repository.open(source);
  const changes: Change[] = [...src.engine.changesSince(0)];
  src.close();
  const lib: number[] = [];
  const samples = new Map(trees.map(([name]) => [name, { wall: [] as number[], cpu: [] as number[] }]));
  for (let i = 0; i < rounds; i++) {
    const order = i % 2 === 0 ? trees : [...trees].reverse();
    for (const [name, root] of order) {
      const target = join(scratch.dir, `target-${i}-${name}`);
      await itemsRepo(target, 0);
      const t = run(join(root, 'bin', 'ddcp'), ['-C', target, 'apply', file]);
      samples.get(name)!.wall.push(Math.round(t.wall));
      samples.get(name)!.cpu.push(t.cpu);
    }
    const target = join(scratch.dir, `target-${i}-lib`);
    await itemsRepo(target, 0);
    const repo = Repository.open(target);
    gc();
    const c0 = process.cpuUsage();
    repo.engine.applyChanges(changes);
    const c = process.cpuUsage(c0);
    lib.push(Math.round((c.user + c.system) / 1000));
    repo.close();
  }
  const stats = (xs: number[]): string => {
    const s = [...xs].sort((a, b) => a - b);
    return `best ${s[0]} median ${s[Math.floor(s.length / 2)]} (${xs.join(', ')})`;
  };
  console.log(`${changes.length} changes, ${rounds} rounds, ${clone ? 'clones (bin/ddcp, TypeScript)' : 'packages (dist/)'}; this = ${HERE}, other = ${other}`);
  for (const [name] of trees) {
    const s = samples.get(name)!;
    console.log(`${name.padEnd(5)} wall ${stats(s.wall)}; cpu ${stats(s.cpu)}`);
  }
  console.log(`library warm merge (this process, CPU ms): ${stats(lib)}`);
} finally {
  scratch.cleanup();
}
