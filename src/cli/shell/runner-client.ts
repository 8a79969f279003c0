/**
 * The interactive shell's side of its statement runner (runner.ts): starts it, sends it requests one
 * at a time, and cancels the one running by killing the process — SQLite's atomic commit keeps the
 * database whole, and the uncommitted part of a transaction is rolled back. The next request starts
 * a new runner.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DatabaseDot } from './dot-commands.ts';
import type { OutputSettings } from './modes.ts';
import type { Fatal, Reply, Request } from './protocol.ts';

/** The runner's file: runner.ts from source, runner.js when compiled. */
const RUNNER = fileURLToPath(new URL(`./runner${extname(fileURLToPath(import.meta.url))}`, import.meta.url));

/** What became of a request. */
export type Outcome =
  | { status: 'done'; inTransaction: boolean }
  | { status: 'failed'; error: string; inTransaction: boolean }
  /** Cancelled (Ctrl-C): `rolledBack` if a transaction was open, which is gone now. */
  | { status: 'cancelled'; rolledBack: boolean };

type Body = { kind: 'sql'; sql: string } | { kind: 'dot'; cmd: DatabaseDot };

export class RunnerClient {
  private child: ChildProcess | undefined;
  private waiting: { id: number; resolve: (o: Outcome) => void } | undefined;
  private nextId = 1;
  private cancelled = false;
  /** Whether the runner's connection has a transaction open (as of its last reply). */
  inTransaction = false;

  private readonly dir: string;
  private readonly onIdleExit: (message: string) => void;

  /**
   * `dir`: the repository's folder, opened by the runner. `onIdleExit` hears of a runner that ended
   * with no request running (e.g. Ctrl-C just after a statement finished) that took a transaction with it.
   */
  constructor(dir: string, onIdleExit: (message: string) => void) {
    this.dir = dir;
    this.onIdleExit = onIdleExit;
  }

  /** Starts the runner now, so the first statement doesn't wait for it. */
  start(): void {
    if (this.child) return;
    const child = spawn(process.execPath, [...process.execArgv, '--disable-warning=ExperimentalWarning', RUNNER, this.dir], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child = child;
    child.on('message', (m: Reply | Fatal) => {
      if ('fatal' in m) return this.settle({ status: 'failed', error: m.fatal, inTransaction: false });
      if (m.id !== this.waiting?.id) return;
      this.inTransaction = m.inTransaction;
      this.settle(m.error === undefined ? { status: 'done', inTransaction: m.inTransaction } : { status: 'failed', error: m.error, inTransaction: m.inTransaction });
    });
    child.on('exit', (code, signal) => {
      if (this.child === child) this.child = undefined;
      const hadTransaction = this.inTransaction;
      this.inTransaction = false;
      const stopped = `the statement runner stopped (${signal ?? `exit code ${code}`})${hadTransaction ? '; the open transaction was rolled back' : ''}`;
      if (!this.waiting) {
        // Cancelled too late (the statement had finished), or died while idle: only a lost transaction matters.
        if (hadTransaction) this.onIdleExit(stopped);
      } else if (this.cancelled) this.settle({ status: 'cancelled', rolledBack: hadTransaction });
      else this.settle({ status: 'failed', error: stopped, inTransaction: false });
      this.cancelled = false;
    });
    child.on('error', (err) => this.settle({ status: 'failed', error: `can't start the statement runner: ${err.message}`, inTransaction: false }));
  }

  /** Runs a statement or database dot command; resolves when its output is written. */
  run(body: Body, settings: OutputSettings): Promise<Outcome> {
    if (this.waiting) throw new Error('the statement runner is busy');
    this.start();
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.waiting = { id, resolve };
      this.child!.send({ id, settings, ...body } satisfies Request);
    });
  }

  /** Whether a request is running. */
  get busy(): boolean {
    return this.waiting !== undefined;
  }

  /** Stops the running request (its promise resolves `cancelled`); does nothing when idle. */
  cancel(): void {
    if (!this.waiting || !this.child) return;
    this.cancelled = true;
    this.child.kill('SIGKILL');
  }

  /** Ends the runner (closing its connection rolls back an open transaction). */
  close(): void {
    const child = this.child;
    this.child = undefined;
    this.inTransaction = false; // the caller says so if it matters
    if (child?.connected) child.disconnect();
  }

  private settle(outcome: Outcome): void {
    const w = this.waiting;
    this.waiting = undefined;
    w?.resolve(outcome);
  }
}
