/**
 * Where a `ddcp apply` process's time goes, term by term, beside the library's merge as
 * bench/ddcp.ts measures it (the CLI-rates denominator): each term in fresh processes of the built
 * package, interleaved, so every figure is a cold, first-and-only pass, as the command makes it.
 *
 *   S  start-up and the rest of a command: `ddcp apply` of an empty file (whole process, wall)
 *   R  reading the JSON lines alone: the package's `fileChanges` over the file, counting changes
 *   M  the merge alone: the same changes read first, then the repository opened, `gate.admit` of the
 *      array and the close, as the command does
 *   Mraw the merge alone as the library's figure times it (`applyChanges` and a passive checkpoint on
 *      an Engine opened before), but cold
 *   RM reading and merging as the command does (changes pulled from the reader by the merge)
 *   CLI `ddcp apply FILE` (whole process, wall and CPU)
 *   lib the library's merge in this process: Engine on a fresh database, `applyChanges` of the
 *       changes read from the source, then a passive checkpoint (wall, warm, as bench/ddcp.ts)
 *
 * Then the arithmetic: CLI ≈ S + RM; the CLI reaches 60% of the library's rate when CLI ≤ lib / 0.6.
 *
 *   node --disable-warning=ExperimentalWarning --expose-gc bench/apply-floor.ts [rounds=5]
 *   BENCH_ROWS=100000 (default: 300,000 changes)
 */
import { spawnSync } from 'node:child_process';
import { closeSync, cpSync, openSync, realpathSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Engine } from '../src/engine/index.ts';
import { openDatabase } from '../src/engine/sqlite.ts';
import { Repository, type Change } from '../src/index.ts';
import { ITEMS_DDL, gc, makeItems, now, Scratch } from './util.ts';
import { buildPackage, childrenCpuMs } from './cli.ts';
import { itemsRepo } from './items-repo.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const NODE = realpathSync(join(ROOT, 'node_modules', '.bin', 'node'));
const rounds = Number(process.argv[2] ?? 5);
const rows = Number(process.env.BENCH_ROWS ?? 100_000);

/**
 * A child's phase, timed inside it (wall ms printed): `read`, `merge`, `raw` or `stream` (see the
 * header). Runs the package's dist/ modules, the JavaScript the bundled command is made of.
 */
function phaseScript(pkg: string, phase: string, file: string, target: string): string {
  const dist = (f: string): string => JSON.stringify(pathToFileURL(join(pkg, 'dist', f)).href);
  return `
import { Repository, fileChanges } from ${dist('index.js')};
import { Engine } from ${dist('engine/index.js')};
import { openDatabase } from ${dist('engine/sqlite.js')};
const file = ${JSON.stringify(file)}, target = ${JSON.stringify(target)}, phase = ${JSON.stringify(phase)};
const changes = phase === 'merge' || phase === 'raw' ? [...fileChanges(file)] : undefined;
let db, engine;
if (phase === 'raw') {
  db = openDatabase(target + '/raw.db');
  db.exec(${JSON.stringify(ITEMS_DDL)});
  engine = Engine.open(db);
  engine.asCrr('items');
}
globalThis.gc();
const t0 = performance.now();
if (phase === 'read') {
  let n = 0;
  for (const c of fileChanges(file)) if (c.cl > 0) n++;
  if (n === 0) throw new Error('nothing read');
} else if (phase === 'raw') {
  engine.applyChanges(changes);
  db.exec('PRAGMA wal_checkpoint(PASSIVE)');
} else {
  const repo = Repository.open(target);
  const r = repo.gate.admit(repo.engine, changes ?? fileChanges(file), { source: 'apply (probe)' });
  repo.close();
  if (r.applied === 0) throw new Error('nothing merged');
}
process.stdout.write((performance.now() - t0).toFixed(1));
db?.close();
`;
}

function spawnTimed(bin: string, args: string[], input?: string): { wall: number; cpu: number; out: string } {
  const c0 = childrenCpuMs();
  const t0 = now();
  const r = spawnSync(bin, args, { encoding: 'utf8', ...(input !== undefined ? { input } : { stdio: ['ignore', 'pipe', 'pipe'] }) });
  const wall = now() - t0;
  if (r.status !== 0) throw new Error(`${bin} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return { wall, cpu: childrenCpuMs() - c0, out: r.stdout };
}

const scratch = new Scratch();
try {
  const pkg = buildPackage(join(scratch.dir, 'pkg'));
  const ddcp = join(pkg, 'bin', 'ddcp');
  const source = join(scratch.dir, 'source');
  await itemsRepo(source, rows);
  const empty = join(scratch.dir, 'empty');
  await itemsRepo(empty, 0);
  const file = join(scratch.dir, 'changes.jsonl');
  const none = join(scratch.dir, 'none.jsonl');
  closeSync(openSync(none, 'w'));
  const fd = openSync(file, 'w');
  const w = spawnSync(ddcp, ['-C', source, 'changes'], { stdio: ['ignore', fd, 'pipe'] });
  closeSync(fd);
  if (w.status !== 0) throw new Error(`ddcp changes failed: ${w.stderr}`);
  spawnTimed(ddcp, ['-C', source, 'status']); // the compile cache

  const src = Repository.open(source);
  const changes: Change[] = [...src.engine.changesSince(0)];
  src.close();

  const terms = ['node', 'S', 'R', 'M', 'Mraw', 'RM', 'CLI', 'CLI cpu', 'lib'] as const;
  const samples = new Map<string, number[]>(terms.map((t) => [t, []]));
  const add = (t: (typeof terms)[number], x: number): void => void samples.get(t)!.push(Math.round(x));
  const target = join(scratch.dir, 'target');
  const fresh = (): void => {
    rmSync(target, { recursive: true, force: true });
    cpSync(empty, target, { recursive: true });
  };
  const phase = (name: 'read' | 'merge' | 'raw' | 'stream'): number => {
    fresh();
    const r = spawnTimed(NODE, ['--disable-warning=ExperimentalWarning', '--max-semi-space-size=16', '--expose-gc', '--input-type=module', '-'], phaseScript(pkg, name, file, target));
    return Number(r.out);
  };
  for (let i = 0; i < rounds; i++) {
    add('node', spawnTimed(NODE, ['-e', '0']).wall);
    fresh();
    add('S', spawnTimed(ddcp, ['-C', target, 'apply', none]).wall);
    add('R', phase('read'));
    add('M', phase('merge'));
    add('Mraw', phase('raw'));
    add('RM', phase('stream'));
    fresh();
    const cli = spawnTimed(ddcp, ['-C', target, 'apply', file]);
    add('CLI', cli.wall);
    add('CLI cpu', cli.cpu);
    // The library's merge, as bench/ddcp.ts times it.
    const path = scratch.file('lib');
    const db = openDatabase(path);
    db.exec(ITEMS_DDL);
    const engine = Engine.open(db);
    engine.asCrr('items');
    gc();
    const t0 = now();
    engine.applyChanges(changes);
    db.exec('PRAGMA wal_checkpoint(PASSIVE)');
    add('lib', now() - t0);
    db.close();
    scratch.remove(path);
  }
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
  const best = (xs: number[]): number => Math.min(...xs);
  console.log(`${changes.length} changes, ${rounds} rounds (ms; best / median; samples)`);
  for (const t of terms) {
    const xs = samples.get(t)!;
    console.log(`${t.padEnd(8)} ${String(best(xs)).padStart(5)} / ${String(median(xs)).padStart(5)}   ${xs.join(', ')}`);
  }
  const lib = best(samples.get('lib')!);
  const cli = best(samples.get('CLI')!);
  console.log(`CLI ÷ library (rates, best of each): ${((100 * lib) / cli).toFixed(0)}%; 60% needs the CLI at ≤ ${(lib / 0.6).toFixed(0)} ms`);
  console.log(`S + RM = ${best(samples.get('S')!) + best(samples.get('RM')!)} (CLI ${cli}); R + M = ${best(samples.get('R')!) + best(samples.get('M')!)} (RM ${best(samples.get('RM')!)})`);
} finally {
  scratch.cleanup();
}
