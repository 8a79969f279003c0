/**
 * Reading a file descriptor line by line, synchronously, in time linear in the input and memory
 * bounded by the longest line allowed.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { CodecError } from '../base/errors.ts';

const CHUNK = 1 << 16;

/** The longest line read by default, in characters: 64 Mi (a JSON change line holds its value in hex). */
export const MAX_LINE_CHARS = 64 * 1024 * 1024;

/**
 * Lines of a file descriptor (UTF-8, `\n` or `\r\n`), read in 64 KiB chunks. Throws
 * {@link CodecError} as soon as a line grows past `maxLineChars`, without reading the rest of it.
 */
/**
 * Reads the next chunk of `fd` into `buf`; 0 at the end. A non-blocking descriptor with nothing yet
 * (EAGAIN: a pipe whose writer is slow) is read again; EOF from a terminal counts as the end.
 */
export function readChunk(fd: number, buf: Uint8Array): number {
  for (;;) {
    try {
      return readSync(fd, buf, 0, buf.length, null);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EAGAIN') continue;
      if ((err as NodeJS.ErrnoException).code === 'EOF') return 0;
      throw err;
    }
  }
}

export function* readLines(fd: number, maxLineChars = MAX_LINE_CHARS): Generator<string> {
  const buf = Buffer.allocUnsafe(CHUNK);
  const decoder = new TextDecoder('utf-8');
  // The current line's text so far, in pieces: each chunk is scanned once, and joined once per line.
  let parts: string[] = [];
  let length = 0;
  let lineNo = 0;
  const tooLong = (n: number): never => {
    throw new CodecError(`line ${n} is longer than ${maxLineChars} characters (the limit for one line)`);
  };
  /** The lines `text` completes (the rest is kept for the next chunk). */
  const take = (text: string): string[] => {
    const done: string[] = [];
    let start = 0;
    let nl: number;
    while ((nl = text.indexOf('\n', start)) >= 0) {
      let line = text.slice(start, nl);
      if (parts.length > 0) {
        parts.push(line);
        line = parts.join('');
        parts = [];
      }
      if (line.length > maxLineChars) tooLong(lineNo + done.length + 1);
      done.push(line.endsWith('\r') ? line.slice(0, -1) : line);
      length = 0;
      start = nl + 1;
    }
    if (start < text.length) {
      length += text.length - start;
      if (length > maxLineChars) tooLong(lineNo + done.length + 1);
      parts.push(start === 0 ? text : text.slice(start));
    }
    return done;
  };
  for (;;) {
    const n = readChunk(fd, buf);
    if (n === 0) break;
    for (const line of take(decoder.decode(buf.subarray(0, n), { stream: true }))) {
      lineNo++;
      yield line;
    }
  }
  for (const line of take(decoder.decode())) {
    lineNo++;
    yield line;
  }
  const last = parts.join('');
  if (last.length > 0) yield last;
}

/** Lines of a file (or of standard input for `-`/undefined); see {@link readLines} for the limit. */
export function* readFileLines(path: string | undefined, maxLineChars = MAX_LINE_CHARS): Generator<string> {
  if (path === undefined || path === '-') {
    yield* readLines(0, maxLineChars);
    return;
  }
  const fd = openSync(path, 'r');
  try {
    yield* readLines(fd, maxLineChars);
  } finally {
    closeSync(fd);
  }
}
