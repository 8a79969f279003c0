/** `ddcp serve` run as a child process in tests: its banner, its log, stopping it. */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN } from './cli.ts';

/** Waits until `check()` holds, polling every 25 ms; throws naming `what` after `ms`. */
export async function until(what: string, check: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export interface Serving {
  child: ChildProcess;
  /** Standard output and standard error, interleaved in the order written (one file). */
  output(): string;
  /** The TCP multiaddr on 127.0.0.1 from the banner. */
  address(): string;
  /** Waits until the output (from `from` on) matches `re`; returns the output's length after the match. */
  waitFor(re: RegExp, from?: number, ms?: number): Promise<number>;
  stop(): Promise<number | null>;
}

/** Starts `ddcp serve --no-mdns ARGS` in `cwd` and waits for its banner; `cleanup` gets its stop. */
export async function serve(cwd: string, args: string[], cleanup: (() => Promise<unknown> | void)[]): Promise<Serving> {
  const log = join(cwd, `serve-${Date.now()}-${Math.random().toString(36).slice(2)}.log`);
  const fd = openSync(log, 'w');
  const child = spawn(process.execPath, [BIN, 'serve', '--no-mdns', ...args], { cwd, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let done = false;
  void exited.then(() => (done = true));
  const stop = async (): Promise<number | null> => {
    if (!done) child.kill('SIGTERM');
    return exited;
  };
  cleanup.push(stop);
  const output = (): string => readFileSync(log, 'utf8');
  const address = (): string => /^listening (\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/\S+)$/m.exec(output())?.[1] ?? '';
  const waitFor = async (re: RegExp, from = 0, ms = 20_000): Promise<number> => {
    let end = -1;
    await until(`${re} in the output of serve in ${cwd}`, () => {
      const text = output();
      const m = re.exec(text.slice(from));
      if (m) end = from + m.index + m[0].length;
      return m !== null || done;
    }, ms).catch((err: Error) => {
      throw new Error(`${err.message}:\n${output()}`);
    });
    assert.ok(end >= 0, `serve exited before ${re}:\n${output()}`);
    return end;
  };
  await until('serve to print its banner', () => done || /^allowed: |^open to any peer/m.test(output()));
  assert.ok(!done, `serve exited: ${output()}`);
  return { child, output, address, waitFor, stop };
}
