/**
 * A progress line on standard error for work that takes more than a moment — only on a terminal,
 * never in pipes or logs. A bar shows when a total is known: the changes of a merge or a bundle, or
 * for a fetch the peer's versions (a fetch can't know its count of changes before they arrive).
 */
import { plural } from './format.ts';

const DELAY_MS = 400;
const INTERVAL_MS = 100;
const WIDTH = 30;

/** How far a fetch is through the peer's versions (transactions). */
export interface VersionProgress {
  done: number;
  total: number;
}

export interface ProgressBar {
  /** Whether a line can show at all (standard error is a terminal): skip work done only for it. */
  readonly active: boolean;
  update(label: string, done: number, total?: number, versions?: VersionProgress): void;
  done(): void;
}

const num = (n: number): string => n.toLocaleString('en');
const bar = (frac: number): string => {
  const filled = Math.round(Math.min(1, Math.max(0, frac)) * WIDTH);
  return `[${'='.repeat(filled)}${' '.repeat(WIDTH - filled)}]`;
};

/** The progress line's text (without terminal control): a bar and counts when a total is known. */
export function progressLine(label: string, done: number, total?: number, versions?: VersionProgress): string {
  if (total !== undefined && total > 0) return `${label} ${bar(done / total)} ${num(done)}/${num(total)} ${plural(total, 'change')}`;
  const changes = `${num(done)} ${plural(done, 'change')}`;
  if (versions && versions.total > 0) {
    const at = Math.min(versions.done, versions.total);
    return `${label} ${bar(at / versions.total)} ${changes}; ${num(at)}/${num(versions.total)} ${plural(versions.total, 'version')}`;
  }
  return `${label} ${changes}`;
}

export function progressBar(stream: NodeJS.WriteStream = process.stderr): ProgressBar {
  const started = Date.now();
  let last = 0;
  let shown = false;
  return {
    active: stream.isTTY === true,
    update(label, done, total, versions) {
      if (!stream.isTTY) return;
      const now = Date.now();
      if (now - started < DELAY_MS || now - last < INTERVAL_MS) return;
      last = now;
      shown = true;
      stream.write(`\r${progressLine(label, done, total, versions).slice(0, (stream.columns ?? 80) - 1)}\x1b[K`);
    },
    done() {
      if (shown && stream.isTTY) stream.write('\r\x1b[K');
    },
  };
}
