/**
 * The command line's throughput: `ddcp changes > FILE` and `ddcp apply FILE` end to end (process
 * start, JSON lines, hex), each started as a user starts it (bin/ddcp), on the same rows the library
 * figures of this run read and merge — so the two rates can be put side by side. Best of `reps`.
 *
 * From the clone, bin/ddcp runs the TypeScript in src/ (type-stripped, ~100 modules); users run the
 * package, whose dist/cli/bundle loads a few files: given a built package (`pkg`), both are measured,
 * interleaved.
 *
 *   node --disable-warning=ExperimentalWarning bench/cli-rates.ts       # 100,000 rows, best of 3, clone and package
 *   BENCH_CLI_DIST=0 node … bench/cli-rates.ts                           # clone only
 */
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Repository } from '../src/index.ts';
import { ITEMS_DDL, makeItems, now, round1, Scratch, timing, type Item, type Timing } from './util.ts';
import { buildPackage, childrenCpuMs } from './cli.ts';
import { itemsRepo } from './items-repo.ts';

const DDCP = fileURLToPath(new URL('../bin/ddcp', import.meta.url));

/** The same figures for the built package (dist/, bundled command). */
export interface CliRatesOf {
  print: Timing;
  apply: Timing;
  printCpu: number[];
}

export interface CliRates {
  changes: number;
  /** `ddcp changes`, whole process, into a file. */
  print: Timing;
  /** `ddcp apply FILE` into an empty replica, whole process. */
  apply: Timing;
  jsonBytesPerChange: number;
  /**
   * CPU ms (user + system) of each `ddcp changes` process, and of the library reading the same
   * repository's changes in this process (warm, best of `reps`): the ratio a loaded machine distorts
   * less than wall times (CPU times are in 10 ms ticks).
   */
  printCpu: number[];
  libraryReadCpu: number;
  /** From the built package (what users run), when one was given; the fields above are the clone's. */
  dist?: CliRatesOf;
}

/** The library's read of `dir`'s changes, as CPU ms of this process: best of `reps`. */
function libraryReadCpu(dir: string, reps: number): number {
  const repo = Repository.open(dir);
  try {
    let best = Infinity;
    for (let i = 0; i < reps + 1; i++) {
      const c0 = process.cpuUsage();
      let n = 0;
      for (const c of repo.engine.changesSince(0)) if (c.cl > 0) n++; // touch each change, as bench/ddcp.ts does
      const c = process.cpuUsage(c0);
      if (i > 0) best = Math.min(best, (c.user + c.system) / 1000); // the first warms up, as the bench's warm-up run does
      if (n === 0) throw new Error('no changes read');
    }
    return round1(best);
  } finally {
    repo.close();
  }
}

/** Runs bin/ddcp with `args` in `dir`, standard output to `out` (or discarded); throws on failure. */
function ddcp(dir: string, args: string[], out?: string, cpu?: number[], bin = DDCP): number {
  const fd = out === undefined ? 'ignore' : openSync(out, 'w');
  try {
    const c0 = childrenCpuMs();
    const t0 = now();
    const r = spawnSync(bin, ['-C', dir, ...args], { stdio: ['ignore', fd, 'pipe'] });
    const ms = now() - t0;
    cpu?.push(childrenCpuMs() - c0);
    if (r.status !== 0) throw new Error(`ddcp ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
    return ms;
  } finally {
    if (typeof fd === 'number') closeSync(fd);
  }
}

export async function measureCliRates(scratch: Scratch, items: Item[], reps: number, pkg?: string): Promise<CliRates> {
  const source = join(scratch.dir, 'cli-rates-source');
  await itemsRepo(source, items);
  const file = join(scratch.dir, 'cli-rates.jsonl');
  const distBin = pkg === undefined ? undefined : join(pkg, 'bin', 'ddcp');
  ddcp(source, ['status']); // compile cache, page cache
  if (distBin) ddcp(source, ['status'], undefined, undefined, distBin);
  const print: number[] = [];
  const printCpu: number[] = [];
  const dist: CliRatesOf = { print: timing([0]), apply: timing([0]), printCpu: [] };
  const distPrint: number[] = [];
  for (let i = 0; i < reps; i++) {
    print.push(ddcp(source, ['changes'], file, printCpu));
    if (distBin) distPrint.push(ddcp(source, ['changes'], file, dist.printCpu, distBin));
  }
  const libCpu = libraryReadCpu(source, reps);
  const changes = items.length * 3;
  const apply: number[] = [];
  const distApply: number[] = [];
  for (let i = 0; i < reps; i++) {
    for (const [bin, into] of [[DDCP, apply], ...(distBin ? [[distBin, distApply]] : [])] as [string, number[]][]) {
      const target = join(scratch.dir, `cli-rates-target-${i}-${into === apply ? 'clone' : 'dist'}`);
      await itemsRepo(target, []);
      into.push(ddcp(target, ['apply', file], undefined, undefined, bin));
    }
  }
  const r: CliRates = { changes, print: timing(print), apply: timing(apply), jsonBytesPerChange: round1(statSync(file).size / changes), printCpu, libraryReadCpu: libCpu };
  if (distBin) r.dist = { print: timing(distPrint), apply: timing(distApply), printCpu: dist.printCpu };
  return r;
}

/** Markdown beside the library's read and merge rates of the same run (changes/s), if given. */
export function cliRatesReport(r: CliRates, library?: { read: number; merge: number }): string {
  const rate = (t: Timing): number => (r.changes * 1000) / t.best;
  const fmt = (x: number): string => Math.round(x).toLocaleString('en-US');
  const share = (cli: number, lib: number | undefined): string => {
    if (lib === undefined) return '';
    const pct = (100 * cli) / lib;
    return ` | ${fmt(lib)} | ${pct.toFixed(0)}% ${pct >= 60 ? 'PASS' : 'MISS'}`;
  };
  const lines = ['', `## Command line throughput: ${fmt(r.changes)} changes, best of ${r.print.samples.length}`, ''];
  lines.push(library ? '| | ms | changes/s | library, changes/s | CLI ÷ library (target ≥ 60%) |' : '| | ms | changes/s |');
  lines.push(library ? '|---|---:|---:|---:|---:|' : '|---|---:|---:|');
  lines.push(`| \`ddcp changes > FILE\` | ${r.print.best.toFixed(0)} | ${fmt(rate(r.print))}${share(rate(r.print), library?.read)} |`);
  lines.push(`| \`ddcp apply FILE\` (empty replica) | ${r.apply.best.toFixed(0)} | ${fmt(rate(r.apply))}${share(rate(r.apply), library?.merge)} |`);
  if (r.dist) {
    lines.push(`| package (dist/): \`ddcp changes > FILE\` | ${r.dist.print.best.toFixed(0)} | ${fmt(rate(r.dist.print))}${share(rate(r.dist.print), library?.read)} |`);
    lines.push(`| package (dist/): \`ddcp apply FILE\` | ${r.dist.apply.best.toFixed(0)} | ${fmt(rate(r.dist.apply))}${share(rate(r.dist.apply), library?.merge)} |`);
  }
  const cpuLine = (what: string, cpus: number[]): string => {
    const cpu = Math.min(...cpus);
    return `${what} ${cpu.toFixed(0)} ms (best of ${cpus.length}: ${cpus.join(', ')}), **${((100 * r.libraryReadCpu) / cpu).toFixed(0)}%** of the library's rate`;
  };
  lines.push('');
  lines.push(`By CPU time, steadier on a loaded machine, against the library's read of the same repository (${r.libraryReadCpu.toFixed(0)} ms): ${cpuLine('`ddcp changes` from the clone', r.printCpu)}${r.dist ? `; ${cpuLine('from the package', r.dist.printCpu)}` : ''}.`);
  lines.push('');
  lines.push(`Whole processes as a user starts them (bin/ddcp: sh, then Node.js; from the clone it runs the TypeScript in src/, from the package the bundled dist/cli/bundle), JSON lines of ${r.jsonBytesPerChange} bytes per change; the library columns are this run's read and merge rates.`);
  lines.push('');
  return lines.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const rows = Number(process.env.BENCH_ROWS ?? 100_000);
  const scratch = new Scratch();
  try {
    const pkg = process.env.BENCH_CLI_DIST === '0' ? undefined : buildPackage(join(scratch.dir, 'cli-package'));
    const r = await measureCliRates(scratch, makeItems(rows), Number(process.env.BENCH_REPS ?? 3), pkg);
    process.stdout.write(cliRatesReport(r));
    process.stdout.write(JSON.stringify(r) + '\n');
  } finally {
    scratch.cleanup();
  }
}
