/**
 * `npm test`: the type-check and every test file (src/**, test/**), the slowest files first.
 *
 * `node --test` runs its files in name order, so the few files that take a minute of their own
 * (packing and installing the package, cr-sqlite interop, the browser + terminal task manager…)
 * started late and ran on alone while the other slot sat idle: the suite's length was decided by
 * where a long file fell in the alphabet. Here every file is ordered by its recorded time, longest
 * first (the classic schedule), and the type-check (tsc, ~18 CPU-s on one core) runs beside them
 * instead of before them; it fails the run as before. The record is only an order: a file missing
 * from it still runs, a name there that no longer exists is ignored.
 *
 * Files that mostly wait (by the record) run in a slot of their own beside the others, their report
 * printed after the main one (see {@link SIDE_SLOTS}).
 *
 * Usage: `node --import ./test/support/compile-cache.ts test/support/run-suite.ts [FILE…]` (no
 * files: the whole suite). `DDCP_TEST_CONCURRENCY` overrides the number of files run at once,
 * `DDCP_TEST_SIDE_SLOTS` the slots for files that mostly wait (0: none).
 */
import { spawn } from 'node:child_process';
import { finished } from 'node:stream/promises';
import { accessSync, appendFileSync, constants, globSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { run } from 'node:test';
import { spec } from 'node:test/reporters';

const ROOT = join(import.meta.dirname, '..', '..');

/**
 * How long each file took in a whole run (`test/support/suite-times.tsv`: the lines DDCP_TEST_TIMES
 * writes — file, start, end, CPU-s, children's CPU-s; refresh it with `DDCP_TEST_TIMES=test/support/
 * suite-times.tsv npm test`). Many long files also wait (processes, Chromium, tmux, npm, libp2p
 * time-outs), which the files running beside them fill.
 */
function recorded(): Map<string, { seconds: number; cpu: number }> {
  const times = new Map<string, { seconds: number; cpu: number }>();
  let text = '';
  try {
    text = readFileSync(join(ROOT, 'test', 'support', 'suite-times.tsv'), 'utf8');
  } catch {
    return times; // no record: name order
  }
  for (const line of text.split('\n')) {
    const [file, start, end, own, children] = line.split('\t');
    if (file && !file.startsWith('(') && start && end) times.set(file, { seconds: Number(end) - Number(start), cpu: Number(own || 0) + Number(children || 0) });
  }
  return times;
}

/**
 * Two cores: two files at once kept both busy only while neither waited; a third overlaps one
 * file's waiting (a process starting, a browser, a peer's time-out) with the others' work.
 */
const CONCURRENCY = Number(process.env.DDCP_TEST_CONCURRENCY ?? 3);

/**
 * Files that mostly wait get slots of their own beside those three: a file that kept less than
 * {@link WAITING_SHARE} of a core busy over at least {@link WAITING_MIN_SECONDS} in the record (the
 * stall test sleeps 16 s for 1 CPU-s; the task-manager examples and the CLI-over-the-network files
 * wait for processes) held one of the three slots while the two cores had room for more. The record
 * decides, so a file whose waiting is cut moves back to the main slots when the record is refreshed.
 * `DDCP_TEST_SIDE_SLOTS=0` runs every file in the main slots as before.
 */
const SIDE_SLOTS = Number(process.env.DDCP_TEST_SIDE_SLOTS ?? 1);
const WAITING_SHARE = 0.3;
const WAITING_MIN_SECONDS = 5;

/**
 * Every test file, longest first by the record (the classic schedule: what is left at the end is
 * short, so no slot runs on alone while the other idles). A file the record does not know yet counts
 * as its median: new files are often integration tests, and a guess in the middle cannot end the run
 * late by much.
 */
function testFiles(): { main: string[]; side: string[] } {
  const all = globSync(['src/**/*.test.ts', 'test/**/*.test.ts'], { cwd: ROOT }).sort();
  const times = recorded();
  const known = all.map((f) => times.get(f)?.seconds).filter((s) => s !== undefined).sort((a, b) => a - b);
  const guess = known[Math.floor(known.length / 2)] ?? 0;
  const weight = (f: string): number => times.get(f)?.seconds ?? guess;
  const ordered = all.map((f) => [f, weight(f)] as const).sort((a, b) => b[1] - a[1]).map(([f]) => f); // stable: ties keep name order
  const waits = (f: string): boolean => {
    const t = times.get(f);
    return SIDE_SLOTS > 0 && t !== undefined && t.seconds >= WAITING_MIN_SECONDS && t.cpu < WAITING_SHARE * t.seconds;
  };
  return { main: ordered.filter((f) => !waits(f)), side: ordered.filter(waits) };
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

/**
 * The files' scratch folders (os.tmpdir()) go to a fresh folder in memory, /dev/shm, where the machine
 * has one (`DDCP_TEST_TMPDIR` chooses another): the suite writes hundreds of SQLite files and each
 * checkpoint's fsync waited on the disk — hub-convergence took 16–18 s on the disk, 11–14 s in
 * memory, for the same CPU. What the tests prove does not depend on where the files lie; the folder
 * is removed at the end, with anything a test left.
 */
function scratchRoot(): string | undefined {
  const base = process.env.DDCP_TEST_TMPDIR ?? '/dev/shm';
  try {
    accessSync(base, constants.W_OK);
    return mkdtempSync(join(base, 'ddcp-test-'));
  } catch {
    return undefined; // no such folder: the system's temporary folder, as before
  }
}
const scratch = scratchRoot();
if (scratch) {
  // Node's compile cache stays in the system's temporary folder, where it lives across runs (the
  // test processes and the `ddcp` they start enable it without a folder, so they would follow
  // TMPDIR into the scratch folder and lose it at the end).
  process.env.NODE_COMPILE_CACHE ??= join(tmpdir(), 'node-compile-cache');
  process.env.TMPDIR = scratch;
}

const asked = process.argv.slice(2).map((f) => relative(ROOT, join(process.cwd(), f)));
const { main, side } = asked.length > 0 ? { main: asked, side: [] } : testFiles();
const checked = asked.length > 0 ? undefined : typeCheck();

let failed = false;
// DDCP_TEST_TIMES=FILE: each test file's process appends its span and CPU seconds (file-times.ts).
const times = process.env.DDCP_TEST_TIMES;
if (times) rmSync(times, { force: true });
const execArgv = times ? ['--import', join(ROOT, 'test', 'support', 'file-times.ts')] : [];
const counts = { tests: 0, passed: 0, failed: 0 };
/** Runs `files` `concurrency` at a time; failures and the root summary's counts are noted. */
function runFiles(files: string[], concurrency: number): ReturnType<typeof run> {
  const stream = run({ files: files.map((f) => join(ROOT, f)), concurrency, timeout: 120_000, cwd: ROOT, execArgv });
  stream.on('test:fail', () => (failed = true));
  stream.on('test:summary', (s) => {
    if (s.file !== undefined) return; // a file's own summary; the root's comes last
    counts.tests += s.counts.tests;
    counts.passed += s.counts.passed;
    counts.failed += s.counts.tests - s.counts.passed - s.counts.skipped - s.counts.todo; // failed or cancelled
  });
  return stream;
}
// The side slots' report is held back and printed whole after the main one: each reporter keeps
// its own nesting, and the two never interleave.
let sideReport = '';
const sideDone = side.length > 0
  ? (async () => {
      for await (const chunk of runFiles(side, SIDE_SLOTS).compose(spec)) sideReport += String(chunk);
    })()
  : undefined;
const report = runFiles(main, CONCURRENCY).compose(spec);
report.pipe(process.stdout, { end: false });
await finished(report);
if (sideDone) {
  await sideDone;
  process.stdout.write(`\n${side.length} files that mostly wait, run in ${SIDE_SLOTS} slot(s) of their own beside the others:\n${sideReport}`);
  process.stdout.write(`\nall files: ${counts.tests} tests, ${counts.passed} passed, ${counts.failed} failed or cancelled\n`);
}

if (checked) {
  const { code, output } = await checked;
  if (times) appendFileSync(times, `(type-check)\t${typeCheckSpan[0].toFixed(2)}\t${typeCheckSpan[1].toFixed(2)}\t\t\n`);
  process.stdout.write(code === 0 ? '\ntype-check (tsc -p .): ok\n' : `\ntype-check (tsc -p .) failed:\n${output}`);
  if (code !== 0) failed = true;
}
if (scratch) rmSync(scratch, { recursive: true, force: true });
if (failed) process.exitCode = 1;
