/**
 * Peak memory of `pull` run after run (the distribution, not one figure): one source of ROWS rows, a
 * fresh copy of an empty puller per run, VARIANTS alternated (each `label=FLAGS…`, flags added after
 * bin/ddcp's for a pull). `node bench/pull-peak-probe.ts ROUNDS ROWS 'base=' 'x=--some-flag' …`
 * With BENCH_BASE=OTHER_CHECKOUT, variants labelled base… run that checkout's code and flags (its bin/ddcp; the child is copied there as bench/pull-peak-child.ts).
 * Prefix a flag list with `ENV:NAME=VALUE,` to set an environment variable for that child.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadavg } from 'node:os';
import { Repository } from '../src/index.ts';
import { ITEMS_DDL, makeItems, Scratch } from './util.ts';
// @ts-expect-error: plain JS module without types
import { MEMORY_FLAGS, PULL_FLAGS } from '../bin/node-flags.js';

const [rounds = '4', rowsArg = '100000', ...variantArgs] = process.argv.slice(2);
const rows = Number(rowsArg);
const variants = (variantArgs.length ? variantArgs : ['base=']).map((v) => {
  const i = v.indexOf('=');
  let rest = v.slice(i + 1);
  const env: Record<string, string> = {};
  const em = /^ENV:([^ ]*)\s*/.exec(rest);
  if (em) {
    for (const kv of em[1]!.split(',').filter(Boolean)) env[kv.slice(0, kv.indexOf('='))] = kv.slice(kv.indexOf('=') + 1);
    rest = rest.slice(em[0].length);
  }
  return { label: v.slice(0, i), flags: rest.split(/\s+/).filter(Boolean), env };
});
const CHILD = process.env.PROBE_CHILD ?? fileURLToPath(new URL('./pull-peak-child.ts', import.meta.url));
// The other checkout's own flags (bin/ddcp's, as its bench/pull.ts reads them).
const baseFlags = process.env.BENCH_BASE ? await (async () => {
  const f = await import(join(process.env.BENCH_BASE!, 'bin', 'node-flags.js'));
  return [...(f.MEMORY_FLAGS as string[]), ...(f.PULL_FLAGS as string[])];
})() : undefined;
const scratch = new Scratch();
try {
  const alice = await Repository.init(join(scratch.dir, 'alice'));
  const bob = await Repository.init(join(scratch.dir, 'bob'));
  for (const r of [alice, bob]) {
    r.db.exec(ITEMS_DDL);
    r.engine.asCrr('items');
  }
  const ins = alice.db.prepare('INSERT INTO items VALUES (?, ?, ?, ?)');
  alice.db.exec('BEGIN');
  for (const item of makeItems(rows)) ins.run(...item);
  alice.db.exec('COMMIT');
  alice.engine.seal();
  bob.addRemote('alice', alice.root);
  alice.close();
  bob.close();
  for (let r = 0; r < Number(rounds); r++) {
    for (const v of variants) {
      const dir = join(scratch.dir, `bob-run`);
      rmSync(dir, { recursive: true, force: true });
      cpSync(join(scratch.dir, 'bob'), dir, { recursive: true });
      // A label starting with "base" runs the child of the checkout BENCH_BASE names (its code and bin/ddcp's flags).
      const child = v.label.startsWith('base') && process.env.BENCH_BASE ? join(process.env.BENCH_BASE, 'bench', 'pull-peak-child.ts') : CHILD;
      const own = child === CHILD ? [...(MEMORY_FLAGS as string[]), ...(PULL_FLAGS as string[])] : baseFlags!;
      const out = execFileSync(process.execPath, ['--disable-warning=ExperimentalWarning', ...own, ...v.flags, child, dir], {
        encoding: 'utf8',
        env: { ...process.env, ...v.env },
        maxBuffer: 1 << 28,
      });
      const lines = out.trim().split('\n');
      const at = lines.findIndex((l) => l.startsWith('{"ms"'));
      const o = JSON.parse(lines[at]!);
      lines.splice(at, 1);
      const ph = Object.entries(o.phases ?? {})
        .map(([k, p]: [string, any]) => `${k}:rss ${p.rss.toFixed(0)} old ${p.old.toFixed(0)} ab ${p.ab.toFixed(0)}`)
        .join(' | ');
      console.log(`${r} ${v.label.padEnd(10)} peak ${o.maxRssMiB.toFixed(1)} MiB  ${Math.round((o.changes * 1000) / o.ms)} ch/s  cpu ${Math.round(o.cpuMs)} ms  load ${loadavg()[0]!.toFixed(1)}  ${ph}`);
      if (process.env.PROBE_TRACE) console.log(lines.join('\n'));
    }
  }
} finally {
  scratch.cleanup();
}
