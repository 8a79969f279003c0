/** What every command gets: the repository (opened lazily from `-C` or the current folder) and output. */
import { resolve } from 'node:path';
import { Repository } from '../index.ts';

export interface Context {
  /** The folder the command works in (`-C`, default: the current folder). */
  dir(): string;
  /** The repository there (opened on first use, closed when the command ends). */
  repo(): Repository;
  /** Prints a line on standard output. */
  out(line: string): void;
  /** Closes what the command opened. */
  close(): void;
}

export function createContext(getDir: () => string | undefined): Context {
  let repo: Repository | undefined;
  return {
    dir: () => resolve(getDir() ?? process.cwd()),
    repo() {
      if (!repo) {
        repo = Repository.open(this.dir());
        repo.onNotice = (message) => void process.stderr.write(`ddcp: warning: ${message.replace(/\s*\n\s*/g, ' ')}\n`);
      }
      return repo;
    },
    out: (line) => void process.stdout.write(line + '\n'),
    close() {
      repo?.close();
      repo = undefined;
    },
  };
}
