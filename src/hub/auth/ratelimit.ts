/**
 * Failed attempts, counted per key (a remote address, an API key, a device address) in fixed
 * windows: once a key has {@link RateLimitOptions.maxFailures} failures in a window, it is blocked
 * until the window ends (what a block refuses is the caller's rule: see authenticator.ts). Counts are
 * per process (several hubs each count their own: the limit an attacker meets grows with the number
 * of hubs, not unbounded).
 */

export interface RateLimitOptions {
  /** Failures allowed per key and window (default 10). */
  maxFailures?: number;
  /** The window (ms, default 60 000). */
  windowMs?: number;
  /** Keys remembered at most; the oldest go first beyond it (default 100 000). */
  maxKeys?: number;
}

interface Window {
  count: number;
  until: number;
}

export class FailureLimiter {
  readonly #max: number;
  readonly #windowMs: number;
  readonly #maxKeys: number;
  readonly #windows = new Map<string, Window>();

  constructor(options: RateLimitOptions = {}) {
    this.#max = options.maxFailures ?? 10;
    this.#windowMs = options.windowMs ?? 60_000;
    this.#maxKeys = options.maxKeys ?? 100_000;
  }

  /** Whether any of `keys` has used up its failures in the current window. */
  blocked(keys: readonly string[], now: number): boolean {
    return keys.some((k) => {
      const w = this.#windows.get(k);
      return w !== undefined && w.until > now && w.count >= this.#max;
    });
  }

  /** Whether `key` has any failure in its current window. */
  failed(key: string, now: number): boolean {
    const w = this.#windows.get(key);
    return w !== undefined && w.until > now;
  }

  /** Counts one failure against each of `keys`. */
  fail(keys: readonly string[], now: number): void {
    for (const k of keys) {
      const w = this.#windows.get(k);
      if (w && w.until > now) w.count++;
      else {
        this.#windows.delete(k); // re-inserted last: the map stays in order of window start
        this.#windows.set(k, { count: 1, until: now + this.#windowMs });
      }
    }
    if (this.#windows.size > this.#maxKeys) this.#trim(now);
  }

  /** Drops ended windows, then the oldest ones, down to the bound. */
  #trim(now: number): void {
    for (const [k, w] of this.#windows) if (w.until <= now) this.#windows.delete(k);
    for (const k of this.#windows.keys()) {
      if (this.#windows.size <= this.#maxKeys) break;
      this.#windows.delete(k);
    }
  }
}
