/**
 * A/B of the read paths of a long-running process — a full collection before every read, as between
 * a server's reads (and as bench/util.ts's `cpuMsOf` collects) — between another source tree (a
 * worktree of an older commit, with node_modules) and this one, interleaved in one process (order
 * alternating per round), on the bench's 100,000 rows of `items` (300,000 changes), in CPU ms:
 * - `changesSince(0)`, counted (the feed's reads);
 * - `eachChange(0, …)` with an empty consumer;
 * - `writeChanges(0, ChangeLineWriter)` (`ddcp changes`' lines, taken and recycled, not written);
 * - `changesSince(0)` cut by `batchByVersion` and each batch `encodeChanges`d (a feed's frames).
 * Prints least and median of BENCH_REPS (7) per path and tree, and the median of the paired
 * differences (this − other).
 *
 *   node --disable-warning=ExperimentalWarning bench/read-gc-ab.ts /work/wt/other-tree
 */
import { resolve } from 'node:path';
import { cpuMsOf, fillItemsCrr, makeItems, Scratch } from './util.ts';

type Lib = typeof import('../src/index.ts');
type Engine = import('../src/index.ts').Engine;
type Codec = typeof import('../src/sync/codec.ts');
type Batches = typeof import('../src/sync/batches.ts');

const ROWS = Number(process.env.BENCH_ROWS ?? 100_000);
const REPS = Number(process.env.BENCH_REPS ?? 7);
if (!process.argv[2]) throw new Error('usage: bench/read-gc-ab.ts <other tree>');

const scratch = new Scratch();
const items = makeItems(ROWS);
const trees = await Promise.all(
  [
    { label: 'other', root: resolve(process.argv[2]) },
    { label: 'this', root: resolve(import.meta.dirname, '..') },
  ].map(async (t) => {
    const lib = (await import(resolve(t.root, 'src/index.ts'))) as Lib;
    const codec = (await import(resolve(t.root, 'src/sync/codec.ts'))) as Codec;
    const batches = (await import(resolve(t.root, 'src/sync/batches.ts'))) as Batches;
    const engine: Engine = lib.Engine.open(lib.openDatabase(scratch.file(`src-${t.label}`)));
    fillItemsCrr(engine, items);
    engine.seal();
    return { ...t, lib, codec, batches, engine };
  }),
);

type Tree = (typeof trees)[number];
const paths: Record<string, (t: Tree) => number> = {
  changesSince: ({ engine }) => {
    let n = 0;
    for (const c of engine.changesSince(0)) if (c.cl > 0) n++;
    return n;
  },
  eachChange: ({ engine }) => {
    let n = 0;
    for (const _ of engine.eachChange(0, () => (n++, false)));
    return n;
  },
  writeChanges: ({ engine, lib }) => {
    const lines = new lib.ChangeLineWriter(1 << 20);
    let bytes = 0;
    const take = (): void => {
      const chunk = lines.take();
      bytes += chunk.length;
      lines.recycle(chunk);
    };
    for (const _ of engine.writeChanges(0, lines)) take();
    if (lines.size > 0) take();
    return bytes;
  },
  encoded: ({ engine, codec, batches }) => {
    let bytes = 0;
    for (const b of batches.batchByVersion(engine.changesSince(0))) bytes += codec.encodeChanges(b.changes).length;
    return bytes;
  },
};

const samples = new Map<string, number[]>();
const results = new Map<string, number>();
for (let rep = 0; rep < REPS; rep++) {
  for (const t of rep % 2 === 0 ? trees : [...trees].reverse()) {
    for (const [name, read] of Object.entries(paths)) {
      let out = 0;
      const ms = cpuMsOf(() => void (out = read(t)));
      const seen = results.get(name);
      if (seen !== undefined && seen !== out) throw new Error(`${name}: ${t.label} read ${out}, the other ${seen}`);
      results.set(name, out);
      const key = `${name} ${t.label}`;
      samples.set(key, [...(samples.get(key) ?? []), ms]);
    }
  }
}
for (const t of trees) t.engine.db.close();
scratch.cleanup();

const sorted = (xs: number[]): number[] => [...xs].sort((a, b) => a - b);
const median = (xs: number[]): number => sorted(xs)[xs.length >> 1]!;
console.log(`${ROWS} rows, ${REPS} rounds, trees interleaved, a full collection before each read; CPU ms, least / median`);
console.log('| read | other | this | paired median (this − other) |');
console.log('|---|---:|---:|---:|');
for (const name of Object.keys(paths)) {
  const a = samples.get(`${name} other`)!;
  const b = samples.get(`${name} this`)!;
  const fmt = (xs: number[]): string => `${sorted(xs)[0]!.toFixed(1)} / ${median(xs).toFixed(1)}`;
  console.log(`| ${name} | ${fmt(a)} | ${fmt(b)} | ${median(b.map((x, i) => x - a[i]!)).toFixed(1)} |`);
}
