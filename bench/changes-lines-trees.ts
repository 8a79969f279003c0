/**
 * bench/changes-lines-ab.ts's child — what `ddcp changes` does between start-up and its writes, three
 * passes in a fresh process — for several trees, each run from the tree's own copy of that bench, so
 * a child loads one tree's code only, as the command does (changes-lines-ab's children also load this
 * tree's, statically). Interleaved rounds, order alternating; CPU ms of passes 1, 2, 3, least / median.
 * REPO: a repository to read (e.g. made by changes-lines-ab, or bench/util.ts's 100,000 items, sealed).
 *
 *   node --disable-warning=ExperimentalWarning bench/changes-lines-trees.ts REPO ROUNDS TREE…
 */
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';

const [dir, rounds, ...trees] = process.argv.slice(2);
if (!dir || !rounds || trees.length === 0) throw new Error('usage: bench/changes-lines-trees.ts REPO ROUNDS TREE…');
const out = new Map<string, number[][]>(trees.map((t) => [t, []]));
for (let i = 0; i < Number(rounds); i++) {
  for (const t of i % 2 ? [...trees].reverse() : trees) {
    const args = ['--disable-warning=ExperimentalWarning', '--max-semi-space-size=16', join(resolve(t), 'bench/changes-lines-ab.ts'), dir];
    const r = spawnSync(process.execPath, args, { env: { ...process.env, LINES_AB_CHILD: resolve(t) }, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${t}: ${r.stderr}`);
    out.get(t)!.push(r.stdout.trim().split(' ').slice(0, 3).map(Number));
  }
}
const stat = (xs: number[]): string => {
  const s = [...xs].sort((a, b) => a - b);
  return `${s[0]} / ${s[s.length >> 1]}`;
};
for (const [t, runs] of out) console.log(`${t.padEnd(32)} pass 1 ${stat(runs.map((r) => r[0]!))}, pass 2 ${stat(runs.map((r) => r[1]!))}, pass 3 ${stat(runs.map((r) => r[2]!))}`);
