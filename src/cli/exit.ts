/** Exit codes (documented in the README) and one-line error reporting. */
import { DdcpError } from '../engine/errors.ts';

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

const REPOSITORY_ERRORS = new Set(['NotARepositoryError', 'RepositoryExistsError', 'RepositoryError']);

/** Exit code for an error. */
export function exitCodeOf(err: unknown): number {
  if (err instanceof CliError) return err.exitCode;
  if (err instanceof Error && REPOSITORY_ERRORS.has(err.name)) return ExitCode.Repository;
  return ExitCode.Failure;
}

/** The one line printed for an error: the message, flattened to one line. */
export function errorLine(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return `ddcp: error: ${msg.replace(/\s*\n\s*/g, ' ')}`;
}
