/** Reading a file descriptor line by line, synchronously and in bounded memory. */
import { closeSync, openSync, readSync } from 'node:fs';

const CHUNK = 1 << 16;

/** Lines of a file descriptor (UTF-8, `\n` or `\r\n`), read in 64 KiB chunks. */
export function* readLines(fd: number): Generator<string> {
  const buf = Buffer.allocUnsafe(CHUNK);
  const decoder = new TextDecoder('utf-8');
  let pending = '';
  for (;;) {
    let n: number;
    try {
      n = readSync(fd, buf, 0, CHUNK, null);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EAGAIN') continue;
      if ((err as NodeJS.ErrnoException).code === 'EOF') n = 0;
      else throw err;
    }
    if (n === 0) break;
    pending += decoder.decode(buf.subarray(0, n), { stream: true });
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      yield line.endsWith('\r') ? line.slice(0, -1) : line;
    }
  }
  pending += decoder.decode();
  if (pending.length > 0) yield pending;
}

/** Lines of a file (or of standard input for `-`/undefined). */
export function* readFileLines(path: string | undefined): Generator<string> {
  if (path === undefined || path === '-') {
    yield* readLines(0);
    return;
  }
  const fd = openSync(path, 'r');
  try {
    yield* readLines(fd);
  } finally {
    closeSync(fd);
  }
}
