/** What every command gets: the repository (opened lazily from `-C` or the current folder) and output. */
import { once } from 'node:events';
import { resolve } from 'node:path';
import { Repository } from '../index.ts';
import { CliError, ExitCode } from './exit.ts';

export interface Context {
  /**
   * The folder the command works in (`-C`, default: the current folder). A `-C` folder must exist
   * (else a typo would fall through to a repository around it), unless `create` (init makes it).
   */
  dir(options?: { create?: boolean }): string;
  /** The repository there (opened on first use, closed when the command ends). */
  repo(): Repository;
  /** Prints a line on standard output. */
  out(line: string): void;
  /**
   * Writes bytes to standard output, handing the buffer over (it must not be changed after); resolves
   * when the stream wants more, so a slow reader (a pipe) holds the writer back instead of memory growing.
   * `written`, if given, is called with `bytes` once they are out (or failed to be): the buffer is the
   * caller's again.
   */
  write(bytes: Uint8Array, written?: (bytes: Uint8Array) => void): Promise<void>;
  /** Resolves once everything given to {@link write} is written (or rejects with why it could not be). */
  flush(): Promise<void>;
  /** Closes what the command opened. */
  close(): void;
}

/** Whether file descriptor `fd` is a regular file (`ddcp changes > FILE`), not a pipe or terminal. */
function isRegularFile(fd: number): boolean {
  try {
    return process.getBuiltinModule('node:fs').fstatSync(fd).isFile();
  } catch {
    return false;
  }
}

/** Writes all of `bytes` to `fd` at its current offset, in the thread pool. */
async function writeAll(fd: number, bytes: Uint8Array): Promise<void> {
  const { write } = process.getBuiltinModule('node:fs');
  for (let off = 0; off < bytes.length; ) {
    off += await new Promise<number>((done, fail) => write(fd, bytes, off, bytes.length - off, null, (err, n) => (err ? fail(err) : done(n))));
  }
}

export function createContext(getDir: () => string | undefined): Context {
  let repo: Repository | undefined;
  // Into a regular file, process.stdout writes synchronously: the command waits for each chunk's copy
  // into the file. Written in the thread pool instead, one chunk is copied while the next is built.
  // Pipes and terminals keep process.stdout (its back-pressure, and `| head` ending quietly).
  let toFile: boolean | undefined;
  let writing: Promise<void> | undefined;
  let failed: { err: unknown } | undefined;
  const settle = async (): Promise<void> => {
    await writing;
    writing = undefined;
    if (failed) throw failed.err;
  };
  return {
    dir(options = {}) {
      const given = getDir();
      const dir = resolve(given ?? process.cwd());
      if (given !== undefined && !options.create) {
        const stat = process.getBuiltinModule('node:fs').statSync(dir, { throwIfNoEntry: false });
        if (!stat) throw new CliError(`-C ${given}: no such folder (${dir})`, ExitCode.Repository);
        if (!stat.isDirectory()) throw new CliError(`-C ${given}: not a folder (${dir})`, ExitCode.Repository);
      }
      return dir;
    },
    repo() {
      if (!repo) {
        repo = Repository.open(this.dir());
        repo.onNotice = (message) => void process.stderr.write(`ddcp: warning: ${message.replace(/\s*\n\s*/g, ' ')}\n`);
      }
      return repo;
    },
    out: (line) => void process.stdout.write(line + '\n'),
    write: async (bytes, written) => {
      toFile ??= isRegularFile(1);
      if (!toFile) {
        if (!process.stdout.write(bytes, written && (() => written(bytes)))) await once(process.stdout, 'drain');
        return;
      }
      await settle(); // one chunk in flight at a time, in order
      writing = writeAll(1, bytes).then(
        () => written?.(bytes),
        (err: unknown) => void (failed = { err }),
      );
    },
    flush: settle,
    close() {
      repo?.close();
      repo = undefined;
    },
  };
}
