/**
 * The interactive shell (standard input is a terminal), like sqlite3's: a prompt, statements run as
 * their `;` is typed, dot commands, Ctrl-C cancels the running statement or the input typed so far,
 * Ctrl-D or `.quit` leaves. A failed statement drops the rest of its input. Statements run in a child
 * process (runner.ts) so that Ctrl-C can stop even one that never returns to JavaScript.
 */
import { createInterface } from 'node:readline';
import { excerpt } from '../statements.ts';
import { applySetting, isDatabaseDot, parseDot, type DotCommand } from './dot-commands.ts';
import { InputBuffer, type Input } from './input.ts';
import type { OutputSettings } from './modes.ts';
import { RunnerClient } from './runner-client.ts';

const PROMPT = 'ddcp> ';
const CONTINUE = '  ...> ';

const err = (line: string): void => void process.stderr.write(`ddcp: error: ${line.replace(/\s*\n\s*/g, ' ')}\n`);

/** Runs the prompt until Ctrl-D or `.quit`. `dir`: the repository's folder; `dbPath` for the banner. */
export async function interactive(dir: string, dbPath: string, settings: OutputSettings): Promise<void> {
  const runner = new RunnerClient(dir, err);
  runner.start();
  const rl = createInterface({ input: process.stdin, output: process.stdout, prompt: PROMPT });
  const input = new InputBuffer();
  const lines: string[] = [];
  let closed = false;
  let wake: (() => void) | undefined;
  rl.on('line', (line) => {
    lines.push(line);
    wake?.();
  });
  rl.on('close', () => {
    closed = true;
    wake?.();
  });
  const next = async (): Promise<string | undefined> => {
    while (lines.length === 0 && !closed) await new Promise<void>((r) => (wake = r));
    wake = undefined;
    return lines.shift();
  };

  const interrupt = (): void => {
    lines.length = 0; // type-ahead is dropped with what it followed
    if (runner.busy) {
      process.stdout.write('^C\n');
      return runner.cancel(); // the waiting statement reports it
    }
    // Discard the line being typed and the unfinished statement, keep the shell. readline has no
    // public way to drop the typed line (and ignores Ctrl-U when TERM=dumb): reset its fields.
    process.stdout.write('^C\n');
    Object.assign(rl, { line: '', cursor: 0 });
    input.clear();
    rl.setPrompt(PROMPT);
    rl.prompt();
  };
  rl.on('SIGINT', interrupt);
  process.on('SIGINT', interrupt);

  process.stdout.write(`ddcp shell on ${dbPath}\nEnter SQL statements terminated with ";". ".help" lists commands; Ctrl-C cancels, Ctrl-D or ".quit" leaves.\n`);
  rl.prompt();
  try {
    for (let line = await next(); line !== undefined; line = await next()) {
      if (!(await runAll(input.push(line)))) break;
      rl.setPrompt(input.pending ? CONTINUE : PROMPT);
      rl.prompt();
    }
  } finally {
    process.off('SIGINT', interrupt);
    rl.close();
    if (runner.inTransaction) err('left inside a transaction (no COMMIT): it was rolled back');
    runner.close();
  }

  /** Runs what a line completed; stops at the first failure, dropping the rest. False on `.quit`. */
  async function runAll(items: Input[]): Promise<boolean> {
    for (const [i, item] of items.entries()) {
      if (item.kind === 'dot') return dot(item.line);
      const outcome = await runner.run({ kind: 'sql', sql: item.sql }, settings);
      if (outcome.status === 'done') continue;
      const skipped = items.length - i - 1 + (input.pending ? 1 : 0);
      input.clear();
      const rest = skipped > 0 ? `; the rest of the input was skipped` : '';
      if (outcome.status === 'cancelled') err(`interrupted: ${excerpt(item.sql)} was cancelled${outcome.rolledBack ? ' and the open transaction rolled back' : ''}${rest}`);
      else err(`${excerpt(item.sql)}: ${outcome.error}${rest}`);
      return true;
    }
    return true;
  }

  /** Runs a dot command; false on `.quit`. */
  async function dot(line: string): Promise<boolean> {
    let cmd: DotCommand;
    try {
      cmd = parseDot(line);
    } catch (e) {
      err((e as Error).message);
      return true;
    }
    if (cmd.name === 'quit') return false;
    if (!isDatabaseDot(cmd)) {
      const text = applySetting(cmd, settings);
      if (text !== undefined) process.stdout.write(text + '\n');
      return true;
    }
    const outcome = await runner.run({ kind: 'dot', cmd }, settings);
    if (outcome.status === 'failed') err(`${line}: ${outcome.error}`);
    if (outcome.status === 'cancelled') err(`interrupted: ${line} was cancelled${outcome.rolledBack ? ' and the open transaction rolled back' : ''}`);
    return true;
  }
}
