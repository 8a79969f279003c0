/** Exit codes (documented in the README) and one-line error reporting. */
import { DdcpError } from '../index.ts';

export const ExitCode = {
  Ok: 0,
  /** The operation failed: bad input, an SQL error, a schema mismatch. Nothing was half-applied. */
  Failure: 1,
  /** The command line is wrong (unknown command or option, missing argument). */
  Usage: 2,
  /** No repository here, or its files are damaged. */
  Repository: 3,
} as const;

/** A failure the CLI reports as one line with a chosen exit code. */
export class CliError extends DdcpError {
  override name = 'CliError';
  readonly exitCode: number;
  constructor(message: string, exitCode: number = ExitCode.Failure, options?: { cause?: unknown }) {
    super(message, options);
    this.exitCode = exitCode;
  }
}

/**
 * Exit 3 is for "no repository here, or it is damaged". A repository that already exists (a second
 * `init`) is an ordinary failure (1): the repository is fine, the command was not.
 */
const REPOSITORY_ERRORS = new Set(['NotARepositoryError', 'RepositoryError']);

/** One remote of a multi-remote command that failed, with why. */
export interface RemoteFailure {
  remote: string;
  error: string;
}

/**
 * Some remotes of a `fetch`/`pull` failed (the others were done and reported). Printed as one
 * `ddcp: error: REMOTE: cause` line per failed remote; exit 1.
 */
export class RemotesFailedError extends CliError {
  override name = 'RemotesFailedError';
  readonly failures: RemoteFailure[];
  constructor(failures: RemoteFailure[]) {
    super(failures.map((f) => `${f.remote}: ${f.error}`).join('; '), ExitCode.Failure);
    this.failures = failures;
  }
}

/** Exit code for an error. */
export function exitCodeOf(err: unknown): number {
  if (err instanceof CliError) return err.exitCode;
  if (err instanceof Error && REPOSITORY_ERRORS.has(err.name)) return ExitCode.Repository;
  return ExitCode.Failure;
}

/**
 * An error as one line of text: line breaks folded, and every other control character (C0, DEL, C1)
 * shown escaped — a message may carry a remote's words (a hub's refusal), which must not reach the
 * terminal as escape sequences (retitling, clearing or rewriting what the user sees).
 */
const oneLine = (msg: string): string =>
  `ddcp: error: ${msg.replace(/\s*\n\s*/g, ' ').replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)}`;

/** What is printed for an error: the message flattened to one line (one line per failed remote). */
export function errorLine(err: unknown): string {
  if (err instanceof RemotesFailedError) return err.failures.map((f) => oneLine(`${f.remote}: ${f.error}`)).join('\n');
  return oneLine(err instanceof Error ? err.message : String(err));
}

/**
 * For a server command: a closed standard output (`ddcp hub serve | head -1`) no longer ends the
 * process — whoever read the banner went away, the peers it serves did not.
 */
export function outliveStdout(): void {
  process.stdout.removeAllListeners('error');
  process.stdout.on('error', () => {});
}
