/**
 * The hub's metrics over time, for the inspector's charts: every {@link SAMPLE_MS} the Prometheus
 * metrics (metrics.ts) are read and turned into one sample — connections, rates of changes in and
 * out per second, refusals, and the fan-out latency of the interval (mean and 95th percentile from
 * the histogram's bucket counts, so an upper bound at the bucket's edge). The last
 * {@link KEEP_SAMPLES} are kept (5 minutes). Reads counters the hub keeps anyway: no cost on the
 * sync path.
 */
import type { HubMetrics } from '../metrics.ts';

export const SAMPLE_MS = 1_000;
export const KEEP_SAMPLES = 300;

export interface Sample {
  /** ms since the epoch. */
  at: number;
  connections: number;
  databases: number;
  /** Changes per second pushed in by clients, and sent out to them, over the interval. */
  inPerSec: number;
  outPerSec: number;
  /** Refusals in the interval. */
  refusals: number;
  /** Fan-out latency in the interval (ms), or null if nothing was fanned out. */
  fanoutMeanMs: number | null;
  fanoutP95Ms: number | null;
}

/** Cumulative readings of the metrics, whose differences make a sample. */
export interface Reading {
  at: number;
  connections: number;
  databases: number;
  changesIn: number;
  changesOut: number;
  refusals: number;
  fanoutSum: number;
  fanoutCount: number;
  /** Cumulative count per bucket upper bound (seconds), ascending, +Inf last. */
  buckets: [number, number][];
}

async function read(metrics: HubMetrics, at: number): Promise<Reading> {
  const [connections, databases, changesIn, changesOut, refusals, fanout] = await Promise.all([
    metrics.connections.get(), metrics.databases.get(), metrics.changesIn.get(), metrics.changesOut.get(), metrics.refusals.get(), metrics.fanout.get(),
  ]);
  const sum = (m: { values: { value: number }[] }): number => m.values.reduce((s, v) => s + v.value, 0);
  const buckets: [number, number][] = [];
  let fanoutSum = 0;
  let fanoutCount = 0;
  for (const v of fanout.values as { value: number; metricName?: string; labels: Record<string, string | number> }[]) {
    if (v.metricName?.endsWith('_bucket')) buckets.push([v.labels.le === '+Inf' ? Infinity : Number(v.labels.le), v.value]);
    else if (v.metricName?.endsWith('_sum')) fanoutSum = v.value;
    else if (v.metricName?.endsWith('_count')) fanoutCount = v.value;
  }
  buckets.sort((a, b) => a[0] - b[0]);
  return { at, connections: sum(connections), databases: sum(databases), changesIn: sum(changesIn), changesOut: sum(changesOut), refusals: sum(refusals), fanoutSum, fanoutCount, buckets };
}

/** The sample between two readings (pure). */
export function sampleOf(prev: Reading, now: Reading): Sample {
  const secs = Math.max(0.001, (now.at - prev.at) / 1000);
  const count = now.fanoutCount - prev.fanoutCount;
  let p95: number | null = null;
  if (count > 0) {
    const want = count * 0.95;
    const before = new Map(prev.buckets);
    for (const [le, c] of now.buckets) {
      if (c - (before.get(le) ?? 0) >= want) {
        p95 = Number.isFinite(le) ? le * 1000 : null;
        break;
      }
    }
  }
  return {
    at: now.at,
    connections: now.connections,
    databases: now.databases,
    inPerSec: (now.changesIn - prev.changesIn) / secs,
    outPerSec: (now.changesOut - prev.changesOut) / secs,
    refusals: now.refusals - prev.refusals,
    fanoutMeanMs: count > 0 ? ((now.fanoutSum - prev.fanoutSum) / count) * 1000 : null,
    fanoutP95Ms: p95,
  };
}

/** Samples a hub's metrics while started. */
export class MetricsSampler {
  readonly #metrics: HubMetrics;
  readonly #samples: Sample[] = [];
  readonly #everyMs: number;
  #last: Reading | undefined;
  #timer: NodeJS.Timeout | undefined;
  #busy = false;

  constructor(metrics: HubMetrics, everyMs = SAMPLE_MS) {
    this.#metrics = metrics;
    this.#everyMs = everyMs;
  }

  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => void this.#tick(), this.#everyMs);
    this.#timer.unref();
    void this.#tick();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** The samples kept, oldest first. */
  samples(): Sample[] {
    return [...this.#samples];
  }

  async #tick(): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    try {
      const now = await read(this.#metrics, Date.now());
      if (this.#last) {
        this.#samples.push(sampleOf(this.#last, now));
        if (this.#samples.length > KEEP_SAMPLES) this.#samples.shift();
      }
      this.#last = now;
    } finally {
      this.#busy = false;
    }
  }
}
