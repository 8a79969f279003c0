/**
 * Start-up cost of a quick command: median wall time of `ddcp status` and `ddcp log -n 5`, each
 * started as a user starts it (bin/ddcp: sh, then one Node.js), on a small repository — from this
 * clone (TypeScript, type-stripped) and from a package built like `npm run build` (dist/ JavaScript).
 * `node -e 0` with the same Node.js is the floor no command can go under. Runs are interleaved so
 * drift on a shared machine hits every variant alike; the first runs (compile cache) are not counted.
 *
 *   node --disable-warning=ExperimentalWarning bench/cli.ts                  # 21 runs of each
 *   BENCH_CLI_RUNS=41 BENCH_CLI_DIST=0 node … bench/cli.ts                   # more runs, clone only
 *   BENCH_CLI_COMPARE=/path/to/another/clone node … bench/cli.ts              # that clone's too, interleaved
 *
 * Wall time is what the user waits for but swings with other work on the machine; CPU time (mean
 * per run, from the children's times Linux accounts to this process) hardly does.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, realpathSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadavg } from 'node:os';
import { now, round1, Scratch } from './util.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const NODE = realpathSync(join(ROOT, 'node_modules', '.bin', 'node'));

/** Median and spread of some wall times, and the mean CPU time per run (null off Linux), in ms. */
export interface WallTimes {
  median: number;
  min: number;
  max: number;
  cpu: number | null;
}

export interface CliStartResults {
  runs: number;
  /** `node -e 0`: Node.js's own start-up. */
  node: WallTimes;
  clone: { status: WallTimes; log: WallTimes };
  /** Null when the package was not built (BENCH_CLI_DIST=0). */
  dist: { status: WallTimes; log: WallTimes } | null;
  /** Another clone measured alongside (BENCH_CLI_COMPARE), e.g. an older revision. */
  compare: { root: string; status: WallTimes; log: WallTimes } | null;
  loadAverage: [number, number];
}

function wallTimes(samples: number[], cpu: number[]): WallTimes {
  const s = [...samples].sort((a, b) => a - b);
  const cpuMean = cpu.some((c) => Number.isNaN(c)) ? null : round1(cpu.reduce((a, b) => a + b, 0) / cpu.length);
  return { median: round1(s[Math.floor(s.length / 2)]!), min: round1(s[0]!), max: round1(s[s.length - 1]!), cpu: cpuMean };
}

/**
 * CPU time (ms) of this process's children that have been waited for: Linux's cutime + cstime, in
 * clock ticks (10 ms; summed over many runs the mean is fine). NaN off Linux.
 */
export function childrenCpuMs(): number {
  try {
    const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[13]) + Number(fields[14])) * 10; // fields 16 and 17 of proc(5); USER_HZ is 100
  } catch {
    return NaN;
  }
}

/** Runs a program to its end; its wall and CPU time in ms. Throws if it fails. */
function timed(file: string, args: string[], cwd: string): { wall: number; cpu: number } {
  const c0 = childrenCpuMs();
  const t0 = now();
  const r = spawnSync(file, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  const wall = now() - t0;
  if (r.status !== 0) throw new Error(`${file} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return { wall, cpu: childrenCpuMs() - c0 };
}

/** A repository of one table with `commits` single-row commits, made by the clone's ddcp. */
function makeRepository(dir: string, commits: number): void {
  const ddcp = join(ROOT, 'bin', 'ddcp');
  execFileSync(ddcp, ['init'], { cwd: dir, stdio: 'ignore' });
  let sql = "CREATE TABLE notes(id TEXT PRIMARY KEY NOT NULL, body TEXT); SELECT crsql_as_crr('notes');\n";
  execFileSync(ddcp, ['shell'], { cwd: dir, input: sql, stdio: ['pipe', 'ignore', 'inherit'] });
  for (let i = 0; i < commits; i++) {
    sql = `INSERT INTO notes VALUES ('n${i}', 'note ${i}');\n`;
    execFileSync(ddcp, ['shell'], { cwd: dir, input: sql, stdio: ['pipe', 'ignore', 'inherit'] });
  }
}

/** The package as `npm run build` makes it: dist/ compiled from src/ with the command's bundle, bin/, package.json, and the clone's node_modules. */
export function buildPackage(dir: string): string {
  const tsc = spawnSync(NODE, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', join(dir, 'dist')], { encoding: 'utf8' });
  if (tsc.status !== 0) throw new Error(`building the package failed: ${tsc.stdout}${tsc.stderr}`);
  const bundle = spawnSync(NODE, ['--disable-warning=ExperimentalWarning', join(ROOT, 'scripts', 'build-cli.ts'), join(dir, 'dist', 'cli', 'bundle')], { encoding: 'utf8' });
  if (bundle.status !== 0) throw new Error(`bundling the command failed: ${bundle.stdout}${bundle.stderr}`);
  cpSync(join(ROOT, 'bin'), join(dir, 'bin'), { recursive: true });
  cpSync(join(ROOT, 'package.json'), join(dir, 'package.json'));
  symlinkSync(realpathSync(join(ROOT, 'node_modules')), join(dir, 'node_modules'));
  return dir;
}

export function measureCliStart(scratch: Scratch, runs: number, withDist: boolean, log: (msg: string) => void = () => {}, compare?: string): CliStartResults {
  const repo = join(scratch.dir, 'cli-repo');
  mkdirSync(repo);
  makeRepository(repo, 8);
  let pkg: string | undefined;
  if (withDist) {
    log('building the package (dist/)');
    pkg = buildPackage(join(scratch.dir, 'cli-package'));
  }
  const variants: [string, string, string[]][] = [['node', NODE, ['-e', '0']]];
  for (const [where, root] of [['clone', ROOT], ...(pkg ? [['dist', pkg]] : []), ...(compare ? [['compare', compare]] : [])] as [string, string][]) {
    variants.push([`${where} status`, join(root, 'bin', 'ddcp'), ['status']]);
    variants.push([`${where} log`, join(root, 'bin', 'ddcp'), ['log', '-n', '5']]);
  }
  for (let i = 0; i < 3; i++) for (const [, file, args] of variants) timed(file, args, repo); // fill the compile cache
  const load1 = loadavg()[0]!;
  const samples = new Map(variants.map(([name]) => [name, { wall: [] as number[], cpu: [] as number[] }]));
  for (let i = 0; i < runs; i++) {
    for (const [name, file, args] of variants) {
      const t = timed(file, args, repo);
      samples.get(name)!.wall.push(t.wall);
      samples.get(name)!.cpu.push(t.cpu);
    }
  }
  const of = (name: string): WallTimes => wallTimes(samples.get(name)!.wall, samples.get(name)!.cpu);
  return {
    runs,
    node: of('node'),
    clone: { status: of('clone status'), log: of('clone log') },
    dist: pkg ? { status: of('dist status'), log: of('dist log') } : null,
    compare: compare ? { root: compare, status: of('compare status'), log: of('compare log') } : null,
    loadAverage: [round1(load1), round1(loadavg()[0]!)],
  };
}

/** The Markdown section for the report. */
export function cliStartReport(r: CliStartResults, targetMs = 120): string {
  const fmt = (t: WallTimes): string => `${t.median.toFixed(0)} (${t.min.toFixed(0)}–${t.max.toFixed(0)}; CPU ${t.cpu?.toFixed(0) ?? '?'})`;
  const pass = (t: WallTimes): string => (t.median < targetMs ? 'PASS' : 'MISS');
  const cell = (t: WallTimes | undefined): string => (t ? `${fmt(t)} ${pass(t)}` : '—');
  const lines = ['', `## Quick commands: wall time from start to exit, median of ${r.runs} runs (min–max; mean CPU time), ms`, ''];
  lines.push(`| command | from the clone (TypeScript) | from the package (dist/) |${r.compare ? ` ${r.compare.root} |` : ''}`);
  lines.push(`|---|---:|---:|${r.compare ? '---:|' : ''}`);
  for (const [label, key] of [['`ddcp status`', 'status'], ['`ddcp log -n 5`', 'log']] as const) {
    lines.push(`| ${label} | ${cell(r.clone[key])} | ${cell(r.dist?.[key])} |${r.compare ? ` ${cell(r.compare[key])} |` : ''}`);
  }
  lines.push(`| \`node -e 0\` (Node.js alone, the floor) | ${fmt(r.node)} | |${r.compare ? ' |' : ''}`);
  lines.push('');
  lines.push(
    `Target: < ${targetMs} ms. Each run is bin/ddcp as a user starts it (sh, then one Node.js with ddcp's flags), on a repository with one table and 8 commits; the variants take turns, after 3 uncounted rounds that fill Node's compile cache. Load average (1 min) before / after: ${r.loadAverage[0]} / ${r.loadAverage[1]}.`,
  );
  lines.push('');
  return lines.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const runs = Number(process.env.BENCH_CLI_RUNS ?? 21);
  const scratch = new Scratch();
  try {
    const r = measureCliStart(scratch, runs, process.env.BENCH_CLI_DIST !== '0', (m) => process.stderr.write(`[bench] ${m}\n`), process.env.BENCH_CLI_COMPARE || undefined);
    process.stdout.write(cliStartReport(r));
    process.stdout.write(JSON.stringify(r) + '\n');
  } finally {
    scratch.cleanup();
  }
}
