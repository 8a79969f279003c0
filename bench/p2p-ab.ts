/**
 * Peer-to-peer sync and push of this checkout against another one, interleaved in one run: on a
 * loaded machine only such a comparison (and each side's CPU time) says anything.
 *
 *   node bench/p2p-ab.ts OTHER_CHECKOUT [ROUNDS=3] [ROWS=100000]
 *
 * OTHER_CHECKOUT is another tree of this repository (e.g. `git worktree add /tmp/before <rev>` with a
 * node_modules link); each round runs `measureP2pSync` then `measureP2pPush` (bench/p2p.ts) of the
 * other checkout, then of this one, each with its own code, bench and Node.js flags. Prints one JSON
 * line per measurement, then the medians (an older bench/p2p.ts reports no CPU seconds: shown as -).
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

interface Run {
  tree: string;
  what: 'sync' | 'push';
  changesPerSec: number;
  ms: number;
  serverCpuS?: number;
  clientCpuS?: number;
  serverMaxRssMiB?: number;
  clientMaxRssMiB?: number;
}

const [other, roundsArg = '3', rowsArg = '100000'] = process.argv.slice(2);
if (!other) throw new Error('usage: node bench/p2p-ab.ts OTHER_CHECKOUT [ROUNDS] [ROWS]');
const rounds = Number(roundsArg);
const rows = Number(rowsArg);
const here = resolve(fileURLToPath(new URL('..', import.meta.url)));
const trees = [resolve(other), here];

const runs: Run[] = [];
const failures: string[] = [];
for (let i = 0; i < rounds; i++) {
  for (const tree of trees) {
    const { measureP2pSync, measureP2pPush } = (await import(`${tree}/bench/p2p.ts`)) as typeof import('./p2p.ts');
    const { Scratch } = (await import(`${tree}/bench/util.ts`)) as typeof import('./util.ts');
    const scratch = new Scratch();
    try {
      for (const what of ['sync', 'push'] as const) {
        // A failed run (on a loaded machine a session can break) is reported and left out, not fatal.
        try {
          const r = what === 'sync' ? await measureP2pSync(scratch, rows) : await measureP2pPush(scratch, rows);
          const run: Run = { tree, what, changesPerSec: Math.round(r.changesPerSec), ms: Math.round(r.ms), serverCpuS: r.serverCpuS, clientCpuS: r.clientCpuS, serverMaxRssMiB: r.serverMaxRssMiB, clientMaxRssMiB: r.clientMaxRssMiB };
          runs.push(run);
          process.stdout.write(JSON.stringify(run) + '\n');
        } catch (err) {
          failures.push(`${what} ${tree}: ${(err as Error).message}`);
          process.stdout.write(JSON.stringify({ tree, what, failed: (err as Error).message }) + '\n');
        }
      }
    } finally {
      scratch.cleanup();
    }
  }
}

const median = (xs: number[]): number => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const show = (xs: (number | undefined)[], digits: number): string => (xs.some((x) => x === undefined) ? '-' : median(xs as number[]).toFixed(digits));
for (const what of ['sync', 'push'] as const) {
  for (const tree of trees) {
    const rs = runs.filter((r) => r.tree === tree && r.what === what);
    process.stdout.write(
      `${what} ${tree}: median ${show(rs.map((r) => r.changesPerSec), 0)} changes/s, CPU s serving ${show(rs.map((r) => r.serverCpuS), 2)} / ` +
        `${what === 'sync' ? 'pulling' : 'pushing'} ${show(rs.map((r) => r.clientCpuS), 2)}, peak RSS MiB ${show(rs.map((r) => r.serverMaxRssMiB), 0)} / ${show(rs.map((r) => r.clientMaxRssMiB), 0)} (${rs.length} runs)\n`,
    );
  }
}
for (const f of failures) process.stdout.write(`failed: ${f}\n`);
