/**
 * Driving a program under a real pseudo-terminal without native addons: util-linux `script` runs it
 * on a pty and relays our keystrokes (its standard input) and the terminal's output (its standard output).
 */
import { spawn, type ChildProcess } from 'node:child_process';

/** Terminal escape sequences (cursor moves, clears) removed, so tests match plain text. */
export function plain(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\r/g, '');
}

const quote = (s: string): string => `'${s.replaceAll("'", `'\\''`)}'`;

export class Pty {
  private readonly child: ChildProcess;
  private raw = '';
  private exit: Promise<number>;
  /** Where {@link waitFor} searches from (so each wait sees only output after the previous match). */
  private mark = 0;

  /** Starts `command args…` in `cwd` on a new pty. */
  constructor(command: string, args: string[], cwd: string, term = 'xterm-256color') {
    const line = [command, ...args].map(quote).join(' ');
    this.child = spawn('script', ['-qfec', line, '/dev/null'], { cwd, stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, TERM: term } });
    this.child.stdout!.setEncoding('utf8').on('data', (d: string) => (this.raw += d));
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => (this.raw += d));
    this.exit = new Promise((resolve) => this.child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : -1))));
  }

  /** All output so far, escapes removed. */
  get output(): string {
    return plain(this.raw);
  }

  /** Types keys (`\r` is Enter, `\x03` Ctrl-C, `\x04` Ctrl-D). */
  type(keys: string): void {
    this.child.stdin!.write(keys);
  }

  /**
   * Waits until the output after the last match satisfies `pattern`; returns that output. Polls with a
   * bound: fails with the output seen if it doesn't come within `timeoutMs`.
   */
  async waitFor(pattern: RegExp, timeoutMs = 30_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const text = this.output.slice(this.mark);
      const m = pattern.exec(text);
      if (m) {
        this.mark += m.index + m[0].length;
        return text.slice(0, m.index + m[0].length);
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern}; output since last match:\n${text}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** Resolves with the exit code, or rejects after `timeoutMs`. */
  async exited(timeoutMs = 30_000): Promise<number> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no exit within ${timeoutMs} ms; output:\n${this.output}`)), timeoutMs)));
    try {
      return await Promise.race([this.exit, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Kills the program (and `script`) if still running. */
  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}
