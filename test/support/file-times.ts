/**
 * Preloaded into every test file's process by test/support/run-suite.ts when DDCP_TEST_TIMES names
 * a file: on exit, appends one line — the test file (relative to the checkout), when its process
 * started and ended (seconds since the epoch), and the CPU seconds it used with the processes it
 * waited for (ddcp commands, Chromium, npm…: /proc's cutime and cstime) — so a run shows where the
 * suite's time went. test/support/suite-times.tsv is such a record; run-suite.ts orders files by it.
 */
import { appendFileSync, readFileSync } from 'node:fs';
import { isAbsolute, relative } from 'node:path';
import { isMainThread } from 'node:worker_threads';

const started = performance.timeOrigin / 1000;
/** The runner starts each file in the checkout (a test may chdir later). */
const checkout = process.cwd();
const ticks = 100; // USER_HZ on Linux

/** utime, stime, cutime, cstime of this process in seconds, from /proc/self/stat. */
function cpu(): number[] {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields.slice(11, 15).map((f) => Number(f) / ticks);
}

if (isMainThread && process.env.DDCP_TEST_TIMES) {
  const out = process.env.DDCP_TEST_TIMES;
  process.on('exit', () => {
    const [user, sys, childUser, childSys] = cpu();
    const path = process.argv[1] ?? '?';
    const inside = relative(checkout, path); // reads the same in any clone
    const file = inside.startsWith('..') || isAbsolute(inside) ? path : inside;
    appendFileSync(out, `${file}\t${started.toFixed(2)}\t${(Date.now() / 1000).toFixed(2)}\t${(user! + sys!).toFixed(2)}\t${(childUser! + childSys!).toFixed(2)}\n`);
  });
}
