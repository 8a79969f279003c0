/**
 * The worker thread behind test/support/cli.ts's in-process `ddcp`: it runs the CLI's `main` once
 * per request, as `bin/ddcp.js` does, with standard output and error captured and standard input
 * (file descriptor 0, which the CLI reads synchronously) served from the request's input. The
 * test's thread sets the working folder (process.chdir, which a worker can't call) and blocks
 * until the answer, as spawnSync blocks, so each command sees the folder, input and nothing else
 * of the test running.
 */
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';

interface Request {
  args: string[];
  input: string;
  /** The test process's environment now (a child process would inherit it as it is at spawn). */
  env: Record<string, string>;
}

const { flag, answers } = workerData as { flag: Int32Array; answers: MessagePort };
const port = parentPort!;

// Standard input: fd 0 is the test process's own; a command reading it gets the request's input
// (from a file, so every reader of fd 0 — readSync in chunks, readFileSync — works unchanged).
const inputFile = join(tmpdir(), `ddcp-cli-input-${process.pid}-${Math.random().toString(36).slice(2)}`);
let inputFd = -1;
const realReadSync = fs.readSync;
const realReadFileSync = fs.readFileSync;
const realFstatSync = fs.fstatSync;
const mapFd = (fd: unknown): unknown => (fd === 0 && inputFd >= 0 ? inputFd : fd);
fs.readSync = ((fd: number, ...rest: unknown[]) => (realReadSync as (...a: unknown[]) => number)(mapFd(fd), ...rest)) as typeof fs.readSync;
fs.readFileSync = ((path: unknown, ...rest: unknown[]) => (realReadFileSync as (...a: unknown[]) => unknown)(mapFd(path), ...rest)) as typeof fs.readFileSync;
fs.fstatSync = ((fd: number, ...rest: unknown[]) => (realFstatSync as (...a: unknown[]) => unknown)(mapFd(fd), ...rest)) as typeof fs.fstatSync;
syncBuiltinESMExports();

// Standard output and error: collected per request.
let stdout = '';
let stderr = '';
const capture = (stream: NodeJS.WriteStream, append: (s: string) => void): void => {
  stream.write = ((chunk: string | Uint8Array, encoding?: unknown, cb?: unknown): boolean => {
    append(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    const done = typeof encoding === 'function' ? encoding : cb;
    if (typeof done === 'function') queueMicrotask(() => (done as () => void)());
    return true;
  }) as typeof stream.write;
  stream.setMaxListeners(0); // main() adds an EPIPE listener per run
};
capture(process.stdout, (s) => (stdout += s));
capture(process.stderr, (s) => (stderr += s));
// As bin/ddcp.js: node:sqlite's experimental warning is not printed.
process.removeAllListeners('warning');
process.on('warning', (w) => {
  if (w.name !== 'ExperimentalWarning') stderr += `${w.name}: ${w.message}\n`;
});

const { main } = (await import('../../src/cli/main.ts')) as { main: (argv: string[]) => Promise<number> };

const answer = (message: { code: number; stdout: string; stderr: string } | { crashed: string }): void => {
  answers.postMessage(message);
  Atomics.store(flag, 0, 1);
  Atomics.notify(flag, 0);
};

port.on('message', async (req: Request) => {
  stdout = '';
  stderr = '';
  for (const k of Object.keys(process.env)) if (!(k in req.env)) delete process.env[k];
  Object.assign(process.env, req.env);
  try {
    fs.writeFileSync(inputFile, req.input);
    inputFd = fs.openSync(inputFile, 'r');
    fs.rmSync(inputFile); // the open descriptor keeps the content; nothing is left behind
    const code = await main(req.args);
    answer({ code, stdout, stderr });
  } catch (err) {
    answer({ crashed: (err as Error)?.stack ?? String(err) });
  } finally {
    if (inputFd >= 0) fs.closeSync(inputFd);
    inputFd = -1;
  }
});
process.on('uncaughtException', (err) => answer({ crashed: err.stack ?? String(err) }));
answers.postMessage({ ready: true });
Atomics.store(flag, 0, 1);
Atomics.notify(flag, 0);
