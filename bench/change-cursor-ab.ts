/**
 * The read under `ddcp changes` alone — `Engine.eachChange` of all changes with an empty consumer —
 * of this tree against another (e.g. a worktree of main), each pass in a fresh process (the command
 * reads once, cold), interleaved, on the bench's 100,000 rows of `items` (300,000 changes). Prints
 * the CPU ms of passes 1, 2 and 3 of each process.
 *
 *   node --disable-warning=ExperimentalWarning bench/change-cursor-ab.ts /work/wt/other-tree [pairs]
 */
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Repository } from '../src/index.ts';
import { fillItemsCrr, makeItems, Scratch } from './util.ts';

const HERE = fileURLToPath(new URL('..', import.meta.url));

/** In a child: three passes of eachChange over `dir` with `tree`'s code; prints their CPU ms. */
async function child(tree: string, dir: string): Promise<void> {
  const { Repository: Repo } = (await import(join(tree, 'src', 'index.ts'))) as typeof import('../src/index.ts');
  const repo = Repo.open(dir);
  const passes: number[] = [];
  for (let p = 0; p < 3; p++) {
    const c0 = process.cpuUsage();
    let n = 0;
    for (const _ of repo.engine.eachChange(0, () => (n++, false)));
    const c = process.cpuUsage(c0);
    passes.push(Math.round((c.user + c.system) / 1000));
    if (n === 0) throw new Error('no changes');
  }
  repo.close();
  process.stdout.write(passes.join(' '));
}

if (process.env.CURSOR_AB_CHILD) await child(process.env.CURSOR_AB_CHILD, process.argv[2]!);
else {
  if (!process.argv[2]) throw new Error('usage: bench/change-cursor-ab.ts OTHER_TREE [pairs]');
  const trees: [string, string][] = [['other', resolve(process.argv[2])], ['this', HERE]];
  const pairs = Number(process.argv[3] ?? 6);
  const scratch = new Scratch();
  try {
    const source = join(scratch.dir, 'source');
    const repo = await Repository.init(source);
    fillItemsCrr(repo.engine, makeItems(Number(process.env.BENCH_ROWS ?? 100_000)));
    repo.engine.seal();
    repo.close();
    const out = new Map<string, string[]>(trees.map(([name]) => [name, []]));
    for (let i = 0; i < pairs; i++) {
      for (const [name, tree] of i % 2 === 0 ? trees : [...trees].reverse()) {
        const r = spawnSync(process.execPath, ['--disable-warning=ExperimentalWarning', '--max-semi-space-size=16', fileURLToPath(import.meta.url), source], { env: { ...process.env, CURSOR_AB_CHILD: tree }, encoding: 'utf8' });
        if (r.status !== 0) throw new Error(`${name}: ${r.stderr}`);
        out.get(name)!.push(r.stdout.trim());
      }
    }
    for (const [name, runs] of out) process.stdout.write(`${name.padEnd(6)} CPU ms of passes 1 2 3: ${runs.map((r) => `[${r}]`).join(' ')}\n`);
  } finally {
    scratch.cleanup();
  }
}
