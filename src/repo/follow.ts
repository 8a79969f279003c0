/**
 * Following a remote: one long sync session that keeps delivering the remote's changes as they
 * happen — each complete batch staged and merged at once — and, when given our feed, sends ours the
 * other way on the same connection. When the session breaks, it reconnects and resumes in both
 * directions (see sync/client.ts).
 */
import { SiteClaimError, type Engine, type TableInfo } from '../engine/index.ts';
import { runSession } from '../sync/client.ts';
import { ProtocolError } from '../sync/messages.ts';
import { SchemaChangedError, schemaKey } from '../sync/declared.ts';
import type { ChangeFeed, Refusal } from '../sync/ports.ts';
import { SchemaFitError, type Gate } from '../sync/gate.ts';
import type { Dial } from '../sync/protocol.ts';
import type { SiteProof } from '../sync/proof.ts';
import { StagingTarget, type MergeOutcome } from './fetch.ts';
import type { Staging } from './staging.ts';
import { sleep } from '../base/sleep.ts';

export type FollowEvent =
  | { type: 'connected'; remote: string; siteId: Uint8Array; pushing: boolean }
  | { type: 'merged'; remote: string; outcome: MergeOutcome }
  | { type: 'caught-up'; remote: string; version: number }
  | { type: 'acked'; remote: string; version: number }
  | { type: 'refused'; remote: string; refusal: Refusal }
  | { type: 'disconnected'; remote: string; error?: Error };

export interface FollowOptions {
  signal: AbortSignal;
  onEvent?: (e: FollowEvent) => void;
  /** Send our changes too (the remote takes them if its policy lets us write). */
  push?: ChangeFeed;
  /** First wait before reconnecting (ms); doubles up to `maxRetryMs`. */
  retryMs?: number;
  maxRetryMs?: number;
  keepAliveMs?: number;
  /** The remote's address as the transport authenticates it (see ClientOptions.peerAddress). */
  peerAddress?: string;
}

/** Who we are in the sessions (Repository.follow fills it in). */
export interface FollowIdentity {
  siteId: Uint8Array;
  proof: SiteProof;
  /** Checks the remote's proved site id against its address (throws for a second identity). */
  checkSite: (siteId: Uint8Array, address: string) => void;
}

/**
 * The wait before a reconnect: between half and all of `wait`, at random ("equal jitter"), so that
 * many clients cut off at once (a hub restarting) do not all come back in the same instant.
 */
export function retryDelay(wait: number, random: () => number = Math.random): number {
  return wait / 2 + random() * (wait / 2);
}

/** The backoff after another failed attempt: double the last, up to `max` (then `max` until a session is welcomed). */
export function nextRetryWait(wait: number, max: number): number {
  return Math.min(wait * 2, max);
}

/**
 * Whether a session ended because changes one way don't fit the other side's schema (ours refusing
 * the remote's, or the remote refusing ours). Reconnecting can't cure it — the same transaction
 * comes first again — until someone migrates.
 */
export function isSchemaMisfit(err: unknown): boolean {
  return err instanceof SchemaFitError || (err instanceof ProtocolError && err.code === 'schema');
}

/**
 * Whether a session was refused over identities: a site id claimed by two identities, or a claim that
 * doesn't verify. Reconnecting can't cure that either (see `ddcp init --new-site`).
 */
export function isIdentityRefusal(err: unknown): boolean {
  return err instanceof SiteClaimError || (err instanceof ProtocolError && err.code === 'identity');
}

/**
 * Whether a session ended because our own CRR schema moved after its hello (see sync/declared.ts):
 * then the cure is to say hello again at once. A misfit either way counts too when our schema is no
 * longer the one declared — the change that did not fit may be of the new shape.
 */
export function outgrewSession(err: unknown, declared: readonly TableInfo[], now: () => readonly TableInfo[]): boolean {
  return err instanceof SchemaChangedError || (isSchemaMisfit(err) && schemaKey(declared) !== schemaKey(now()));
}

/**
 * Follows until `signal` aborts, reconnecting with a doubling, jittered wait when the session breaks. A schema
 * misfit (see {@link isSchemaMisfit}) or an identity refusal ({@link isIdentityRefusal}) is not retried: it is reported as `disconnected` and the
 * returned promise rejects with it (migrate the lagging side, then follow again).
 */
export async function followRemote(engine: Engine, gate: Pick<Gate, 'admit'>, staging: Staging, remote: string, dial: Dial, options: FollowOptions & FollowIdentity): Promise<void> {
  const emit = options.onEvent ?? (() => {});
  const first = options.retryMs ?? 500;
  let wait = first;
  while (!options.signal.aborted) {
    let schema: TableInfo[] = [];
    try {
      const channel = await dial(options.signal);
      const target = new StagingTarget(engine, gate, staging, remote, {
        mergeEach: true,
        onMerged: (outcome) => emit({ type: 'merged', remote, outcome }),
        onCaughtUp: (version) => emit({ type: 'caught-up', remote, version }),
        onWelcome: (w) => {
          wait = first;
          emit({ type: 'connected', remote, siteId: w.siteId, pushing: options.push !== undefined && w.push });
        },
      });
      await runSession(channel, {
        siteId: options.siteId,
        proof: options.proof,
        checkSite: options.checkSite,
        ...(options.peerAddress !== undefined ? { peerAddress: options.peerAddress } : {}),
        schema: (schema = engine.crrs()),
        pull: target,
        push: options.push,
        follow: true,
        signal: options.signal,
        keepAliveMs: options.keepAliveMs,
        onAck: (version) => emit({ type: 'acked', remote, version }),
        onRefused: (refusal) => emit({ type: 'refused', remote, refusal }),
      });
      emit({ type: 'disconnected', remote });
    } catch (err) {
      if (options.signal.aborted) break;
      emit({ type: 'disconnected', remote, error: err as Error });
      if (outgrewSession(err, schema, () => engine.crrs())) {
        wait = first;
        continue; // declare the new schema now: nothing waits on the network
      }
      if (isSchemaMisfit(err) || isIdentityRefusal(err)) throw err;
    }
    await sleep(retryDelay(wait), options.signal);
    wait = nextRetryWait(wait, options.maxRetryMs ?? 10_000);
  }
}
