/**
 * The client side of a sync session, over any {@link FrameChannel}: pull (the server's batches into
 * a {@link PullTarget}), push (our feed's batches, acknowledged by the server), or both, once or
 * following — both directions on one connection, so a client that can only dial out both sends and
 * receives live.
 *
 * Resuming after a cut: the pull side asks for the server's changes after what its target holds
 * (the target stores every batch durably, complete ones recording their version); the push side
 * sends after the version of ours the server reports in welcome (its tracked version of us, advanced
 * only when a merge commits). Nothing is applied twice or lost.
 */
import type { TableInfo } from '../engine/index.ts';
import type { Batch } from './batches.ts';
import type { FrameChannel } from './channel.ts';
import { decodeMessage, encodeMessage, PROTOCOL_VERSION, ProtocolError, type BatchMessage, type Message, type Welcome } from './messages.ts';
import type { ChangeFeed, Refusal } from './ports.ts';
import { sendFeed } from './sender.ts';
import { declaredFeed } from './declared.ts';
import { startAfter } from './server.ts';
import { siteClaimProblem, type SiteProof } from './proof.ts';
import { FEATURE_BATCH_CAUGHT_UP, FEATURE_PUSH_BATCH_CAUGHT_UP, inForce, KNOWN_FEATURES } from './features.ts';

/** Where pulled batches go (a staging area; a follower also merges them). */
export interface PullTarget {
  /**
   * Where to start: the server's version we hold if it is the database we expect there, and the
   * versions we hold of databases in general (for a server met for the first time, or a new one).
   */
  from(): { since: number; expect?: Uint8Array; held: { siteId: Uint8Array; version: number }[] };
  /** The server said who it is (before any batch): start over if another database answers now. */
  welcome(welcome: Welcome): void;
  /** Stores one batch durably (a complete one records its version). */
  batch(batch: Batch): void;
  /**
   * True if `batch()` keeps no view of the batch's bytes once it returns (it copies what it keeps,
   * as a staging area does): the session then lets the transport free the received frame at once
   * (see FrameChannel's `release`).
   */
  readonly copiesBatches?: boolean;
  /** The server is caught up at `version`: we hold everything up to it. */
  caughtUp(version: number): void;
}

export interface ClientOptions {
  /** Our site id and CRR tables. */
  siteId: Uint8Array;
  /** Our address and its signature claiming `siteId` (see proof.ts). */
  proof: SiteProof;
  /**
   * The server's address as the transport authenticated it (the peer id a libp2p remote was dialled
   * at, a folder's identity): the server must claim its site id as that address. Omitted for a
   * transport that authenticates nobody itself (an app's own): the signed claim is taken as is.
   */
  peerAddress?: string;
  /**
   * Checks the server's site id against its address once its claim verified (the engine's
   * first-binding-wins table; binding itself is recorded with what we hold of it, see repo/fetch.ts);
   * throws to refuse it (another identity has that site id).
   */
  checkSite?: (siteId: Uint8Array, address: string) => void;
  /** Our address, to name in errors that tell the other side's owner what to do. */
  address?: string;
  schema: TableInfo[];
  /** Pull the server's changes into this. */
  pull?: PullTarget;
  /** Push our changes from this feed. */
  push?: ChangeFeed;
  /** Keep going both ways until `signal` aborts (or the channel breaks). */
  follow?: boolean;
  signal?: AbortSignal;
  keepAliveMs?: number;
  /** Told of each refused transaction of ours as it is reported. */
  onRefused?: (r: Refusal) => void;
  /** Told when a pushed version is acknowledged. */
  onAck?: (version: number) => void;
  /**
   * The optional protocol features (features.ts) to announce in hello (default: every one this
   * implementation reads; `[]` says hello as a client from before features).
   */
  features?: readonly string[];
}

export interface SessionResult {
  /** The server's welcome (its site id, version, whether it took our changes). */
  welcome: Welcome;
  /** Changes pushed and the last version of ours the server acknowledged. */
  pushed: { changes: number; version: number; refused: Refusal[] };
}

/** The server does not take our changes (its write policy for us); the message says why. */
export class PushDeniedError extends ProtocolError {
  override name = 'PushDeniedError';
}

async function next(it: AsyncIterator<Uint8Array>): Promise<Message | undefined> {
  const r = await it.next();
  return r.done ? undefined : decodeMessage(r.value);
}

/** Says hello, waits for welcome; throws {@link ProtocolError} if refused or the schemas don't fit. */
async function handshake(channel: FrameChannel, it: AsyncIterator<Uint8Array>, options: ClientOptions): Promise<Welcome> {
  const pull = options.pull !== undefined;
  const push = options.push !== undefined;
  await channel.send(encodeMessage({ type: 'hello', protocol: PROTOCOL_VERSION, siteId: options.siteId, proof: options.proof, schema: options.schema, ...(options.pull?.from() ?? { since: 0, held: [] }), follow: options.follow ?? false, pull, push, features: [...(options.features ?? KNOWN_FEATURES)] }));
  const first = await next(it);
  if (!first) throw new ProtocolError('closed', 'the peer closed the session without answering');
  if (first.type === 'error') throw new ProtocolError(first.code, `the peer refused: ${first.message}`);
  if (first.type !== 'welcome') throw new ProtocolError('unexpected', `expected welcome, got ${first.type}`);
  if (first.protocol !== PROTOCOL_VERSION) throw new ProtocolError('version', `the peer speaks protocol ${first.protocol}, we speak ${PROTOCOL_VERSION}`);
  const problem = siteClaimProblem(first.siteId, first.proof, { authenticated: options.peerAddress, own: options.siteId, ownAddress: options.proof.address });
  if (problem) throw new ProtocolError('identity', `refusing the peer: ${problem}`);
  options.checkSite?.(first.siteId, first.proof.address);
  // We hold more of its changes than it has: it is a restored backup or a copy, and its next versions
  // reuse numbers we count as held (we would never get them).
  const held = options.pull ? startAfter(options.pull.from(), first.siteId) : 0;
  if (held > first.version) {
    throw new ProtocolError('identity', `${first.proof.address} is at version ${first.version}, but we hold its changes up to version ${held}: it was restored from a backup or copied; run 'ddcp init --new-site' in it`);
  }
  return first;
}

/**
 * Runs one session as the client. Without `follow` it returns once the pull side is caught up and
 * everything pushed is acknowledged; with it, it runs until `signal` aborts (then returns) or the
 * channel breaks (then throws). A server that takes none of our changes makes a plain push throw
 * {@link PushDeniedError}; a following session then only pulls.
 */
export async function runSession(channel: FrameChannel, options: ClientOptions): Promise<SessionResult> {
  const it = channel[Symbol.asyncIterator]();
  const outer = options.signal ?? new AbortController().signal;
  const stop = new AbortController();
  const onAbort = (): void => stop.abort();
  outer.addEventListener('abort', onAbort);
  try {
    const welcome = await handshake(channel, it, options);
    options.pull?.welcome(welcome);
    // The server holds more of our changes than we have: we are a restored backup or a copy.
    if (options.push && welcome.yours > (await options.push.version())) {
      throw new ProtocolError('identity', `the peer holds this database's changes up to version ${welcome.yours}, but it is at version ${options.push.version()}: it was restored from a backup or copied; run 'ddcp init --new-site' here`);
    }
    const pushing = options.push !== undefined && welcome.push;
    if (options.push && !welcome.push && !options.follow) {
      await channel.close().catch(() => {});
      throw new PushDeniedError('denied', `the peer does not take our changes: its owner can let us write (on its side: ddcp allow ${options.address ?? 'OUR_ADDRESS'} --write SPEC)`);
    }
    const pushed = { changes: 0, version: welcome.yours, refused: [] as Refusal[] };
    let pulled = options.pull === undefined; // caught up on the pull side
    let sentUpTo: number | undefined; // the last caught-up version we sent
    let settle!: () => void;
    const settled = new Promise<void>((resolve) => (settle = resolve));
    const check = (): void => {
      if (!options.follow && pulled && (!pushing || (sentUpTo !== undefined && pushed.version >= sentUpTo))) settle();
    };
    // A following session outlives schema changes here: it ends (to say hello again) rather than
    // send changes of a table or column it did not declare.
    const announced = options.features ?? KNOWN_FEATURES;
    const sending = pushing
      ? sendFeed(channel, options.follow ? declaredFeed(options.push!, options.schema) : options.push!, welcome.yours, {
          exceptSite: welcome.siteId,
          follow: options.follow ?? false,
          signal: stop.signal,
          keepAliveMs: options.keepAliveMs,
          // Only to a server that said it reads the paired frame: one from before refuses it.
          pairCaughtUp: inForce(FEATURE_PUSH_BATCH_CAUGHT_UP, announced, welcome.features),
          onBatch: (n) => (pushed.changes += n),
          onCaughtUp: (v) => {
            sentUpTo = v;
            check();
          },
        })
      : Promise.resolve(0);
    // The server may pair a batch with its caught-up only if it took that feature up.
    const paired = inForce(FEATURE_BATCH_CAUGHT_UP, announced, welcome.features);
    const batch = (m: BatchMessage): void => {
      if (!options.pull) throw new ProtocolError('unexpected', 'unexpected batch from the server');
      options.pull.batch(m); // as received: its changes are decoded only if the target reads them
    };
    const caughtUp = (version: number): void => {
      if (!options.pull) throw new ProtocolError('unexpected', 'unexpected caught-up from the server');
      options.pull.caughtUp(version);
      pulled = true;
      check();
    };
    const reading = (async () => {
      for (;;) {
        const r = await it.next();
        const frame = r.done ? undefined : r.value;
        const m = frame && decodeMessage(frame);
        if (!m) {
          if (!options.follow && !(pulled && (!pushing || pushed.version >= (sentUpTo ?? Infinity)))) throw new ProtocolError('closed', 'the peer ended the session before it was done');
          return;
        }
        switch (m.type) {
          case 'error':
            throw new ProtocolError(m.code, `the peer ended the session: ${m.message}`);
          case 'batch':
            batch(m);
            if (options.pull!.copiesBatches) channel.release?.(frame!);
            break;
          case 'batch-caught-up':
            if (!paired) throw new ProtocolError('unexpected', 'unexpected batch-caught-up from the server (a feature this session did not negotiate)');
            batch(m.batch);
            caughtUp(m.version);
            if (options.pull!.copiesBatches) channel.release?.(frame!);
            break;
          case 'caught-up':
            caughtUp(m.version);
            break;
          case 'ack':
            if (!pushing) throw new ProtocolError('unexpected', 'unexpected ack from the server');
            pushed.version = Math.max(pushed.version, m.version);
            options.onAck?.(m.version);
            check();
            break;
          case 'refused':
            if (!pushing) throw new ProtocolError('unexpected', 'unexpected refused from the server');
            pushed.refused.push({ version: m.version, message: m.message });
            options.onRefused?.({ version: m.version, message: m.message });
            break;
          default:
            throw new ProtocolError('unexpected', `unexpected ${m.type} from the server`);
        }
      }
    })();
    // Whichever ends first decides: done (not following), stopped (following), or a failure.
    const stopped = new Promise<void>((resolve) => (stop.signal.aborted ? resolve() : stop.signal.addEventListener('abort', () => resolve(), { once: true })));
    await Promise.race([settled, stopped, reading, sending.then(() => (options.follow ? stopped : settled))]);
    if (options.follow && !stop.signal.aborted) {
      // the reading side ended: the server hung up
      throw new ProtocolError('closed', 'the peer ended the session');
    }
    stop.abort();
    await sending.catch(() => {});
    if (options.follow) {
      // Stopped: hang up at once (the server logs an ordinary disconnect).
      channel.abort(new Error('stopped following'));
      reading.catch(() => {});
      return { welcome, pushed };
    }
    // Done: hang up our side and let the server finish its own.
    await channel.close().catch(() => {});
    await reading;
    return { welcome, pushed };
  } catch (err) {
    channel.abort(err as Error);
    throw err;
  } finally {
    outer.removeEventListener('abort', onAbort);
  }
}
