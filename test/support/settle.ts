/**
 * Starting several things at once in a `before()`: `Promise.all` rejects at the first failure while
 * the others still start, and what they start then is never handed to `after()` to stop — a hub left
 * listening keeps the test process alive until the runner's timeout (a missing Chromium hung two
 * browser files for ~17 minutes that way).
 */

/** Waits for every promise to settle, then returns their values, or throws the first rejection. */
export async function allStarted<T extends readonly unknown[]>(promises: { [K in keyof T]: Promise<T[K]> }): Promise<T> {
  const settled = await Promise.allSettled(promises);
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<unknown>).value) as unknown as T;
}
