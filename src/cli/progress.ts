/**
 * A progress line on standard error for work that takes more than a moment — only on a terminal,
 * never in pipes or logs.
 */
const DELAY_MS = 400;
const INTERVAL_MS = 100;

export interface ProgressBar {
  update(label: string, done: number, total?: number): void;
  done(): void;
}

export function progressBar(stream: NodeJS.WriteStream = process.stderr): ProgressBar {
  const started = Date.now();
  let last = 0;
  let shown = false;
  return {
    update(label, done, total) {
      if (!stream.isTTY) return;
      const now = Date.now();
      if (now - started < DELAY_MS || now - last < INTERVAL_MS) return;
      last = now;
      shown = true;
      const width = 30;
      let line = `${label} ${done.toLocaleString('en')} changes`;
      if (total && total > 0) {
        const frac = Math.min(1, done / total);
        const filled = Math.round(frac * width);
        line = `${label} [${'='.repeat(filled)}${' '.repeat(width - filled)}] ${done.toLocaleString('en')}/${total.toLocaleString('en')} changes`;
      }
      stream.write(`\r${line.slice(0, (stream.columns ?? 80) - 1)}\x1b[K`);
    },
    done() {
      if (shown && stream.isTTY) stream.write('\r\x1b[K');
    },
  };
}
