/** The latency histogram of the hub load run, shared by its client processes and the driver. */

/** Bucket b holds latencies in [10^(b/100 − 2), 10^((b+1)/100 − 2)) ms: 0.01 ms … 100 s, 2.3 % wide. */
export const BUCKETS = 700;
export const bucketOf = (ms: number): number => Math.max(0, Math.min(BUCKETS - 1, Math.floor((Math.log10(Math.max(ms, 0.01)) + 2) * 100)));
/** A bucket's middle (ms). */
export const bucketMs = (b: number): number => 10 ** ((b + 0.5) / 100 - 2);
