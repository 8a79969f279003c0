/**
 * The interactive shell's statement runner, a child process: opens the repository, runs the requests
 * it is sent (see protocol.ts) and writes their rows to standard output (inherited). The shell kills
 * it to cancel a statement (SQLite rolls back what it didn't commit) and starts another.
 */
import { writeSync } from 'node:fs';
import { registerFunctions } from '../../index.ts';
import { Repository } from '../../index.ts';
import type { Fatal, Reply, Request } from './protocol.ts';
import { SqlSession } from './session.ts';

const CHUNK = 1 << 16;

/** Standard output, written synchronously in chunks (done means shown, before the shell's next prompt). */
function createOutput(): { write(text: string): void; flush(): void } {
  let pending = '';
  const flush = (): void => {
    let buf = Buffer.from(pending, 'utf8');
    pending = '';
    while (buf.length > 0) {
      try {
        buf = buf.subarray(writeSync(1, buf));
      } catch (err) {
        // A non-blocking pipe is full: wait for the reader.
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
      }
    }
  };
  return {
    write(text) {
      pending += text;
      if (pending.length >= CHUNK) flush();
    },
    flush,
  };
}

function main(dir: string): void {
  // Ctrl-C is the shell's to handle (it kills this process when a statement should stop).
  process.on('SIGINT', () => {});
  const send = (m: Reply | Fatal): void => void process.send!(m);
  const out = createOutput();
  let repo: Repository;
  let session: SqlSession;
  try {
    repo = Repository.open(dir);
    repo.onNotice = (message) => void process.stderr.write(`ddcp: warning: ${message}\n`);
    registerFunctions(repo.engine);
    session = new SqlSession(repo, out.write);
  } catch (err) {
    send({ fatal: (err as Error).message });
    process.disconnect();
    return;
  }
  process.on('message', (req: Request) => {
    let error: string | undefined;
    try {
      if (req.kind === 'sql') session.run(req.sql, req.settings);
      else session.dot(req.cmd);
    } catch (err) {
      error = (err as Error).message;
    }
    try {
      out.flush();
    } catch {
      // standard output went away (EPIPE): nothing more to show, the reply still matters
    }
    send(error === undefined ? { id: req.id, inTransaction: session.inTransaction } : { id: req.id, error, inTransaction: session.inTransaction });
  });
  // The shell left (or died): close the connection; an open transaction is rolled back.
  process.on('disconnect', () => {
    repo.close();
    process.exit(0);
  });
}

main(process.argv[2] ?? process.cwd());
