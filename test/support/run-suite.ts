/**
 * `npm test`: the type-check and every test file (src/**, test/**), the slowest files first.
 *
 * `node --test` runs its files in name order, so the few files that take a minute of their own
 * (packing and installing the package, cr-sqlite interop, the browser + terminal task manager…)
 * started late and ran on alone while the other slot sat idle: the suite's length was decided by
 * where a long file fell in the alphabet. Here they start first (longest-first, the classic
 * schedule), the rest follow in name order, and the type-check (tsc, ~18 CPU-s on one core) runs
 * beside them instead of before them; it fails the run as before. Which files are slow is only an
 * order: a file missing from {@link SLOW_FIRST} still runs, a name there that no longer exists is
 * ignored.
 *
 * Usage: `node --import ./test/support/compile-cache.ts test/support/run-suite.ts [FILE…]` (no
 * files: the whole suite). `DDCP_TEST_CONCURRENCY` overrides the number of files run at once.
 */
import { spawn } from 'node:child_process';
import { finished } from 'node:stream/promises';
import { appendFileSync, globSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import { run } from 'node:test';
import { spec } from 'node:test/reporters';

const ROOT = join(import.meta.dirname, '..', '..');

/**
 * Files that take longest (CPU-s alone and in a whole run, wall on this 2-core machine: README
 * "Set-up"), longest first. Many of them also wait (processes, Chromium, tmux, npm, libp2p
 * time-outs), which the files running beside them fill.
 */
const SLOW_FIRST = [
  'test/package.test.ts',
  'test/interop.test.ts',
  'test/browser-tasks.test.ts',
  'test/convergence.test.ts',
  'test/sync.test.ts',
  'test/network-cli.test.ts',
  'test/hub-convergence.test.ts',
  'test/p2p.test.ts',
  'src/transport/p2p/node.test.ts',
  'test/cli-process.test.ts',
  'test/docs-property.test.ts',
  'src/transport/p2p/stall.test.ts',
  'test/cli-revoke.test.ts',
  'test/decoders-fuzz.test.ts',
  'src/engine/seal.test.ts',
  'src/bundle/format.test.ts',
  'test/hub/inspector-cli.test.ts',
  'test/browser-hub.test.ts',
  'test/hub-postgres-documents.test.ts',
  'test/remotes/libp2p.test.ts',
  'test/bundle.test.ts',
  'test/cli-damaged.test.ts',
  'test/hub.test.ts',
  'test/cli-push.test.ts',
  'test/cli-pull.test.ts',
  'test/remotes/hub.test.ts',
  'test/remotes/folder.test.ts',
  'test/hub-restart.test.ts',
];

/**
 * Two cores: two files at once kept both busy only while neither waited; a third overlaps one
 * file's waiting (a process starting, a browser, a peer's time-out) with the others' work.
 */
const CONCURRENCY = Number(process.env.DDCP_TEST_CONCURRENCY ?? 3);

function testFiles(): string[] {
  const all = globSync(['src/**/*.test.ts', 'test/**/*.test.ts'], { cwd: ROOT }).sort();
  const first = SLOW_FIRST.filter((f) => all.includes(f));
  return [...first, ...all.filter((f) => !first.includes(f))];
}

/** When the type-check started and ended (seconds since the epoch), for DDCP_TEST_TIMES. */
const typeCheckSpan: [number, number] = [0, 0];

/** Runs tsc's type-check of the whole project; resolves with its exit code and output. */
function typeCheck(): Promise<{ code: number; output: string }> {
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const child = spawn(process.execPath, [tsc, '-p', '.', '--incremental', '--tsBuildInfoFile', 'tmp/typecheck.tsbuildinfo'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (output += d));
  typeCheckSpan[0] = Date.now() / 1000;
  return new Promise((resolve) => {
    child.on('error', (err) => resolve({ code: 1, output: `${output}${String(err)}\n` }));
    child.on('close', (code) => {
      typeCheckSpan[1] = Date.now() / 1000;
      resolve({ code: code ?? 1, output });
    });
  });
}

const asked = process.argv.slice(2).map((f) => relative(ROOT, join(process.cwd(), f)));
const files = (asked.length > 0 ? asked : testFiles()).map((f) => join(ROOT, f));
const checked = asked.length > 0 ? undefined : typeCheck();

let failed = false;
// DDCP_TEST_TIMES=FILE: each test file's process appends its span and CPU seconds (file-times.ts).
const times = process.env.DDCP_TEST_TIMES;
if (times) rmSync(times, { force: true });
const execArgv = times ? ['--import', join(ROOT, 'test', 'support', 'file-times.ts')] : [];
const stream = run({ files, concurrency: CONCURRENCY, timeout: 120_000, cwd: ROOT, execArgv });
stream.on('test:fail', () => (failed = true));
const report = stream.compose(spec);
report.pipe(process.stdout, { end: false });
await finished(report);

if (checked) {
  const { code, output } = await checked;
  if (times) appendFileSync(times, `(type-check)\t${typeCheckSpan[0].toFixed(2)}\t${typeCheckSpan[1].toFixed(2)}\t\t\n`);
  process.stdout.write(code === 0 ? '\ntype-check (tsc -p .): ok\n' : `\ntype-check (tsc -p .) failed:\n${output}`);
  if (code !== 0) failed = true;
}
if (failed) process.exitCode = 1;
