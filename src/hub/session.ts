/**
 * One client's sync session at the hub, over any FrameChannel: the ordinary sync server
 * (sync/server.ts) answering from the hosted database, behind what the hub adds — the database's
 * schema grows from the hello of a writer who may write everything before it is answered (a misfit,
 * or a table or column another writer declares that it lacks, is refused naming table and column),
 * the user's policy is the gate, and changes in and out, refusals and fan-out latency are counted.
 * What it sends goes through the database's fan-out (fanout.ts), shared with every other session
 * following that database.
 */
import { NO_ACCESS, type PeerPolicy } from '../sync/policy.ts';
import { withFirstFrame, type FrameChannel } from '../sync/channel.ts';
import { Gate } from '../sync/gate.ts';
import { decodeMessage, encodeMessage, ProtocolError, type Message } from '../sync/messages.ts';
import type { ChangeSink, Received } from '../sync/ports.ts';
import { batchSize } from '../sync/batches.ts';
import { refuse, serveSession, type ServeOptions, type SessionLog } from '../sync/server.ts';
import { fanoutOf } from './fanout.ts';
import type { Principal } from './auth/port.ts';
import type { HubMetrics, RefusalReason } from './metrics.ts';
import { checkHeld } from './storage/declare.ts';
import { SchemaDeclareError, type HubDatabase } from './storage/port.ts';

/** When a database last merged pushed changes (for the fan-out latency). */
export interface MergeClock {
  last?: number;
}

export interface HubSessionOptions {
  db: HubDatabase;
  principal: Principal;
  /** The principal's policy on the database (see access.ts). */
  policy: PeerPolicy;
  signal: AbortSignal;
  metrics: HubMetrics;
  clock: MergeClock;
  log: SessionLog;
  keepAliveMs?: number;
  /** The protocol features the hub takes up (default: all it knows; see sync/features.ts). */
  features?: readonly string[];
}

/** The first byte of the frames counted as refusals (no other frame is decoded again). */
const ERROR_TYPE = encodeMessage({ type: 'error', code: '', message: '' })[0];
const REFUSED_TYPE = encodeMessage({ type: 'refused', version: 0, message: '' })[0];

const REASONS: Record<string, RefusalReason> = { schema: 'schema', denied: 'forbidden', malformed: 'protocol', unexpected: 'protocol', version: 'protocol' };

/** The channel, counting what the server answers: errors by code, refused transactions. */
function counted(channel: FrameChannel, metrics: HubMetrics): FrameChannel {
  return {
    send: (frame, options) => {
      if (frame[0] === ERROR_TYPE) {
        const m = decodeMessage(frame);
        if (m.type === 'error') metrics.refused(REASONS[m.code] ?? 'protocol');
      } else if (frame[0] === REFUSED_TYPE) metrics.refused('policy');
      return channel.send(frame, options);
    },
    close: (options) => channel.close(options),
    abort: (err) => channel.abort(err),
    [Symbol.asyncIterator]: () => channel[Symbol.asyncIterator](),
  };
}

/**
 * What a session sends, through the database's fan-out (fanout.ts: one read and one encoding per
 * merge for all its followers), counting changes sent and timing the first batch after each merge.
 */
function fannedOut(db: HubDatabase, metrics: HubMetrics, clock: MergeClock, log: SessionLog): NonNullable<ServeOptions['send']> {
  const fanout = fanoutOf(db);
  fanout.log = log;
  return (channel, _feed, since, options) => {
    let seen = performance.now();
    return fanout.send(channel, since, {
      ...options,
      onBatch: (changes) => {
        if (changes === 0) return;
        metrics.changesOut.inc(changes);
        const at = clock.last;
        if (at !== undefined && at > seen) {
          seen = at;
          metrics.fanout.observe((performance.now() - at) / 1000);
        }
      },
    });
  };
}

/** The database's sink, counting changes received and noting when merges land. */
function countedSink(sink: ChangeSink, metrics: HubMetrics, clock: MergeClock): ChangeSink {
  return {
    trackedVersion: (siteId) => sink.trackedVersion(siteId),
    bindSite: (siteId, address) => sink.bindSite(siteId, address),
    receive: (batch, from) => {
      metrics.changesIn.inc(batchSize(batch)); // counted without decoding (the store decodes once)
      const noted = (r: Received | undefined): Received | undefined => {
        if (r && r.applied > 0) clock.last = performance.now();
        return r;
      };
      // a store behind a network answers with a promise
      const r = sink.receive(batch, from) as Received | undefined | Promise<Received | undefined>;
      return (r instanceof Promise ? r.then(noted) : noted(r)) as ReturnType<ChangeSink['receive']>;
    },
    caughtUp: (version, from) => sink.caughtUp(version, from),
    dropIncomplete: (from) => sink.dropIncomplete(from),
  };
}

/**
 * Pushes of one session handed to the store before the first is acknowledged: a client's pushes that
 * arrive while the store commits go into its next group commit together (bounded: each may be a
 * large frame).
 */
export const HUB_PUSH_PIPELINE = 32;

const mayWrite = (p: PeerPolicy): boolean => p.write === 'all' || (p.write !== 'none' && p.write.length > 0);

/** Serves one session until it ends; never throws (refusals are answered and counted). */
export async function serveHubSession(channel: FrameChannel, o: HubSessionOptions): Promise<void> {
  const user = o.principal.user;
  const out = counted(channel, o.metrics);
  const it = channel[Symbol.asyncIterator]();
  let first: IteratorResult<Uint8Array>;
  try {
    first = await it.next();
  } catch (err) {
    o.log('warn', `session of ${user} on ${o.db.name} failed before hello: ${(err as Error).message}`);
    return;
  }
  if (first.done) return;
  let hello: Message | undefined;
  try {
    hello = decodeMessage(first.value);
  } catch {
    // serveSession answers the malformed frame
  }
  if (hello?.type === 'hello' && hello.push && mayWrite(o.policy)) {
    // Growing the schema writes to every row of the database (a new column, a new table), so only
    // who may write everything — its owner, a member so shared — grows it; anyone else's must fit.
    const grows = o.policy.write === 'all';
    try {
      if (grows) await o.db.declare(hello.schema);
      else checkHeld((await o.db.info()).tables, hello.schema);
    } catch (err) {
      if (!(err instanceof SchemaDeclareError)) {
        o.log('warn', `declaring the schema of ${o.db.name} for ${user} failed: ${(err as Error).message}`);
        channel.abort(err as Error);
        return;
      }
      o.log('warn', `refused ${user} on ${o.db.name}: ${err.message}`);
      const why = grows ? 'its schema can only grow by added tables and columns' : 'only its owner, or a user who may write everything, adds tables and columns';
      await refuse(out, new ProtocolError('schema', `database ${o.db.name}: ${err.message} (${why})`, { cause: err }));
      return;
    }
  }
  const gate = new Gate((peer) => (peer === user ? o.policy : NO_ACCESS));
  await serveSession(withFirstFrame(first.value, it, out), o.db.feed, countedSink(o.db.sink, o.metrics, o.clock), {
    peer: user,
    proof: o.db.proof,
    // An enrolled device proved its key (its address) to the hub: its hello must claim that address.
    // A token names a user, not a key: the hello's own proof binds its site id to its key.
    ...(o.principal.method === 'device' && o.principal.address !== undefined ? { peerAddress: o.principal.address } : {}),
    signal: o.signal,
    log: o.log,
    gate,
    send: fannedOut(o.db, o.metrics, o.clock, o.log),
    // Both stores merge an origin's pushes in order and none after one that failed (storage/port.ts).
    pipeline: HUB_PUSH_PIPELINE,
    ...(o.keepAliveMs !== undefined ? { keepAliveMs: o.keepAliveMs } : {}),
    ...(o.features !== undefined ? { features: o.features } : {}),
  });
}
