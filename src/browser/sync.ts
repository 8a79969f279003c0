/**
 * A browser replica's live sync with a hub database: one following session both ways over the
 * browser's WebSocket, reconnecting with jittered backoff (repo/follow.ts's rules) when it breaks.
 *
 * Pull: each complete batch is merged at once, in one transaction that also records the hub's
 * version we now hold — a cut session resumes exactly after what was durably merged, and nothing is
 * applied twice. A version spanning several batches waits in memory until complete (a cut drops it;
 * the next session sends it again). Push: the engine's changes after what the hub reports holding of
 * ours; local writes wake the sender at once ({@link EngineFeed.notify}).
 */
import type { Change, Engine, TableInfo } from '../engine/index.ts';
import { batchByVersion, type Batch } from '../sync/batches.ts';
import { runSession, type PullTarget } from '../sync/client.ts';
import { Gate, growingFit, SchemaFitError } from '../sync/gate.ts';
import { misfitObject } from '../sync/compat.ts';
import type { Welcome } from '../sync/messages.ts';
import type { ChangeFeed, FeedRequest } from '../sync/ports.ts';
import { isIdentityRefusal, isSchemaMisfit, nextRetryWait, outgrewSession, retryDelay } from '../repo/follow.ts';
import type { ConnectionState } from '../repo/connection.ts';
import { dialBrowserWs, type BrowserWsFrameStream } from '../transport/ws/browser.ts';
import { FrameError } from '../transport/frames.ts';
import type { BrowserIdentity } from './identity.ts';

/** The engine as a sync feed: read in one go (the single connection is never left inside a read). */
export class EngineFeed implements ChangeFeed {
  readonly #engine: Engine;
  #waiters = new Set<() => void>();
  constructor(engine: Engine) {
    this.#engine = engine;
  }
  get siteId(): Uint8Array {
    return this.#engine.siteId;
  }
  schema() {
    return this.#engine.crrs();
  }
  version(): number {
    return this.#engine.dbVersion();
  }
  async *batches(since: number, request: FeedRequest): AsyncGenerator<Batch> {
    const at = this.#engine.dbVersion();
    // Read whole, synchronously: a generator suspended between batches would hold a read
    // transaction open on the one connection the page writes through.
    const batches = [...batchByVersion(this.#engine.changesSince(since, request), undefined, since)];
    const last = batches.at(-1)?.version ?? since;
    yield* batches;
    yield { changes: [] as Change[], version: Math.max(at, last), complete: true };
  }
  changed(signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const done = (): void => {
        this.#waiters.delete(done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      this.#waiters.add(done);
      signal.addEventListener('abort', done);
    });
  }
  /** Local changes were committed: wake the senders. */
  notify(): void {
    for (const wake of [...this.#waiters]) wake();
  }
}

/** Merges the hub's batches straight into the engine (see the file's comment). */
class MergeTarget implements PullTarget {
  readonly #engine: Engine;
  readonly #source: string;
  readonly #onMerged: (applied: number) => void;
  readonly #fits: ReturnType<typeof growingFit>;
  #hub: Welcome | undefined;
  #pending: Change[] = [];

  constructor(engine: Engine, source: string, onMerged: (applied: number) => void) {
    this.#engine = engine;
    this.#source = source;
    this.#onMerged = onMerged;
    this.#fits = growingFit(() => engine.crrs());
  }
  from() {
    return { since: 0, held: this.#engine.trackedPeers() };
  }
  welcome(w: Welcome): void {
    this.#hub = w;
  }
  batch(batch: Batch): void {
    for (const c of batch.scan ? batch.scan.columns : batch.changes) {
      const misfit = this.#fits(c);
      if (misfit) throw new SchemaFitError(`the hub sends changes for ${misfitObject(misfit)} (schemas differ)`, misfit);
    }
    if (!batch.complete) {
      this.#pending.push(...batch.changes);
      return;
    }
    const changes = this.#pending.length > 0 ? [...this.#pending, ...batch.changes] : batch.changes;
    this.#pending = [];
    this.#merge(changes, batch.version);
  }
  caughtUp(version: number): void {
    if (version > this.#engine.trackedVersion(this.#hub!.siteId)) this.#merge([], version);
  }
  #merge(changes: Change[], version: number): void {
    const hub = this.#hub!;
    const r = Gate.default.admit(this.#engine, changes, {
      source: this.#source,
      trackPeer: { siteId: hub.siteId, version },
      bind: { siteId: hub.siteId, owner: hub.proof.address },
    });
    if (r.applied > 0) this.#onMerged(r.applied);
  }
}

/** How often the browser's network state is looked at (ms). */
export const NETWORK_POLL_MS = 200;

/**
 * Calls `changed(online)` when `navigator.onLine` changes, until the returned function is called. Polled,
 * not only heard: a dedicated worker sees `navigator.onLine` change but, in Chromium, gets no
 * online/offline events.
 */
function watchNetwork(changed: (online: boolean) => void): () => void {
  const nav = (globalThis as unknown as { navigator?: { onLine?: boolean } }).navigator;
  if (typeof nav?.onLine !== 'boolean') return () => {};
  let last = nav.onLine;
  const timer = setInterval(() => {
    if (nav.onLine === last) return;
    last = nav.onLine!;
    changed(last);
  }, NETWORK_POLL_MS);
  return () => clearInterval(timer);
}

/** The longest wait between reconnection attempts (ms): a browser's user is watching. */
export const MAX_RETRY_MS = 3_000;

export interface HubConnection {
  /** `ws[s]://host:port/<database>`. */
  url: string;
  /** A user token for the hub (ask your backend for one). */
  token?: string;
}

export interface SyncEvents {
  onState(state: ConnectionState, error?: string): void;
  /** Changes from the hub were merged. */
  onMerged(applied: number): void;
}

/** Follows a hub database until `stop()`; reports its connection state. */
export class HubSync {
  readonly #controller = new AbortController();
  readonly done: Promise<void>;
  #token: string | undefined;
  #stream: BrowserWsFrameStream | undefined;
  #state: ConnectionState = 'offline';

  constructor(engine: Engine, feed: EngineFeed, identity: BrowserIdentity, hub: HubConnection, events: SyncEvents) {
    this.#token = hub.token;
    const signal = this.#controller.signal;
    const setState = (state: ConnectionState, error?: string): void => {
      if (state === this.#state) return;
      this.#state = state;
      events.onState(state, error);
    };
    this.done = (async () => {
      const first = 250;
      let wait = first;
      let cleanup = (): void => {};
      while (!signal.aborted) {
        let schema: TableInfo[] = [];
        try {
          const stream = await dialBrowserWs(hub.url, { token: this.#token, signal });
          this.#stream = stream;
          // The browser knows at once when it loses the network; an open socket may not notice for long.
          cleanup = watchNetwork((online) => {
            if (!online) stream.abort(new FrameError('the browser went offline'));
          });
          const target = new MergeTarget(engine, hub.url, events.onMerged);
          await runSession(stream, {
            siteId: engine.siteId,
            proof: identity.proof(engine.siteId),
            address: identity.address,
            schema: (schema = engine.crrs()),
            pull: {
              from: () => target.from(),
              welcome: (w) => {
                target.welcome(w);
                wait = first;
                setState('online');
              },
              batch: (b) => target.batch(b),
              caughtUp: (v) => target.caughtUp(v),
            },
            push: feed,
            follow: true,
            signal,
          });
        } catch (err) {
          if (signal.aborted) break;
          // A table made a CRR (or documents first used) while online: say hello again at once.
          if (outgrewSession(err, schema, () => engine.crrs())) {
            wait = first;
            continue;
          }
          const fatal = isSchemaMisfit(err) || isIdentityRefusal(err);
          setState(fatal ? 'offline' : 'reconnecting', (err as Error).message);
          if (fatal) return;
        } finally {
          this.#stream = undefined;
          cleanup();
        }
        if (signal.aborted) break;
        setState('reconnecting');
        // The browser coming back online cuts the wait short.
        await new Promise<void>((resolve) => {
          const t = setTimeout(done, retryDelay(wait));
          const unwatch = watchNetwork((online) => online && done());
          function done(): void {
            clearTimeout(t);
            unwatch();
            signal.removeEventListener('abort', done);
            resolve();
          }
          signal.addEventListener('abort', done);
        });
        wait = nextRetryWait(wait, MAX_RETRY_MS);
      }
      setState('offline');
    })();
  }

  get state(): ConnectionState {
    return this.#state;
  }

  /** A fresh token: used by the open session at once (the hub's `refresh`) and by every later dial. */
  setToken(token: string): void {
    this.#token = token;
    this.#stream?.control({ type: 'refresh', token });
  }

  /** Stops following (the session is hung up) and waits for it to end. */
  async stop(): Promise<void> {
    this.#controller.abort();
    await this.done;
  }
}
