/**
 * The p2p initial sync's peak memory and CPU as a package runs it — compiled JavaScript (dist/, as
 * `npm pack` ships it; no type stripping) — beside this clone's TypeScript, rounds interleaved. It
 * builds src/ into a scratch folder (tsconfig.build.json), strips the types of bench/p2p-child.ts and
 * bench/util.ts there with their imports pointed at that build, and runs `measureP2pSync` with each
 * child (bench/p2p.ts, BENCH_P2P_CHILD). Both children run with bin/ddcp's Node.js flags.
 *
 *   node --disable-warning=ExperimentalWarning bench/p2p-package.ts            # 200,000 rows (600,000 changes), 3 rounds
 *   BENCH_P2P_ROWS=100000 BENCH_REPS=5 node … bench/p2p-package.ts
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { stripTypeScriptTypes } from 'node:module';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { measureP2pSync, type P2pSyncResult } from './p2p.ts';
import { Scratch } from './util.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Builds dist/ and a JavaScript p2p child using it under `dir`; returns the child's path. */
export function buildPackageChild(dir: string): string {
  execFileSync(join(ROOT, 'node_modules', '.bin', 'tsc'), ['-p', join(ROOT, 'tsconfig.build.json'), '--outDir', join(dir, 'dist')], { stdio: 'inherit' });
  mkdirSync(join(dir, 'bench'));
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module', private: true }));
  for (const name of ['p2p-child', 'util']) {
    const js = stripTypeScriptTypes(readFileSync(join(ROOT, 'bench', `${name}.ts`), 'utf8'), { mode: 'strip' })
      .replace(/'\.\.\/src\/([^']+)\.ts'/g, "'../dist/$1.js'")
      .replace(/'\.\/([^']+)\.ts'/g, "'./$1.js'");
    writeFileSync(join(dir, 'bench', `${name}.js`), js);
  }
  return join(dir, 'bench', 'p2p-child.js');
}

/**
 * `measureP2pSync` with both children built as the package ships (for `npm run bench`'s p2p table):
 * builds under `scratch`; undefined, with the reason logged, if the build or the sync fails.
 */
export async function measurePackageSync(scratch: Scratch, rows: number, log: (msg: string) => void): Promise<P2pSyncResult | undefined> {
  const before = process.env.BENCH_P2P_CHILD;
  const run = new Scratch(); // the pair's folders are named by size: not the caller's scratch, which may hold that size's pair
  try {
    const dir = join(scratch.dir, 'p2p-package');
    mkdirSync(dir);
    process.env.BENCH_P2P_CHILD = buildPackageChild(dir);
    return await measureP2pSync(run, rows);
  } catch (err) {
    log(`p2p initial sync from the package build failed: ${(err as Error).message}`);
    return undefined;
  } finally {
    run.cleanup();
    if (before === undefined) delete process.env.BENCH_P2P_CHILD;
    else process.env.BENCH_P2P_CHILD = before;
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const rows = Number(process.env.BENCH_P2P_ROWS ?? 200_000);
  const reps = Number(process.env.BENCH_REPS ?? 3);
  const scratch = new Scratch();
  try {
    const pkg = join(scratch.dir, 'package');
    mkdirSync(pkg);
    const children: [string, string][] = [
      ['clone (TypeScript)', ''],
      ['package (dist/ JavaScript)', buildPackageChild(pkg)],
    ];
    const results = new Map<string, P2pSyncResult[]>(children.map(([label]) => [label, []]));
    for (let r = 0; r < reps; r++) {
      for (const [label, child] of children) {
        process.env.BENCH_P2P_CHILD = child;
        const run = new Scratch(); // the pair's folders are named by size: a fresh scratch each run
        let x: P2pSyncResult;
        try {
          x = await measureP2pSync(run, rows);
        } finally {
          run.cleanup();
        }
        results.get(label)!.push(x);
        process.stderr.write(`[p2p-package] ${label}: ${Math.round(x.changesPerSec)} changes/s, CPU ${x.serverCpuS.toFixed(2)} / ${x.clientCpuS.toFixed(2)} s, peak ${x.serverMaxRssMiB.toFixed(0)} / ${x.clientMaxRssMiB.toFixed(0)} MiB (load ${loadavg()[0]!.toFixed(1)})\n`);
      }
    }
    const span = (xs: number[], digits = 0): string => `${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)}`;
    const lines = ['', `## p2p initial sync of ${(rows * 3).toLocaleString('en-US')} changes: clone vs package, ${reps} interleaved rounds (min–max)`, ''];
    lines.push('| children run | changes/s | CPU s, serving / pulling | peak RSS MiB, serving | peak RSS MiB, pulling |');
    lines.push('|---|---:|---:|---:|---:|');
    for (const [label, xs] of results) {
      lines.push(`| ${label} | ${span(xs.map((x) => x.changesPerSec))} | ${span(xs.map((x) => x.serverCpuS), 2)} / ${span(xs.map((x) => x.clientCpuS), 2)} | ${span(xs.map((x) => x.serverMaxRssMiB))} | ${span(xs.map((x) => x.clientMaxRssMiB))} |`);
    }
    lines.push('', `Target (issue 11): either side under 150 MB = 143 MiB. Load average (1 min) at the end: ${loadavg()[0]!.toFixed(1)}.`, '');
    process.stdout.write(lines.join('\n'));
  } finally {
    scratch.cleanup();
  }
}
