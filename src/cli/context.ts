/** What every command gets: the repository (opened lazily from `-C` or the current folder) and output. */
import { once } from 'node:events';
import { resolve } from 'node:path';
import { Repository } from '../index.ts';

export interface Context {
  /** The folder the command works in (`-C`, default: the current folder). */
  dir(): string;
  /** The repository there (opened on first use, closed when the command ends). */
  repo(): Repository;
  /** Prints a line on standard output. */
  out(line: string): void;
  /**
   * Writes bytes to standard output, handing the buffer over (it must not be changed after); resolves
   * when the stream wants more, so a slow reader (a pipe) holds the writer back instead of memory growing.
   */
  write(bytes: Uint8Array): Promise<void>;
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
    write: async (bytes) => {
      if (!process.stdout.write(bytes)) await once(process.stdout, 'drain');
    },
    close() {
      repo?.close();
      repo = undefined;
    },
  };
}
