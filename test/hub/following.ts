/** A repository following its hub remote while a test runs, and waiting on what it reports. */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Repository } from '../../src/index.ts';
import type { FollowEvent } from '../../src/repo/follow.ts';

/** Waits until `check()` holds (the test's timeout bounds it). */
export async function until(check: () => boolean): Promise<void> {
  while (!check()) await sleep(10);
}

/** `repo` following its 'origin' (pushing too) while `fn` runs; `fn` gets the follow's events. */
export async function following<T>(repo: Repository, fn: (events: FollowEvent[]) => Promise<T>): Promise<T> {
  const ac = new AbortController();
  const feed = repo.feed();
  const events: FollowEvent[] = [];
  const done = repo.follow('origin', repo.link(repo.remote('origin')).dial, { signal: ac.signal, push: feed, retryMs: 20, maxRetryMs: 200, onEvent: (e) => events.push(e) }).catch(() => {});
  try {
    return await fn(events);
  } finally {
    ac.abort();
    await done;
    feed.stop();
  }
}

/** Whether the events hold a disconnection whose error matches `re`. */
export const disconnected = (events: FollowEvent[], re: RegExp): boolean => events.some((e) => e.type === 'disconnected' && re.test(e.error?.message ?? ''));
