/** Checking a whole bundle without applying it. */
import type { BundleHeader, BundleSummary } from './format.ts';
import { BundleReader } from './reader.ts';

/**
 * Reads a whole bundle, checking everything, without keeping its changes: the header and what the
 * file holds. Throws {@link BundleError} if it is damaged.
 */
export function verifyBundle(path: string, onProgress?: (changes: number) => void): { header: BundleHeader; summary: BundleSummary } {
  const r = BundleReader.open(path);
  const it = r.batches();
  let n = 0;
  for (;;) {
    const step = it.next();
    if (step.done) return { header: r.header, summary: step.value };
    n += step.value.length;
    onProgress?.(n);
  }
}
