/**
 * Running a script (`-c`, or standard input that is not a terminal): statement by statement, each
 * committed as it completes; the first failure stops the script with an error saying which statement
 * failed and what was committed before it. A transaction the script left open is rolled back.
 */
import { CliError } from '../exit.ts';
import { excerpt } from '../statements.ts';
import { applySetting, isDatabaseDot, parseDot } from './dot-commands.ts';
import { InputBuffer, type Input } from './input.ts';
import type { OutputSettings } from './modes.ts';
import type { SqlSession } from './session.ts';

/** A script stopped at a failing statement or dot command; `committed` statements before it stay. */
export class ScriptError extends CliError {
  override name = 'ScriptError';
  /** How many statements ran and were committed before the failure. */
  readonly committed: number;
  constructor(message: string, committed: number, cause?: unknown) {
    super(message, 1, { cause });
    this.committed = committed;
  }
}

/** "statements 1–3 were committed", in words for 0, 1 and more. */
export function committedText(count: number): string {
  if (count === 0) return 'nothing was committed';
  if (count === 1) return 'statement 1 was committed';
  return `statements 1–${count} were committed`;
}

/** Runs a script's lines; throws {@link ScriptError} at the first failure. */
export function runScript(session: SqlSession, lines: Iterable<string>, settings: OutputSettings, write: (text: string) => void): void {
  const input = new InputBuffer();
  let count = 0;
  // The statement that opened the transaction still open (its statements are not committed yet).
  let openedBy: number | undefined;

  /** The error for a failure after `done` statements completed. */
  const fail = (what: string | undefined, cause: unknown, done: number): ScriptError => {
    const committed = openedBy === undefined ? done : openedBy - 1;
    let text = `${what === undefined ? '' : `${what}: `}${(cause as Error).message}; ${committedText(committed)}`;
    if (openedBy !== undefined) {
      session.rollback(); // SQLite may have rolled it back already
      text += `; the transaction opened by statement ${openedBy} was rolled back`;
    }
    return new ScriptError(text, committed, cause);
  };

  /** Runs one input; returns false on `.quit`. */
  const run = (item: Input): boolean => {
    if (item.kind === 'dot') {
      try {
        const cmd = parseDot(item.line);
        if (cmd.name === 'quit') return false;
        if (isDatabaseDot(cmd)) session.dot(cmd);
        else {
          const text = applySetting(cmd, settings);
          if (text !== undefined) write(text + '\n');
        }
      } catch (cause) {
        throw fail(undefined, cause, count); // the message names the command
      }
      return true;
    }
    count++;
    try {
      session.run(item.sql, settings);
    } catch (cause) {
      throw fail(`statement ${count} (${excerpt(item.sql)})`, cause, count - 1);
    }
    if (session.inTransaction) openedBy ??= count;
    else openedBy = undefined;
    return true;
  };

  const runAll = (): void => {
    for (const line of lines) for (const item of input.push(line)) if (!run(item)) return;
    for (const item of input.finish()) if (!run(item)) return;
  };
  runAll();
  if (openedBy !== undefined) {
    session.rollback();
    throw new ScriptError(`the script ended inside the transaction opened by statement ${openedBy} (no COMMIT); it was rolled back; ${committedText(openedBy - 1)}`, openedBy - 1);
  }
}
