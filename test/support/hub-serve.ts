/**
 * `ddcp hub serve` as its own process (the real executable), for tests of the command itself: started
 * on 127.0.0.1 and awaited until it says where it listens, its output kept, and stopped — or killed
 * when the test file ends, whatever happened.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { after } from 'node:test';
import { BIN } from './cli.ts';

export interface ServedHub {
  child: ChildProcessWithoutNullStreams;
  /** `ws://127.0.0.1:PORT`, as it printed. */
  url: string;
  /** The same as `http://…`. */
  base: string;
  /** Everything it printed so far on standard output. */
  out(): string;
  /** Everything it logged so far (standard error). */
  log(): string;
}

export interface ServeHubOptions {
  /** Added to the environment. */
  env?: Record<string, string>;
  /** `--listen` (default `127.0.0.1:0`, a free port). */
  listen?: string;
  /** What on standard output means it is ready; its first group is the URL (default: the "hub listening on" line). */
  ready?: RegExp;
}

const served: ChildProcessWithoutNullStreams[] = [];
after(() => {
  for (const c of served) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

/** Starts `ddcp hub serve --listen … ARGS` in `cwd` and resolves once it is ready (rejects if it exits first). */
export async function serveHub(cwd: string, args: string[], options: ServeHubOptions = {}): Promise<ServedHub> {
  const child = spawn(process.execPath, [BIN, 'hub', 'serve', '--listen', options.listen ?? '127.0.0.1:0', ...args], { cwd, env: { ...process.env, ...options.env }, stdio: ['pipe', 'pipe', 'pipe'] });
  served.push(child);
  let err = '';
  let out = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  // Read on (never stop reading: a closed pipe would fail the hub's next line with EPIPE).
  const ready = options.ready ?? /hub listening on (ws:\/\/\S+)/;
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const m = ready.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`hub serve exited (${code}) before listening: ${out}${err}`)));
  });
  return { child, url, base: url.replace(/^ws/, 'http'), out: () => out, log: () => err };
}

/** Stops a served hub with SIGTERM and waits for it to exit (at once if it has already). */
export async function stopHub(hub: { child: ChildProcessWithoutNullStreams }): Promise<void> {
  if (hub.child.exitCode !== null || hub.child.signalCode !== null) return;
  hub.child.kill('SIGTERM');
  await once(hub.child, 'exit');
}
