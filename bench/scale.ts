/**
 * Scale: the repository pull and the p2p initial sync at a large size (1,000,000 rows = 3,000,000
 * changes by default) against the same measurements at the bench's base size in the same run. The
 * cost per change should stay within 1.2× and peak memory flat.
 */
import { measurePull, type PullResult } from './pull.ts';
import { measureP2pSync, type P2pSyncResult } from './p2p.ts';
import type { Scratch } from './util.ts';

export interface ScaleResults {
  rows: number;
  pull: { base: PullResult; large: PullResult };
  p2p: { base: P2pSyncResult; large: P2pSyncResult };
}

/** Measures pull and p2p initial sync at `rows`, to set beside `base` results of the same run. */
export async function measureScale(scratch: Scratch, rows: number, base: { pull: PullResult; p2p: P2pSyncResult }, log: (m: string) => void): Promise<ScaleResults> {
  log(`scale: repository pull, ${rows.toLocaleString('en-US')} rows`);
  const pull = await measurePull(scratch, rows);
  log(`scale: p2p initial sync, ${rows.toLocaleString('en-US')} rows`);
  const p2p = await measureP2pSync(scratch, rows);
  return { rows, pull: { base: base.pull, large: pull }, p2p: { base: base.p2p, large: p2p } };
}

export function scaleReport(r: ScaleResults): string {
  const fmt = (x: number): string => Math.round(x).toLocaleString('en-US');
  const usPer = (ms: number, changes: number): number => (ms * 1000) / changes;
  const status = (ok: boolean): string => (ok ? 'PASS' : 'MISS');
  const lines = ['', `## Scale: ${fmt(r.pull.base.rows)} against ${fmt(r.rows)} rows`, ''];
  lines.push('| | rows | changes | µs per change | cost ÷ base (target ≤ 1.2×) | peak RSS | peak ÷ base |');
  lines.push('|---|---:|---:|---:|---:|---:|---:|');
  const row = (label: string, base: { rows: number; changes: number; ms: number }, large: { rows: number; changes: number; ms: number }, peakBase: number, peakLarge: number): void => {
    const cost = usPer(large.ms, large.changes) / usPer(base.ms, base.changes);
    lines.push(`| ${label} | ${fmt(base.rows)} | ${fmt(base.changes)} | ${usPer(base.ms, base.changes).toFixed(2)} | | ${peakBase.toFixed(0)} MiB | |`);
    lines.push(`| ${label} | ${fmt(large.rows)} | ${fmt(large.changes)} | ${usPer(large.ms, large.changes).toFixed(2)} | ${cost.toFixed(2)}× ${status(cost <= 1.2)} | ${peakLarge.toFixed(0)} MiB | ${(peakLarge / peakBase).toFixed(2)}× |`);
  };
  row('`Repository.pull`', r.pull.base, r.pull.large, r.pull.base.maxRssMiB, r.pull.large.maxRssMiB);
  const peak = (s: P2pSyncResult): number => Math.max(s.serverMaxRssMiB, s.clientMaxRssMiB);
  row('p2p initial sync (peak of either side)', r.p2p.base, r.p2p.large, peak(r.p2p.base), peak(r.p2p.large));
  lines.push('');
  lines.push('The same measurements as the pull and peer-to-peer tables above, at the larger size (`BENCH_SCALE_ROWS`, 0 to skip).');
  lines.push('');
  return lines.join('\n');
}
