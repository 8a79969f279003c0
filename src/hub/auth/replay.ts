/**
 * The replay cache of admin signatures: a signature is recorded in the store until its timestamp
 * leaves the window, and a second call with it is refused. Being in the store (one table, an atomic
 * insert) it holds across every hub process on one PostgreSQL; the store sweeps expired entries.
 */
import { SIGNATURE_WINDOW_MS } from './hmac.ts';
import type { AuthStore } from './store.ts';

const SCOPE = 'hmac';

export class ReplayCache {
  readonly #store: AuthStore;
  readonly #windowMs: number;

  constructor(store: AuthStore, windowMs: number = SIGNATURE_WINDOW_MS) {
    this.#store = store;
    this.#windowMs = windowMs;
  }

  /** True the first time `signature` (made at `timestamp`) is seen; false for a replay. */
  accept(signature: string, timestamp: number, now: number): Promise<boolean> {
    // Kept until the timestamp is out of the window: after that the window check refuses it anyway.
    return this.#store.addNonce(SCOPE, signature, timestamp + this.#windowMs + 1, now);
  }
}
