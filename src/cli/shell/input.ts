/**
 * The shell's input buffer: lines go in, complete statements come out, as in the sqlite3 shell. A
 * line starting with `.` while no statement is pending is a dot command.
 */
import { splitStatements } from '../statements.ts';

/** One unit of work from the input: an SQL statement or a dot command line. */
export type Input = { kind: 'sql'; sql: string } | { kind: 'dot'; line: string };

export class InputBuffer {
  private text = '';

  /** Whether an unfinished statement is waiting for more lines (the prompt shows continuation). */
  get pending(): boolean {
    return this.text.trim() !== '';
  }

  /** Adds a line; returns the statements (or the dot command) it completes. */
  push(line: string): Input[] {
    if (!this.pending && line.trimStart().startsWith('.')) {
      this.text = '';
      return [{ kind: 'dot', line: line.trim() }];
    }
    this.text += line + '\n';
    // Only a `;` can end a statement: skip rescanning a long statement on each of its lines.
    if (!line.includes(';')) return [];
    const { statements, rest } = splitStatements(this.text);
    this.text = rest.trim() === '' ? '' : rest;
    return statements.map((sql) => ({ kind: 'sql', sql }));
  }

  /** At the end of input: the unfinished statement, run as if it ended with `;` (as sqlite3 does). */
  finish(): Input[] {
    const { statements, rest, restHasSql } = splitStatements(this.text);
    this.text = '';
    const all = restHasSql ? [...statements, rest.trim()] : statements;
    return all.map((sql) => ({ kind: 'sql', sql }));
  }

  /** Forgets the unfinished statement (Ctrl-C, or after a failed statement). */
  clear(): void {
    this.text = '';
  }
}
