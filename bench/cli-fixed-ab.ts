/**
 * The fixed cost of a command, A/B: two built packages (bench/cli.ts's buildPackage, or
 * `node bench/cli-fixed-ab.ts --build TREE DIR`), each run as a user starts it (bin/ddcp: sh, then one
 * Node.js), interleaved, on a small repository: `ddcp apply` of an empty file and of 2 changes,
 * `ddcp changes > FILE`, `ddcp status` (standard output a pipe), `node -e 0`. Wall (median, best)
 * and CPU (mean, Linux's children times in 10 ms ticks: many runs) per command, in ms.
 *
 *   node --disable-warning=ExperimentalWarning bench/cli-fixed-ab.ts PKG_A PKG_B [runs=30]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, realpathSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadavg } from 'node:os';
import { buildPackage, childrenCpuMs } from './cli.ts';
import { now, Scratch } from './util.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const NODE = realpathSync(join(ROOT, 'node_modules', '.bin', 'node'));

if (process.argv[2] === '--build') {
  buildPackage(resolve(process.argv[4]!));
  process.exit(0);
}
const [a, b] = [resolve(process.argv[2]!), resolve(process.argv[3]!)];
const runs = Number(process.argv[4] ?? 30);

const scratch = new Scratch();
try {
  const repo = join(scratch.dir, 'repo');
  mkdirSync(repo);
  const ddcp = join(a, 'bin', 'ddcp');
  execFileSync(ddcp, ['init'], { cwd: repo, stdio: 'ignore' });
  execFileSync(ddcp, ['shell'], { cwd: repo, input: "CREATE TABLE notes(id TEXT PRIMARY KEY NOT NULL, body TEXT); SELECT crsql_as_crr('notes'); INSERT INTO notes VALUES ('a', 'b');", stdio: ['pipe', 'ignore', 'inherit'] });
  const empty = join(scratch.dir, 'empty.jsonl');
  writeFileSync(empty, '');
  const small = join(scratch.dir, 'small.jsonl');
  writeFileSync(small, execFileSync(ddcp, ['changes'], { cwd: repo }));
  const out = join(scratch.dir, 'out.jsonl');

  type Variant = { name: string; file: string; args: string[]; stdout: 'file' | 'pipe' | 'null' };
  const cmds = (label: string, pkg: string): Variant[] => [
    { name: `${label} apply empty`, file: join(pkg, 'bin', 'ddcp'), args: ['apply', empty], stdout: 'null' },
    { name: `${label} apply 2`, file: join(pkg, 'bin', 'ddcp'), args: ['apply', small], stdout: 'null' },
    { name: `${label} changes>FILE`, file: join(pkg, 'bin', 'ddcp'), args: ['changes'], stdout: 'file' },
    { name: `${label} status`, file: join(pkg, 'bin', 'ddcp'), args: ['status'], stdout: 'pipe' },
  ];
  const variants: Variant[] = [{ name: 'node -e 0', file: NODE, args: ['-e', '0'], stdout: 'null' }, ...cmds('A', a), ...cmds('B', b)];
  const run = (v: Variant): { wall: number; cpu: number } => {
    const fd = v.stdout === 'file' ? openSync(out, 'w') : v.stdout === 'pipe' ? 'pipe' : 'ignore';
    try {
      const c0 = childrenCpuMs();
      const t0 = now();
      const r = spawnSync(v.file, v.args, { cwd: repo, stdio: ['ignore', fd, 'pipe'] });
      const wall = now() - t0;
      if (r.status !== 0) throw new Error(`${v.name} exited ${r.status}: ${r.stderr}`);
      return { wall, cpu: childrenCpuMs() - c0 };
    } finally {
      if (typeof fd === 'number') closeSync(fd);
    }
  };
  for (let i = 0; i < 3; i++) for (const v of variants) run(v); // compile cache, page cache
  const load0 = loadavg()[0]!;
  const samples = new Map(variants.map((v) => [v.name, { wall: [] as number[], cpu: [] as number[] }]));
  for (let i = 0; i < runs; i++) {
    // alternate which package goes first
    const order = i % 2 === 0 ? variants : [variants[0]!, ...variants.slice(5), ...variants.slice(1, 5)];
    for (const v of order) {
      const t = run(v);
      samples.get(v.name)!.wall.push(t.wall);
      samples.get(v.name)!.cpu.push(t.cpu);
    }
  }
  const f = (x: number): string => x.toFixed(1).padStart(6);
  process.stdout.write(`A = ${a}\nB = ${b}\n${runs} runs, load ${load0.toFixed(1)} → ${loadavg()[0]!.toFixed(1)}\n${'command'.padEnd(22)} wall-median  wall-best  cpu-mean\n`);
  for (const [name, s] of samples) {
    const w = [...s.wall].sort((x, y) => x - y);
    process.stdout.write(`${name.padEnd(22)} ${f(w[Math.floor(w.length / 2)]!)}      ${f(w[0]!)}    ${f(s.cpu.reduce((x, y) => x + y, 0) / s.cpu.length)}\n`);
  }
} finally {
  scratch.cleanup();
}
