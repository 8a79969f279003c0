/**
 * Following a remote: one long sync session that keeps delivering the remote's changes as they
 * happen. Every batch is staged durably; each complete one is merged at once. When the session
 * breaks, it reconnects and resumes after the last complete batch.
 */
import type { Engine } from '../engine/engine.ts';
import type { FrameChannel } from '../sync/channel.ts';
import { openSession } from '../sync/session.ts';
import { mergeStaged, type MergeOutcome } from './fetch.ts';
import type { Staging } from './staging.ts';

export type FollowEvent =
  | { type: 'connected'; remote: string; siteId: Uint8Array }
  | { type: 'merged'; remote: string; outcome: MergeOutcome }
  | { type: 'caught-up'; remote: string; version: number }
  | { type: 'disconnected'; remote: string; error?: Error };

export interface FollowOptions {
  signal: AbortSignal;
  onEvent?: (e: FollowEvent) => void;
  /** First wait before reconnecting (ms); doubles up to `maxRetryMs`. */
  retryMs?: number;
  maxRetryMs?: number;
}

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done);
  });

export async function followRemote(engine: Engine, staging: Staging, remote: string, connect: (signal: AbortSignal) => Promise<FrameChannel>, options: FollowOptions): Promise<void> {
  const emit = options.onEvent ?? (() => {});
  const first = options.retryMs ?? 500;
  let wait = first;
  while (!options.signal.aborted) {
    let channel: FrameChannel | undefined;
    try {
      channel = await connect(options.signal);
      const state = staging.state(remote);
      const since = state ? Math.max(state.version, engine.trackedVersion(state.siteId)) : 0;
      const session = await openSession(channel, { siteId: engine.siteId, schema: engine.crrs(), since, follow: true });
      const siteId = session.welcome.siteId;
      if (state && Buffer.compare(state.siteId, siteId) !== 0) staging.forget(remote);
      else staging.dropIncomplete(remote);
      emit({ type: 'connected', remote, siteId });
      wait = first;
      const stop = (): void => channel?.abort(new Error('stopped'));
      options.signal.addEventListener('abort', stop);
      try {
        for await (const m of session.messages) {
          if (m.type === 'batch') {
            staging.stage(remote, siteId, { changes: m.changes, version: m.version, complete: m.complete });
            if (m.complete) emit({ type: 'merged', remote, outcome: mergeStaged(engine, staging, remote) });
          } else {
            staging.stage(remote, siteId, { changes: [], version: m.version, complete: true });
            if (staging.count(remote) > 0) emit({ type: 'merged', remote, outcome: mergeStaged(engine, staging, remote) });
            else engine.trackPeer({ siteId, version: m.version });
            emit({ type: 'caught-up', remote, version: m.version });
          }
        }
      } finally {
        options.signal.removeEventListener('abort', stop);
      }
      emit({ type: 'disconnected', remote });
    } catch (err) {
      if (options.signal.aborted) break;
      emit({ type: 'disconnected', remote, error: err as Error });
    } finally {
      channel?.abort(new Error('session over'));
    }
    await sleep(wait, options.signal);
    wait = Math.min(wait * 2, options.maxRetryMs ?? 10_000);
  }
}
