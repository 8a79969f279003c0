/**
 * Running `ddcp` in tests. {@link ddcp} and {@link ok} run a command the way `bin/ddcp.js` does —
 * `main(argv)` in the folder given, standard input given, standard output and error captured, the
 * exit code `main` returns — in a worker thread of this process (test/support/cli-worker.ts), while
 * this thread waits as it would for spawnSync: starting Node.js and loading the CLI for every
 * command was most of the suite's time. {@link spawned}, {@link ddcpAsync} and `serve` start the
 * real executable (test/cli-process.test.ts covers the process itself: exit codes, streams,
 * standard input); `DDCP_TEST_SPAWN=1` makes every command a real process again.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';

export const BIN = fileURLToPath(new URL('../../bin/ddcp.js', import.meta.url));

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the real executable: `ddcp args…` in `cwd` with optional standard input. */
export function spawned(cwd: string, args: string[], input?: string): RunResult {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd, input: input ?? '', encoding: 'utf8', timeout: 60_000 });
  if (r.error) throw r.error;
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Commands that serve until signalled: only a process of their own can run them. */
const serves = (args: string[]): boolean => args[0] === 'serve' || (args[0] === 'hub' && args[1] === 'serve');

const SPAWN_ALL = process.env.DDCP_TEST_SPAWN === '1';

interface InProcess {
  worker: Worker;
  flag: Int32Array;
  answers: MessagePort;
}
let inProcess: InProcess | undefined;

type Answer = { code: number; stdout: string; stderr: string } | { crashed: string } | { ready: true };

/** A worker that may be mid-command or broken is dropped; the next command starts a fresh one. */
function discard(p: InProcess): void {
  if (inProcess === p) inProcess = undefined;
  void p.worker.terminate();
}

/** Waits (blocking this thread, as spawnSync does) for the worker's next answer. */
function answer(p: InProcess, what: string): Answer {
  if (Atomics.wait(p.flag, 0, 0, 60_000) === 'timed-out') {
    discard(p);
    throw new Error(`ddcp ${what}: no answer from the CLI worker in 60 s`);
  }
  // The flag is only a doorbell; the port's queue is the answer. Rung with the queue still empty
  // (seen once in a whole-suite run), the answer is given a moment to show before the worker is
  // judged broken.
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (let waited = 0; ; waited++) {
    const m = receiveMessageOnPort(p.answers);
    if (m) return m.message as Answer;
    if (waited === 5_000) break;
    Atomics.wait(pause, 0, 0, 1);
  }
  discard(p);
  throw new Error(`ddcp ${what}: the CLI worker rang but left no answer in 5 s (flag ${Atomics.load(p.flag, 0)})`);
}

function worker(): InProcess {
  if (inProcess) return inProcess;
  const flag = new Int32Array(new SharedArrayBuffer(4));
  const { port1, port2 } = new MessageChannel();
  const w = new Worker(new URL('./cli-worker.ts', import.meta.url), { workerData: { flag, answers: port2 }, transferList: [port2], stdout: false, stderr: false });
  w.unref();
  inProcess = { worker: w, flag, answers: port1 };
  answer(inProcess, '(starting)');
  return inProcess;
}

/**
 * Runs `ddcp args…` in `cwd` with optional standard input, in this process (see the file's
 * comment); a serving command, or every command under `DDCP_TEST_SPAWN=1`, as a real process.
 */
export function ddcp(cwd: string, args: string[], input?: string): RunResult {
  if (SPAWN_ALL || serves(args)) return spawned(cwd, args, input);
  const p = worker();
  // An error thrown by what a previous command left running (a process of its own would have died of it).
  const stale = receiveMessageOnPort(p.answers)?.message as Answer | undefined;
  if (stale) {
    discard(p);
    throw new Error(`ddcp ${args.join(' ')}: the CLI worker failed after its previous command: ${'crashed' in stale ? stale.crashed : JSON.stringify(stale)}`);
  }
  const back = process.cwd();
  process.chdir(cwd);
  try {
    Atomics.store(p.flag, 0, 0);
    p.worker.postMessage({ args, input: input ?? '', env: { ...process.env } });
    const m = answer(p, args.join(' '));
    if ('crashed' in m) {
      discard(p);
      throw new Error(`ddcp ${args.join(' ')} crashed: ${m.crashed}`);
    }
    if ('ready' in m) throw new Error('the CLI worker answered out of turn');
    return m;
  } finally {
    process.chdir(back);
  }
}

/** Like {@link ddcp} but fails the test on a non-zero exit. */
export function ok(cwd: string, args: string[], input?: string): string {
  const r = ddcp(cwd, args, input);
  if (r.code !== 0) throw new Error(`ddcp ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** A fresh temporary folder. */
export function tempDir(prefix = 'ddcp-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Like {@link ddcp}, without blocking this process's event loop (for servers running in the test). */
export function ddcpAsync(cwd: string, args: string[], input?: string, env: Record<string, string> = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd, env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
    child.stdin.end(input ?? '');
  });
}

/** {@link ddcpAsync} that must succeed: its standard output (the assertion names the command and its error). */
export async function ddcpAsyncOk(cwd: string, args: string[], env: Record<string, string> = {}): Promise<string> {
  const r = await ddcpAsync(cwd, args, '', env);
  assert.equal(r.code, 0, `ddcp ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** `root/name`, made a repository through the CLI, with `schema` (SQL) run in its shell. */
export function initRepo(root: string, name: string, schema: string): string {
  const dir = join(root, name);
  mkdirSync(dir);
  ok(dir, ['init']);
  ok(dir, ['shell'], schema);
  return dir;
}
