/**
 * The serving side of a sync session, over any {@link FrameChannel}, answering one client from a
 * {@link ChangeFeed} (what we send) and a {@link ChangeSink} (what the client pushes).
 *
 * The client says hello (its site id, schema, the version of ours it holds, whether it pulls, pushes
 * and follows); we answer welcome (with the version of the client's we hold, and whether we take its
 * changes) or error. Then both directions run at once: our batches since that version and caught-up
 * (and, when following, new batches as we change); the client's batches, each complete one merged
 * (or refused whole, non-fatally) and acknowledged once durable. Never throws: protocol violations
 * are answered with an error message and logged.
 */
import { bytesEqual } from '../engine/index.ts';
import type { FrameChannel } from './channel.ts';
import { misfitObject } from './compat.ts';
import { Gate, SchemaFitError } from './gate.ts';
import { decodeMessage, encodeMessage, PROTOCOL_VERSION, ProtocolError, type BatchMessage, type Hello, type Message } from './messages.ts';
import type { ChangeFeed, ChangeSink, PushOrigin } from './ports.ts';
import { sendFeed, type SendOptions } from './sender.ts';
import { SessionRevokedError } from './sessions.ts';
import { siteClaimProblem, type SiteProof } from './proof.ts';
import { counted } from '../base/counted.ts';
import { DdcpError } from '../base/errors.ts';
import { FEATURE_BATCH_CAUGHT_UP, FEATURE_PUSH_BATCH_CAUGHT_UP, KNOWN_FEATURES, negotiate } from './features.ts';

export interface SessionLog {
  (level: 'info' | 'warn', message: string): void;
}

export interface ServeOptions {
  /** Who the client is (its address, or a label), for logs and the history. */
  peer: string;
  /** Our address and its signature claiming the feed's site id (see proof.ts), sent in welcome. */
  proof: SiteProof;
  /**
   * The client's address as the transport authenticated it (libp2p's remote peer id; the dialler of
   * an in-process link): the client must claim its site id as that address. Omitted for a transport
   * that authenticates nobody itself (an app's own): the signed claim is taken as is.
   */
  peerAddress?: string;
  /**
   * Ends the session (following sessions run until then). Aborted with a {@link SessionRevokedError}
   * (see {@link Sessions.revoke}), the session stops sending and merging at once, tells the peer the
   * reason in an `error` message and closes; a peer that doesn't hang up within
   * {@link REVOKE_GRACE_MS} is cut off.
   */
  signal: AbortSignal;
  log?: SessionLog;
  /** Refuses the peer (the reason) before anything is read; undefined lets it in. */
  authorize?: () => string | undefined;
  /**
   * What the peer may read and write (its policy). The feed is read through its read filter; a peer
   * that may write nothing is told so in welcome, and the sink merges pushes under its write guard.
   * Without a gate the peer reads everything and may not write ({@link Gate.default}).
   */
  gate?: Pick<Gate, 'readFilter' | 'mayWrite' | 'admit' | 'writeGuard'>;
  keepAliveMs?: number;
  /**
   * Sends the feed to the client (default {@link sendFeed}): a hub puts its fan-out here, which reads
   * each merge once for all its followers and sends them all the same encoded frames.
   */
  send?: (channel: FrameChannel, feed: ChangeFeed, since: number, options: SendOptions) => Promise<number>;
  /** How long a revoked session waits for the peer to take its error and hang up (default {@link REVOKE_GRACE_MS}). */
  revokeGraceMs?: number;
  /**
   * How many of the client's pushes may be handed to the sink before the first is acknowledged
   * (default 1: each waits for the one before). More lets a sink that commits in groups (a hub's
   * stores) take everything a client sent meanwhile in one commit. Only for a sink that merges an
   * origin's pushes in the order given and merges none of them after one that failed; a caught-up
   * is recorded, and every answer sent, in the client's order.
   */
  pipeline?: number;
  /**
   * The optional protocol features (features.ts) this server takes up when a client announces them
   * (default: every one this implementation knows; `[]` answers as a server from before features).
   */
  features?: readonly string[];
}

/** How long a revoked session waits for its error to reach the peer and the peer to hang up (ms). */
export const REVOKE_GRACE_MS = 2000;

/** The revocation that aborted `signal`, if that is why it aborted. */
function revocation(signal: AbortSignal): SessionRevokedError | undefined {
  return signal.aborted && signal.reason instanceof SessionRevokedError ? signal.reason : undefined;
}

const aborted = (signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));

/** Tells the peer why its session is cut, closes, and tears the channel down (bounded in time). */
async function cut(channel: FrameChannel, err: SessionRevokedError, inbound: Promise<void>, graceMs: number): Promise<void> {
  const grace = AbortSignal.timeout(graceMs);
  try {
    await channel.send(encodeMessage({ type: 'error', code: err.code, message: err.message }), { signal: grace });
    await channel.close({ signal: grace });
    // the peer hangs up once it reads the error; one that doesn't is torn down
    await Promise.race([inbound.catch(() => {}), aborted(grace)]);
  } catch {
    // broken already, or too slow to take the error: torn down below
  }
  channel.abort(err);
}

async function next(it: AsyncIterator<Uint8Array>): Promise<Message | undefined> {
  const r = await it.next();
  return r.done ? undefined : decodeMessage(r.value);
}

/** Sends the error and closes; a channel already broken is just torn down. */
export async function refuse(channel: FrameChannel, err: ProtocolError): Promise<void> {
  try {
    await channel.send(encodeMessage({ type: 'error', code: err.code, message: err.message }));
    await channel.close();
  } catch {
    channel.abort(err);
  }
}

/**
 * Checks a client's hello: protocol, authorization, and its claim of its site id (proved by its
 * address, which the transport authenticated, and bound to it in the sink: first binding wins).
 * Throws the {@link ProtocolError} to answer with.
 */
async function checkHello(m: Message | undefined, feed: ChangeFeed, sink: ChangeSink, options: ServeOptions): Promise<Hello | undefined> {
  if (!m) return undefined;
  if (m.type !== 'hello') throw new ProtocolError('unexpected', `expected hello, got ${m.type}`);
  if (m.protocol !== PROTOCOL_VERSION) throw new ProtocolError('version', `protocol version ${m.protocol} is not supported (this peer speaks ${PROTOCOL_VERSION})`);
  const denied = options.authorize?.();
  if (denied) throw new ProtocolError('denied', denied);
  const problem = siteClaimProblem(m.siteId, m.proof, { authenticated: options.peerAddress, own: feed.siteId, ownAddress: options.proof.address });
  if (problem) throw new ProtocolError('identity', `refusing ${options.peer}: ${problem}`);
  try {
    await sink.bindSite(m.siteId, m.proof.address);
  } catch (err) {
    if (err instanceof DdcpError) throw new ProtocolError('identity', err.message, { cause: err });
    throw err;
  }
  // Schema fit is the receiver's to decide, change by change (a table without changes doesn't matter).
  return m;
}

/** The version of ours the client holds: what it says of us, whether it expected us or not. */
export function startAfter(hello: Pick<Hello, 'since' | 'expect' | 'held'>, us: Uint8Array): number {
  const same = (a: Uint8Array | undefined): boolean => a !== undefined && bytesEqual(a, us);
  const held = hello.held.find((h) => same(h.siteId))?.version ?? 0;
  return Math.max(same(hello.expect) ? hello.since : 0, held);
}

/** Serves one session until it ends. */
export async function serveSession(channel: FrameChannel, feed: ChangeFeed, sink: ChangeSink, options: ServeOptions): Promise<void> {
  const log: SessionLog = options.log ?? (() => {});
  const it = channel[Symbol.asyncIterator]();
  // A revoked session whose peer blocks us (reads nothing, sends no hello) is torn down regardless.
  let watchdog: NodeJS.Timeout | undefined;
  const onRevoked = (): void => {
    const err = revocation(options.signal);
    if (err) (watchdog = setTimeout(() => channel.abort(err), 2 * (options.revokeGraceMs ?? REVOKE_GRACE_MS))).unref();
  };
  options.signal.addEventListener('abort', onRevoked, { once: true });
  // What the session failed with, once logged: the client's side failing with it too says nothing new.
  let failed: Error | undefined;
  try {
    const hello = await checkHello(await next(it), feed, sink, options);
    if (!hello) return;
    const early = revocation(options.signal);
    if (early) throw early;
    const gate = options.gate ?? Gate.default;
    const writeDenied = hello.push ? (gate.mayWrite(options.peer) ? undefined : `peer ${options.peer} may not write to this database (on its side: ddcp allow ${options.peer} --write SPEC)`) : 'not asked';
    // The sink merges what the peer pushes through the gate, under the peer's write policy.
    const origin: PushOrigin = { siteId: hello.siteId, peer: options.peer, source: options.peer, gate };
    if (hello.push && !writeDenied) await sink.dropIncomplete(origin);
    const yours = await sink.trackedVersion(hello.siteId);
    const features = negotiate(hello.features, options.features ?? KNOWN_FEATURES);
    await channel.send(encodeMessage({ type: 'welcome', protocol: PROTOCOL_VERSION, siteId: feed.siteId, proof: options.proof, schema: await feed.schema(), version: await feed.version(), yours, push: !writeDenied, features }));
    const modes = [hello.pull && `sending changes after version ${startAfter(hello, feed.siteId)}`, hello.push && (writeDenied ? `not taking its changes (${writeDenied})` : `taking its changes after its version ${yours}`), hello.follow && 'following'];
    log('info', `session with ${options.peer}: ${modes.filter(Boolean).join(', ')}`);
    if (hello.push && writeDenied) log('warn', `${options.peer} may not write here: ${writeDenied}`);

    const stop = new AbortController();
    const onAbort = (): void => stop.abort();
    options.signal.addEventListener('abort', onAbort);
    const inbound = receive(channel, it, sink, origin, { push: hello.push && !writeDenied, peer: options.peer, log, signal: options.signal, pipeline: Math.max(1, options.pipeline ?? 1), pairedPush: features.includes(FEATURE_PUSH_BATCH_CAUGHT_UP) });
    // A client that ends its side (or breaks the protocol) ends what we send, too.
    inbound.then(onAbort, onAbort);
    try {
      const read = gate.readFilter(options.peer);
      // The default sender pairs its last batch with the caught-up where the client reads that frame
      // (a hub's fan-out, options.send, pairs by the same negotiated features itself).
      if (hello.pull) {
        const pairCaughtUp = features.includes(FEATURE_BATCH_CAUGHT_UP);
        await (options.send ?? sendFeed)(channel, feed, startAfter(hello, feed.siteId), { exceptSite: hello.siteId, ...(read ? { read } : {}), follow: hello.follow, signal: stop.signal, keepAliveMs: options.keepAliveMs, features, pairCaughtUp });
      }
      // A pushing client hangs up once everything it sent is acknowledged.
      if (hello.push || hello.follow) await Promise.race([inbound, aborted(options.signal)]);
      const revoked = revocation(options.signal);
      if (revoked) {
        log('info', `cut the session with ${options.peer}: ${revoked.message}`);
        await cut(channel, revoked, inbound, options.revokeGraceMs ?? REVOKE_GRACE_MS);
        return;
      }
      await channel.close();
    } finally {
      options.signal.removeEventListener('abort', onAbort);
      // Don't wait for a pulling client to hang up; only report how it went if it misbehaved.
      inbound.catch((err: Error) => {
        if (err !== failed && err.message !== failed?.message) log('warn', `session with ${options.peer}: ${err.message}`);
      });
    }
  } catch (err) {
    if (err instanceof ProtocolError) {
      log('warn', `refused ${options.peer}: ${err.message}`);
      await refuse(channel, err);
    } else {
      failed = err as Error;
      log('warn', `session with ${options.peer} failed: ${failed.message}`);
      channel.abort(failed);
    }
  } finally {
    clearTimeout(watchdog);
    options.signal.removeEventListener('abort', onRevoked);
  }
}

/** A frame encoded for this one send and never touched again: the transport need not copy it. */
const FRESH = { shared: true } as const;

/**
 * Reads the client's side of the session: pushed batches (merged and acknowledged), until it ends.
 * Up to `pipeline` pushes are with the sink at once; their answers (refusals, ack) go out in order.
 */
async function receive(
  channel: FrameChannel,
  it: AsyncIterator<Uint8Array>,
  sink: ChangeSink,
  origin: PushOrigin,
  ctx: { push: boolean; peer: string; log: SessionLog; signal: AbortSignal; pipeline: number; pairedPush: boolean },
): Promise<void> {
  // Each push's answering, chained: it waits for the one before, so answers keep the client's order.
  const answering: Promise<void>[] = [];
  let tail: Promise<void> = Promise.resolve();
  const failures: unknown[] = []; // the first answering that failed ends the session
  // A read waiting for the client's next frame while answers are pending gives up at the first
  // failure. Not by racing each read against one promise that fails then: every race leaves a
  // reaction on that promise, which lives as long as the session (a hub session's pushes would
  // pile up for days).
  let giveUp: ((err: unknown) => void) | undefined;
  const nextOrFailure = (): Promise<Message | undefined> =>
    new Promise((resolve, reject) => {
      if (failures.length > 0) return reject(failures[0]);
      giveUp = reject;
      next(it).then(resolve, reject);
    });
  const check = (): void => {
    if (failures.length > 0) throw failures[0];
  };
  const answer = (work: (before: Promise<void>) => Promise<void>): void => {
    tail = work(tail);
    tail.catch((err: unknown) => {
      failures.push(err);
      giveUp?.(failures[0]);
    });
    answering.push(tail);
  };
  try {
    for (;;) {
      // At most `pipeline` pushes unanswered: wait for the oldest.
      while (answering.length >= ctx.pipeline) await answering.shift()!.catch(() => {});
      check();
      const m = answering.length > 0 ? await nextOrFailure() : await next(it);
      giveUp = undefined;
      // Ended (or revoked): nothing more is merged; unacknowledged batches are sent again next time.
      if (!m || ctx.signal.aborted || failures.length > 0) break;
      if (m.type === 'error') throw new ProtocolError('remote', `peer ${ctx.peer}: ${m.message}`);
      if (m.type === 'batch-caught-up' && ctx.push && !ctx.pairedPush) throw new ProtocolError('unexpected', `unexpected batch-caught-up from the client (the ${FEATURE_PUSH_BATCH_CAUGHT_UP} feature was not negotiated in this session)`);
      if (!ctx.push || (m.type !== 'batch' && m.type !== 'caught-up' && m.type !== 'batch-caught-up')) throw new ProtocolError('unexpected', `unexpected ${m.type} from the client`);
      if (m.type === 'caught-up') {
        // Recorded only once every push before it is merged (it says we hold all up to its version).
        answer(async (before) => {
          await before;
          await sink.caughtUp(m.version, origin);
          await channel.send(encodeMessage({ type: 'ack', version: m.version }), FRESH);
        });
        continue;
      }
      // A paired push (negotiated): its batch, then its caught-up, answered with one ack.
      const batch: BatchMessage = m.type === 'batch-caught-up' ? m.batch : m;
      const caughtUp = m.type === 'batch-caught-up' ? m.version : undefined;
      if (!batch.complete) {
        // Part of a larger transaction: handed over once the pushes before it are answered (the
        // sink keeps the parts until the last one, which goes with them).
        await tail.catch(() => {});
        check();
      }
      // As received: its changes are decoded only if the sink reads them (a staged part of a larger transaction isn't).
      const merging = received(() => sink.receive(batch, origin), ctx.peer);
      merging.catch(() => {}); // its failure is answered in order, below
      answer(async (before) => {
        await before;
        const got = await merging;
        if (got) {
          for (const r of got.refused) {
            ctx.log('warn', `refused a transaction from ${ctx.peer} (its version ${r.version}): ${r.message}`);
            await channel.send(encodeMessage({ type: 'refused', version: r.version, message: r.message }), FRESH);
          }
          if (got.applied > 0) ctx.log('info', `merged ${counted(got.applied, 'change')} pushed by ${ctx.peer}`);
        }
        if (caughtUp === undefined) {
          if (got) await channel.send(encodeMessage({ type: 'ack', version: got.version }), FRESH);
          return;
        }
        // Recorded once the batch is merged, as a caught-up of its own would be; the one ack says what
        // the two would have (the larger of their versions).
        await sink.caughtUp(caughtUp, origin);
        await channel.send(encodeMessage({ type: 'ack', version: Math.max(caughtUp, got?.version ?? 0) }), FRESH);
      });
    }
  } finally {
    // What was handed to the sink is merged (or not) either way: answered while the channel is open.
    if (answering.length > 0) await tail.catch(() => {});
  }
  check();
}

/**
 * What the sink made of a batch. A change that doesn't fit our schema ends the session (the gate
 * decided; nothing of that transaction landed): refusing just that transaction would count it as
 * handled, and once we migrate we would never be sent it again.
 */
async function received<R>(receive: () => R | Promise<R>, peer: string): Promise<R> {
  try {
    return await receive();
  } catch (err) {
    if (err instanceof SchemaFitError) throw new ProtocolError('schema', `${peer} sends changes for ${misfitObject(err.misfit)} (schemas differ); nothing of that transaction was applied`, { cause: err });
    throw err;
  }
}
