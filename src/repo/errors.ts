/** Errors of the repository layer. */
import { DdcpError } from '../base/errors.ts';

/** There is no repository at (or above) the given folder. */
export class NotARepositoryError extends DdcpError {
  override name = 'NotARepositoryError';
}

/** A repository is already there. */
export class RepositoryExistsError extends DdcpError {
  override name = 'RepositoryExistsError';
}

/** The repository's own files are unreadable or inconsistent. */
export class RepositoryError extends DdcpError {
  override name = 'RepositoryError';
}
