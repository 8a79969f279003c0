/**
 * What `ddcp changes` does between start-up and its writes — read every change and build its JSON
 * lines in 1 MiB chunks (taken and recycled, not written) — of this tree against another (e.g. the
 * base of a change), each pass in a fresh process (the command reads once, cold), interleaved, on
 * the bench's 100,000 rows of `items` (300,000 changes). A tree whose engine has `writeChanges`
 * writes the lines straight from the query's rows, as its command does; an older one reads through
 * `eachChange` into the writer's `add`. Prints the CPU ms of passes 1, 2 and 3 of each process and
 * checks that the trees built the same bytes.
 *
 *   node --disable-warning=ExperimentalWarning bench/changes-lines-ab.ts /work/wt/other-tree [pairs]
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Repository } from '../src/index.ts';
import { fillItemsCrr, makeItems, Scratch } from './util.ts';

const HERE = fileURLToPath(new URL('..', import.meta.url));

/** In a child: three passes over `dir` with `tree`'s code; prints their CPU ms and the bytes' digest. */
async function child(tree: string, dir: string): Promise<void> {
  const lib = (await import(join(tree, 'src', 'index.ts'))) as typeof import('../src/index.ts');
  const repo = lib.Repository.open(dir);
  const engine = repo.engine as import('../src/index.ts').Engine & { writeChanges?: unknown };
  const passes: number[] = [];
  let digest = '';
  for (let p = 0; p < 3; p++) {
    const hash = createHash('sha256');
    const lines = new lib.ChangeLineWriter(1 << 20);
    const out = (chunk: Uint8Array): void => {
      if (p === 0) hash.update(chunk);
      lines.recycle(chunk);
    };
    const c0 = process.cpuUsage();
    if (typeof engine.writeChanges === 'function') {
      for (const _ of engine.writeChanges(0, lines)) out(lines.take());
    } else {
      for (const _ of engine.eachChange(0, (c, group) => (lines.add(c, group), lines.full))) out(lines.take());
    }
    if (lines.size > 0) out(lines.take());
    const c = process.cpuUsage(c0);
    passes.push(Math.round((c.user + c.system) / 1000));
    if (p === 0) digest = hash.digest('hex').slice(0, 12);
  }
  repo.close();
  process.stdout.write(`${passes.join(' ')} ${digest}`);
}

if (process.env.LINES_AB_CHILD) await child(process.env.LINES_AB_CHILD, process.argv[2]!);
else {
  if (!process.argv[2]) throw new Error('usage: bench/changes-lines-ab.ts OTHER_TREE [pairs]');
  const trees: [string, string][] = [['other', resolve(process.argv[2])], ['this', HERE]];
  const pairs = Number(process.argv[3] ?? 6);
  const scratch = new Scratch();
  try {
    const source = join(scratch.dir, 'source');
    const repo = await Repository.init(source);
    fillItemsCrr(repo.engine, makeItems(Number(process.env.BENCH_ROWS ?? 100_000)));
    repo.engine.seal();
    repo.close();
    const out = new Map<string, number[][]>(trees.map(([name]) => [name, []]));
    const digests = new Set<string>();
    for (let i = 0; i < pairs; i++) {
      for (const [name, tree] of i % 2 === 0 ? trees : [...trees].reverse()) {
        // The flags bin/ddcp runs the command with.
        const r = spawnSync(process.execPath, ['--disable-warning=ExperimentalWarning', '--max-semi-space-size=16', fileURLToPath(import.meta.url), source], { env: { ...process.env, LINES_AB_CHILD: tree }, encoding: 'utf8' });
        if (r.status !== 0) throw new Error(`${name}: ${r.stderr}`);
        const parts = r.stdout.trim().split(' ');
        digests.add(parts.pop()!);
        out.get(name)!.push(parts.map(Number));
      }
    }
    const stat = (xs: number[]): string => {
      const s = [...xs].sort((a, b) => a - b);
      return `best ${s[0]} median ${s[s.length >> 1]}`;
    };
    process.stdout.write(`same bytes: ${digests.size === 1}\n`);
    for (const [name, runs] of out) {
      process.stdout.write(`${name.padEnd(6)} pass 1 ${stat(runs.map((r) => r[0]!))}, pass 3 ${stat(runs.map((r) => r[2]!))}  ${runs.map((r) => `[${r.join(' ')}]`).join(' ')}\n`);
    }
  } finally {
    scratch.cleanup();
  }
}
