/**
 * Messages between the interactive shell and its statement runner (a child process holding the
 * database connection, so Ctrl-C can stop a running statement: node:sqlite can't interrupt one).
 */
import type { DatabaseDot } from './dot-commands.ts';
import type { OutputSettings } from './modes.ts';

/** Run a statement, or a dot command that reads the database; rows go straight to standard output. */
export type Request = { id: number; settings: OutputSettings } & ({ kind: 'sql'; sql: string } | { kind: 'dot'; cmd: DatabaseDot });

/** Done (its output written): the error if it failed, and whether a transaction is open now. */
export interface Reply {
  id: number;
  error?: string;
  inTransaction: boolean;
}

/** Sent instead of replies when the runner can't open the repository. */
export interface Fatal {
  fatal: string;
}
