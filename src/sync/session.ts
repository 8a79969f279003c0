/**
 * Sync sessions over a {@link FrameChannel}, the same over any transport.
 *
 * One session: the client says hello (its site id, schema, the version of the server it has, and
 * whether to follow); the server answers welcome or error, then streams batches of its changes since
 * that version (never the client's own), says caught-up, and — when following — goes on pushing new
 * changes as they happen. The client stores each batch durably before it counts as received, so a
 * session cut anywhere resumes from the client's last complete batch.
 */
import type { TableInfo } from '../engine/schema.ts';
import type { Batch } from './batches.ts';
import type { FrameChannel } from './channel.ts';
import { schemaMismatch } from './compat.ts';
import { decodeMessage, encodeMessage, PROTOCOL_VERSION, ProtocolError, type BatchMessage, type CaughtUp, type Hello, type Message, type Welcome } from './messages.ts';

/** What the serving side needs from its repository. */
export interface ServerContext {
  siteId: Uint8Array;
  schema(): TableInfo[];
  /** Its current db_version (after sealing pending writes). */
  version(): number;
  /**
   * Its changes after `since`, leaving out `exceptSite`'s, as batches. Read from a connection of its
   * own: the session awaits the network between batches.
   */
  batches(since: number, exceptSite: Uint8Array): Iterable<Batch>;
  /** Resolves when the database may have changed, or when `signal` aborts. */
  changed(signal: AbortSignal): Promise<void>;
}

export interface SessionLog {
  (level: 'info' | 'warn', message: string): void;
}

async function next(it: AsyncIterator<Uint8Array>): Promise<Message | undefined> {
  const r = await it.next();
  if (r.done) return undefined;
  return decodeMessage(r.value);
}

async function refuse(channel: FrameChannel, err: ProtocolError): Promise<void> {
  try {
    await channel.send(encodeMessage({ type: 'error', code: err.code, message: err.message }));
    await channel.close();
  } catch {
    channel.abort(err);
  }
}

/**
 * Serves one session. `authorize` may refuse the peer before anything is read from the database.
 * Never throws: protocol violations are answered with an error message and logged.
 */
/** How long a following session may stay silent before the server repeats caught-up (ms). */
export const KEEPALIVE_MS = 30_000;

async function waitForChange(ctx: ServerContext, signal: AbortSignal, ms: number): Promise<void> {
  const timeout = new AbortController();
  const timer = setTimeout(() => timeout.abort(), ms);
  try {
    await ctx.changed(AbortSignal.any([signal, timeout.signal]));
  } finally {
    clearTimeout(timer);
  }
}

export async function serveSession(
  channel: FrameChannel,
  ctx: ServerContext,
  options: { peer: string; signal: AbortSignal; log?: SessionLog; authorize?: () => string | undefined; keepAliveMs?: number },
): Promise<void> {
  const log: SessionLog = options.log ?? (() => {});
  const it = channel[Symbol.asyncIterator]();
  try {
    const hello = await next(it);
    if (!hello) return;
    if (hello.type !== 'hello') throw new ProtocolError('unexpected', `expected hello, got ${hello.type}`);
    if (hello.protocol !== PROTOCOL_VERSION) throw new ProtocolError('version', `protocol version ${hello.protocol} is not supported (this peer speaks ${PROTOCOL_VERSION})`);
    const denied = options.authorize?.();
    if (denied) throw new ProtocolError('denied', denied);
    const ours = ctx.schema();
    const mismatch = schemaMismatch(hello.schema, ours);
    if (mismatch) throw new ProtocolError('schema', `schemas differ: ${mismatch.replace(/ here$/, ' at the receiver')}`);
    await channel.send(encodeMessage({ type: 'welcome', protocol: PROTOCOL_VERSION, siteId: ctx.siteId, schema: ours, version: ctx.version() }));
    log('info', `session with ${options.peer}: sending changes after version ${hello.since}${hello.follow ? ', following' : ''}`);
    let since = hello.since;
    // A client that ends its side ends the session.
    const clientGone = (async () => {
      for (;;) {
        const m = await next(it);
        if (!m) return;
        if (m.type === 'error') throw new ProtocolError('remote', `peer ${options.peer}: ${m.message}`);
        throw new ProtocolError('unexpected', `unexpected ${m.type} from the client`);
      }
    })();
    const stop = new AbortController();
    const onAbort = (): void => stop.abort();
    options.signal.addEventListener('abort', onAbort);
    clientGone.then(onAbort, onAbort);
    try {
      for (;;) {
        const at = ctx.version();
        for (const batch of ctx.batches(since, hello.siteId)) {
          if (stop.signal.aborted) return;
          await channel.send(encodeMessage({ type: 'batch', version: batch.version, complete: batch.complete, changes: batch.changes }));
          if (batch.complete) since = batch.version;
        }
        since = Math.max(since, at);
        await channel.send(encodeMessage({ type: 'caught-up', version: since }));
        if (!hello.follow) break;
        // Idle sessions still say caught-up now and then: transports drop streams that stay silent.
        await waitForChange(ctx, stop.signal, options.keepAliveMs ?? KEEPALIVE_MS);
        if (stop.signal.aborted) break;
      }
      await channel.close();
    } finally {
      options.signal.removeEventListener('abort', onAbort);
      // Don't wait for the client to hang up; only report how it went if it misbehaved.
      clientGone.catch((err: Error) => log('warn', `session with ${options.peer}: ${err.message}`));
    }
  } catch (err) {
    if (err instanceof ProtocolError) {
      log('warn', `refused ${options.peer}: ${err.message}`);
      await refuse(channel, err);
    } else {
      log('warn', `session with ${options.peer} failed: ${(err as Error).message}`);
      channel.abort(err as Error);
    }
  }
}

export interface ClientSession {
  welcome: Welcome;
  /** Batches and caught-up markers, until the server ends the session. */
  messages: AsyncGenerator<BatchMessage | CaughtUp>;
}

/**
 * Opens a session as the client: sends hello, waits for welcome. Throws {@link ProtocolError} if the
 * server refuses (its reason in the message) or the schemas don't fit.
 */
export async function openSession(channel: FrameChannel, hello: Omit<Hello, 'type' | 'protocol'>): Promise<ClientSession> {
  const it = channel[Symbol.asyncIterator]();
  await channel.send(encodeMessage({ type: 'hello', protocol: PROTOCOL_VERSION, ...hello }));
  const first = await next(it);
  if (!first) throw new ProtocolError('closed', 'the peer closed the session without answering');
  if (first.type === 'error') throw new ProtocolError(first.code, `the peer refused: ${first.message}`);
  if (first.type !== 'welcome') throw new ProtocolError('unexpected', `expected welcome, got ${first.type}`);
  if (first.protocol !== PROTOCOL_VERSION) throw new ProtocolError('version', `the peer speaks protocol ${first.protocol}, we speak ${PROTOCOL_VERSION}`);
  const mismatch = schemaMismatch(hello.schema, first.schema);
  if (mismatch) {
    await refuse(channel, new ProtocolError('schema', `schemas differ: ${mismatch}`));
    throw new ProtocolError('schema', `schemas differ: ${mismatch}`);
  }
  async function* messages(): AsyncGenerator<BatchMessage | CaughtUp> {
    for (;;) {
      const m = await next(it);
      if (!m) {
        await channel.close().catch(() => {});
        return;
      }
      if (m.type === 'error') throw new ProtocolError(m.code, `the peer ended the session: ${m.message}`);
      if (m.type !== 'batch' && m.type !== 'caught-up') throw new ProtocolError('unexpected', `unexpected ${m.type} from the server`);
      yield m;
    }
  }
  return { welcome: first, messages: messages() };
}
