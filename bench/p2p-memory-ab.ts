/**
 * Peak memory (and CPU) of a p2p initial sync, this checkout against another, from the clone's
 * TypeScript and from each one's package build (dist/), rounds interleaved (bench/p2p-package.ts
 * builds the package children; bench/p2p.ts measures, each tree with its own bench and flags).
 *
 *   node bench/p2p-memory-ab.ts OTHER_CHECKOUT [ROUNDS=3] [ROWS=200000] [VARIANTS=dist,clone]
 *
 * A variant `clone-cold` runs the clone's children without Node's compile cache (a first run: they
 * load the type stripper), where the tree's bench/p2p.ts knows BENCH_P2P_COMPILE_CACHE. Set
 * NODE_COMPILE_CACHE to give an older tree's children the cache as well (they inherit it).
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const [other, roundsArg = '3', rowsArg = '200000', variantsArg = 'dist,clone'] = process.argv.slice(2);
if (!other) throw new Error('usage: node bench/p2p-memory-ab.ts OTHER_CHECKOUT [ROUNDS] [ROWS] [VARIANTS]');
const rounds = Number(rowsArg) > 0 ? Number(roundsArg) : 3;
const rows = Number(rowsArg);
const variants = variantsArg.split(',');
const here = resolve(fileURLToPath(new URL('..', import.meta.url)));
const trees = [resolve(other), here];
const work = mkdtempSync(join(tmpdir(), 'p2p-memory-ab-'));

interface Row {
  label: string;
  changesPerSec: number;
  serverCpuS: number;
  clientCpuS: number;
  serverMaxRssMiB: number;
  clientMaxRssMiB: number;
}
const rowsOut: Row[] = [];
try {
  const children = new Map<string, string>();
  for (const [i, tree] of trees.entries()) {
    if (!variants.includes('dist')) break;
    const { buildPackageChild } = (await import(`${tree}/bench/p2p-package.ts`)) as typeof import('./p2p-package.ts');
    const dir = join(work, `pkg-${i}`);
    mkdirSync(dir);
    children.set(tree, buildPackageChild(dir));
  }
  for (let r = 0; r < rounds; r++) {
    for (const variant of variants) {
      for (const tree of trees) {
        const label = `${tree === here ? 'this' : 'other'} ${variant}`;
        const { measureP2pSync } = (await import(`${tree}/bench/p2p.ts`)) as typeof import('./p2p.ts');
        const { Scratch } = (await import(`${tree}/bench/util.ts`)) as typeof import('./util.ts');
        if (variant === 'dist') process.env.BENCH_P2P_CHILD = children.get(tree)!;
        else delete process.env.BENCH_P2P_CHILD;
        if (variant === 'clone-cold') process.env.BENCH_P2P_COMPILE_CACHE = '0';
        else delete process.env.BENCH_P2P_COMPILE_CACHE;
        const scratch = new Scratch();
        try {
          const x = await measureP2pSync(scratch, rows);
          const row = { label, changesPerSec: Math.round(x.changesPerSec), serverCpuS: x.serverCpuS, clientCpuS: x.clientCpuS, serverMaxRssMiB: Math.round(x.serverMaxRssMiB), clientMaxRssMiB: Math.round(x.clientMaxRssMiB) };
          rowsOut.push(row);
          process.stdout.write(JSON.stringify({ ...row, load: Number(loadavg()[0]!.toFixed(1)) }) + '\n');
        } catch (err) {
          process.stdout.write(JSON.stringify({ label, failed: (err as Error).message }) + '\n');
        } finally {
          scratch.cleanup();
        }
      }
    }
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
const span = (xs: number[], d = 0): string => `${Math.min(...xs).toFixed(d)}–${Math.max(...xs).toFixed(d)}`;
for (const label of [...new Set(rowsOut.map((r) => r.label))]) {
  const xs = rowsOut.filter((r) => r.label === label);
  process.stdout.write(
    `${label}: ${span(xs.map((x) => x.changesPerSec))} changes/s, CPU serving ${span(xs.map((x) => x.serverCpuS), 2)} / pulling ${span(xs.map((x) => x.clientCpuS), 2)} s, ` +
      `peak serving ${span(xs.map((x) => x.serverMaxRssMiB))} / pulling ${span(xs.map((x) => x.clientMaxRssMiB))} MiB (${xs.length} runs)\n`,
  );
}
