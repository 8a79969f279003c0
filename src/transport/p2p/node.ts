/**
 * A libp2p node for peer-to-peer sync: a transport of {@link FrameStream}s between repositories,
 * addressed by their peer ids. It knows nothing of SQL; protocols register handlers by name and
 * open streams to peers.
 *
 * The stack (libp2p 3.x): TCP and WebSocket transports, Noise encryption, Yamux multiplexing,
 * identify (and identify-push, so peers learn of address changes), ping, a Kademlia DHT in server
 * mode on a private protocol ({@link DHT_PROTOCOL}) — a node answers DHT queries (from the peers
 * {@link NodeInit.dhtAnswers} lets it answer), so in a small network a peer is found by its id
 * through any node that knows it — mDNS discovery on the local network, and bootstrap peers.
 */
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { bootstrap } from '@libp2p/bootstrap';
import { identify, identifyPush } from '@libp2p/identify';
import type { Connection, Libp2p, PeerDiscovery, PeerId, PeerInfo, PrivateKey, Transport } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { ping } from '@libp2p/ping';
import { tcp } from '@libp2p/tcp';
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr';
import { createLibp2p } from 'libp2p';
import { DdcpError } from '../../base/errors.ts';
import type { FrameStream, FrameStreamOptions } from '../frames.ts';
import { libp2pFrameStream } from './frames.ts';
import { sleep } from '../../base/sleep.ts';

/** The default listen addresses: any IPv4 interface, a random port, TCP and WebSocket. */
export const DEFAULT_LISTEN = ['/ip4/0.0.0.0/tcp/0', '/ip4/0.0.0.0/tcp/0/ws'];
/** The DHT's protocol: ddcp's own network, apart from the public IPFS DHT. */
export const DHT_PROTOCOL = '/ddcp/kad/1.0.0';

export interface NodeInit {
  /** The node's identity (the repository's Ed25519 key): its peer id is derived from it. */
  privateKey: PrivateKey;
  /** Multiaddrs to listen on. Default {@link DEFAULT_LISTEN}: all IPv4 interfaces, random ports, TCP and WebSocket. */
  listen?: string[];
  /**
   * Multiaddrs of bootstrap peers, each ending in `/p2p/<peer id>`: dialed shortly after start so
   * the DHT has somewhere to begin. Default none.
   */
  bootstrap?: string[];
  /** Discover peers on the local network by multicast DNS, and connect to them. Default true. */
  mdns?: boolean;
  /**
   * Run the Kademlia DHT (server mode, protocol {@link DHT_PROTOCOL}, all addresses kept, private
   * ones included) to find peers by id. Default true.
   */
  dht?: boolean;
  /**
   * Which peers the DHT answers (their queries tell them the addresses of peers this node knows):
   * true (any peer, the default), false (none: the node only asks, as a DHT client), or a function
   * of the asking peer's id, checked on each incoming DHT stream — a peer it refuses has the stream
   * reset and learns nothing.
   */
  dhtAnswers?: boolean | ((peerId: string) => boolean);
  /**
   * Load the WebSocket transport (to listen on or dial `/ws` addresses). Default true; a node that
   * only dials TCP addresses can do without it (its code is ~5 MiB of a process's memory).
   */
  webSockets?: boolean;
  /** Frame limits and buffering for every stream of this node (defaults: see transport/frames.ts). */
  frames?: FrameStreamOptions;
  /**
   * How long {@link P2pNode.open} looks for a peer known only by its id (mDNS, DHT) before giving up
   * with {@link PeerNotFoundError}. Default {@link DEFAULT_LOOKUP_MS}.
   */
  lookupMs?: number;
}

/** How long a peer known only by its id is looked for, by default (ms). */
export const DEFAULT_LOOKUP_MS = 5000;

/** Runs one incoming stream. The stream is the handler's until its promise settles (see {@link P2pNode.handle}). */
export type FrameHandler = (stream: FrameStream, remotePeer: string) => Promise<void> | void;

export interface HandleOptions {
  /** Incoming streams of this protocol open at once per connection (libp2p's default 32). */
  maxInboundStreams?: number;
  /** Outgoing streams of this protocol open at once per connection (libp2p's default 64). */
  maxOutboundStreams?: number;
  /** Overrides the node's frame options for streams of this protocol. */
  frames?: FrameStreamOptions;
}

export interface OpenOptions {
  /** Gives up connecting or negotiating. */
  signal?: AbortSignal;
  /** Overrides the node's frame options for this stream. */
  frames?: FrameStreamOptions;
}

/** Events: a connection to a peer opened (its first), closed (its last), or a peer was discovered. */
export type NodeEvent = 'peer:connect' | 'peer:disconnect' | 'peer:discovery';

export interface P2pNode {
  /** This node's peer id (`12D3KooW…`), the repository's address. */
  readonly peerId: string;
  /** The libp2p node underneath, for what this interface doesn't cover. */
  readonly libp2p: Libp2p;
  /** The multiaddrs this node can be reached on, each ending in `/p2p/<peer id>`. */
  addresses(): string[];
  /**
   * The listen addresses as bound: each one it was asked to listen on, a port 0 replaced by the port
   * the system chose (no `/p2p/` suffix). Listening there again keeps the node's multiaddrs.
   */
  listening(): string[];
  /** Peer ids this node has an open connection to. */
  peers(): string[];
  /**
   * Accepts streams of `protocol` (e.g. `/ddcp/sync/2.0.0`). Each incoming stream is wrapped as a
   * {@link FrameStream} and passed to `handler` with the peer id of the remote. When the handler's
   * promise resolves the stream is closed gracefully (if it isn't already); when it rejects (or the
   * handler throws) the stream is aborted with that error. Errors never escape to the process.
   */
  handle(protocol: string, handler: FrameHandler, options?: HandleOptions): Promise<void>;
  /** Stops accepting streams of `protocol`. */
  unhandle(protocol: string): Promise<void>;
  /**
   * Opens a stream of `protocol` to `target`: a peer id, or a full multiaddr (ending in `/p2p/<id>`
   * or not). For a peer id, an open connection is reused; otherwise the addresses known for it
   * (from identify, mDNS, earlier lookups) are dialed, and when there are none, or none works (it
   * may have moved), the node looks for it — mDNS announcements, the DHT — for at most
   * {@link NodeInit.lookupMs}. Throws {@link PeerNotFoundError} when no address was found,
   * {@link PeerUnreachableError} when none of its addresses answered.
   */
  open(target: string, protocol: string, options?: OpenOptions): Promise<FrameStream>;
  /** Asks the DHT (and the peer store) for the current addresses of `peerId`. */
  findPeer(peerId: string, options?: { signal?: AbortSignal }): Promise<string[]>;
  /** Calls `listener` with the peer id on each event; returns a function that unsubscribes. */
  on(event: NodeEvent, listener: (peerId: string) => void): () => void;
  /** Closes every connection and stops listening. */
  stop(): Promise<void>;
}

/** A peer could not be connected to (not found, or none of its addresses answered). */
export class PeerUnreachableError extends DdcpError {
  override name = 'PeerUnreachableError';
  /** The peer id or multiaddr that was dialed. */
  readonly target: string;
  /** Whether the connection was refused (nothing listens there), as opposed to other failures. */
  readonly refused: boolean;
  constructor(message: string, target: string, options: { cause?: unknown } = {}) {
    super(message, options);
    this.target = target;
    this.refused = isRefusal(options.cause);
  }
}

/** A peer known only by its id: no address for it was found (mDNS, DHT) within the lookup time. */
export class PeerNotFoundError extends PeerUnreachableError {
  override name = 'PeerNotFoundError';
  constructor(peerId: string, lookedMs: number, options: { cause?: unknown } = {}) {
    super(lookedMs > 0 ? `no address found for ${peerId} within ${lookedMs} ms` : `no address known for ${peerId}`, peerId, options);
  }
}

/** Whether a dial error (or one it wraps) is a refused connection. */
export function isRefusal(err: unknown, depth = 0): boolean {
  if (!(err instanceof Error) || depth > 5) return false;
  if ((err as NodeJS.ErrnoException).code === 'ECONNREFUSED' || /ECONNREFUSED/.test(err.message)) return true;
  const inner = [err.cause, ...((err as { errors?: unknown[] }).errors ?? [])];
  return inner.some((e) => isRefusal(e, depth + 1));
}

/** The reason of a dial error in words ("connection refused", or libp2p's message). */
function dialReason(err: Error): string {
  return isRefusal(err) ? 'connection refused' : err.message;
}

/** The node could not listen where asked (the port is taken, the address is not this machine's). */
export class ListenError extends DdcpError {
  override name = 'ListenError';
}

const LISTEN_REASONS: Record<string, string> = { EADDRINUSE: 'address already in use', EADDRNOTAVAIL: 'not an address of this machine', EACCES: 'permission denied' };

/** libp2p's "failed to be listened on" error, in words (undefined for other errors). */
function listenError(err: unknown): ListenError | undefined {
  if (!(err instanceof Error) || err.name !== 'UnsupportedListenAddressesError') return undefined;
  const failures = [...err.message.matchAll(/^\s*(\/\S+): (.*)$/gm)].map(([, address, reason]) => {
    const code = /\b(E[A-Z]+)\b/.exec(reason ?? '')?.[1];
    return `${address}: ${(code && LISTEN_REASONS[code]) ?? reason}`;
  });
  return new ListenError(`cannot listen on ${failures.join('; ') || 'the given addresses'}`, { cause: err });
}

/** A bad argument: an address that is not a multiaddr or a peer id, a bootstrap address without a peer id. */
export class P2pAddressError extends DdcpError {
  override name = 'P2pAddressError';
}

/**
 * The most a Yamux stream lets its peer send ahead of what we have read (libp2p's default is 16
 * MiB): with a slow reader this much may sit in buffers, per stream. 4 MiB still fills a 40 MB/s
 * link at 100 ms round-trip time.
 */
export const STREAM_WINDOW_BYTES = 4 * 1024 * 1024;

/**
 * How long libp2p's connection monitor (which pings every connection every 10 s) waits for a ping
 * before it aborts the whole connection, every stream on it reset; the answering side gives an
 * incoming ping twice as long before it resets the ping stream (which the pinging side's monitor
 * also takes for a failure). libp2p's defaults, 5 s (on a fast link) and 10 s, are counted in wall
 * time: a process whose event loop stalls longer (5–11 s stalls measured at load 12 on 2 cores)
 * finds the ping timed out when it wakes, before it reads the answer already waiting, and a sync in
 * the middle of its transfer is cut. A peer that is really gone is still dropped, within 10 + 30 s.
 */
export const PING_TIMEOUT_MS = 30_000;

/** How often the connection monitor pings each connection (libp2p's default, set here to size the next). */
export const PING_INTERVAL_MS = 10_000;

/**
 * Ping streams allowed at once on a connection, each way. The monitor starts a ping every interval
 * without waiting for the last one, so with pings allowed {@link PING_TIMEOUT_MS} (up to twice that)
 * several can be in flight on a stalled machine; at libp2p's limit of one outbound ping the second
 * is refused (TooManyOutboundProtocolStreamsError), which the monitor counts as a failed ping and
 * aborts the whole connection — a sync on it cut exactly when the stall the long time-outs were
 * meant to survive happens.
 */
export const PING_STREAMS = Math.ceil((2 * PING_TIMEOUT_MS) / PING_INTERVAL_MS) + 1;

/**
 * How long a new stream's protocol negotiation may take, each way, before libp2p aborts the stream.
 * Its default, 10 s of wall time, is as short as the stalls of a loaded machine (up to 11 s seen):
 * an incoming sync stream, or the monitor's ping (whose failure costs the whole connection), would
 * be reset as the answering process wakes up.
 */
export const NEGOTIATION_TIMEOUT_MS = 30_000;

/** Don't redial an mDNS-discovered peer more often than this. */
const AUTO_DIAL_INTERVAL_MS = 30_000;
/** Don't dial discovered peers beyond this many open connections. */
const AUTO_DIAL_MAX_PEERS = 64;

/** Creates and starts a node. See {@link NodeInit} for the defaults. */
export async function createNode(init: NodeInit): Promise<P2pNode> {
  const listen = init.listen ?? DEFAULT_LISTEN;
  const useDht = init.dht ?? true;
  const useMdns = init.mdns ?? true;
  for (const address of listen) parseMultiaddr(address);
  const bootstrapList = init.bootstrap ?? [];
  for (const address of bootstrapList) checkPeerAddress(address, 'bootstrap address');

  // mDNS-discovered peers are dialed (set once libp2p exists)
  let onLocalPeer: (peer: PeerInfo) => void = () => {};
  const peerDiscovery: Array<(components: any) => PeerDiscovery> = [];
  if (bootstrapList.length > 0) peerDiscovery.push(bootstrap({ list: bootstrapList, timeout: 100 }));
  // mDNS and the DHT are loaded only when asked for: a node without them (a pull, `serve --no-dht`)
  // doesn't pay for their code (2–3 MiB of an idle serve's RSS, measured).
  if (useMdns) {
    const { mdns } = await import('@libp2p/mdns');
    const factory = mdns();
    peerDiscovery.push((components) => {
      const discovery = factory(components);
      discovery.addEventListener('peer', (evt) => onLocalPeer(evt.detail));
      return discovery;
    });
  }

  const services: Record<string, (components: any) => unknown> = {
    identify: identify(),
    identifyPush: identifyPush(),
    ping: ping({ timeout: 2 * PING_TIMEOUT_MS, maxInboundStreams: PING_STREAMS, maxOutboundStreams: PING_STREAMS }),
  };
  if (useDht) {
    const { kadDHT, passthroughMapper } = await import('@libp2p/kad-dht');
    const answers = init.dhtAnswers ?? true;
    const dht = kadDHT({
      protocol: DHT_PROTOCOL,
      clientMode: answers === false,
      peerInfoMapper: passthroughMapper,
      logPrefix: 'libp2p:ddcp-dht',
      datastorePrefix: '/ddcp-dht',
      metricsPrefix: 'ddcp_dht',
    });
    services.dht = typeof answers === 'function' ? (components: any) => dht(answeringOnly(components, answers)) : dht;
  }

  const transports: Array<(components: any) => Transport> = [tcp()];
  if (init.webSockets ?? true) {
    const { webSockets } = await import('@libp2p/websockets');
    transports.push(webSockets());
  }

  let libp2p: Libp2p;
  try {
    libp2p = await createLibp2p({
      privateKey: init.privateKey,
      addresses: { listen },
      transports,
      connectionEncrypters: [noise()],
      streamMuxers: [yamux({ streamOptions: { maxStreamWindowSize: STREAM_WINDOW_BYTES } })],
      connectionManager: { inboundStreamProtocolNegotiationTimeout: NEGOTIATION_TIMEOUT_MS, outboundStreamProtocolNegotiationTimeout: NEGOTIATION_TIMEOUT_MS },
      connectionMonitor: { pingInterval: PING_INTERVAL_MS, pingTimeout: { minTimeout: PING_TIMEOUT_MS, maxTimeout: 2 * PING_TIMEOUT_MS } },
      peerDiscovery,
      services,
      nodeInfo: { name: 'ddcp' },
    });
  } catch (err) {
    throw listenError(err) ?? err;
  }
  return new Node(libp2p, { listen, dht: useDht, mdns: useMdns, lookupMs: init.lookupMs ?? DEFAULT_LOOKUP_MS }, init.frames ?? {}, (fn) => {
    onLocalPeer = fn;
  });
}

/** A peer asked our DHT without being one it answers. */
export class DhtRefusedError extends DdcpError {
  override name = 'DhtRefusedError';
}

/**
 * The DHT's components with a registrar whose `handle` admits an incoming stream only from a peer
 * `answers` accepts (the DHT registers its protocol handler through it, also when it switches
 * modes); everything else is the real components'.
 */
function answeringOnly(components: any, answers: (peerId: string) => boolean): any {
  const registrar = components.registrar;
  const handle = (protocol: string, handler: (stream: any, connection: Connection) => unknown, options?: unknown): Promise<void> =>
    registrar.handle(
      protocol,
      (stream: any, connection: Connection) => {
        const peer = connection.remotePeer.toString();
        if (answers(peer)) return handler(stream, connection);
        stream.abort(new DhtRefusedError(`peer ${peer} may not query this node's DHT`));
      },
      options,
    );
  const gated = new Proxy(registrar, {
    get: (target, prop) => {
      if (prop === 'handle') return handle;
      const v = Reflect.get(target, prop, target);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  return new Proxy(components, { get: (target, prop) => (prop === 'registrar' ? gated : Reflect.get(target, prop, target)) });
}

/**
 * Checks that `address` is a multiaddr ending in `/p2p/<peer id>` (a bootstrap peer, a remote);
 * throws {@link P2pAddressError} naming `what` otherwise.
 */
export function checkPeerAddress(address: string, what = 'address'): void {
  let ma: Multiaddr;
  try {
    ma = multiaddr(address);
  } catch (cause) {
    throw new P2pAddressError(`${what} ${address} is not a multiaddr (like /ip4/192.0.2.7/tcp/4001/p2p/12D3KooW…)`, { cause });
  }
  const last = ma.getComponents().at(-1);
  if (last?.name !== 'p2p' || last.value == null) throw new P2pAddressError(`${what} ${address} must end in /p2p/<peer id>`);
  try {
    peerIdFromString(last.value);
  } catch (cause) {
    throw new P2pAddressError(`${what} ${address} ends in /p2p/${last.value}, which is not a peer id`, { cause });
  }
}

/** Checks that `address` is a multiaddr to listen on; throws {@link P2pAddressError} naming it otherwise. */
export function checkListenAddress(address: string): void {
  try {
    multiaddr(address);
  } catch (cause) {
    throw new P2pAddressError(`listen address ${address} is not a multiaddr (like /ip4/0.0.0.0/tcp/4001)`, { cause });
  }
}

function parseMultiaddr(address: string): Multiaddr {
  try {
    return multiaddr(address);
  } catch (cause) {
    throw new P2pAddressError(`not a multiaddr: ${address}`, { cause });
  }
}

function parsePeerId(text: string): PeerId {
  try {
    return peerIdFromString(text);
  } catch (cause) {
    throw new P2pAddressError(`not a peer id or multiaddr: ${text}`, { cause });
  }
}

interface NodeSettings {
  listen: string[];
  dht: boolean;
  mdns: boolean;
  lookupMs: number;
}

class Node implements P2pNode {
  readonly peerId: string;
  readonly libp2p: Libp2p;
  readonly #settings: NodeSettings;
  readonly #frames: FrameStreamOptions;
  readonly #lastAutoDial = new Map<string, number>();
  #stopped = false;

  constructor(libp2p: Libp2p, settings: NodeSettings, frames: FrameStreamOptions, setOnLocalPeer: (fn: (peer: PeerInfo) => void) => void) {
    this.libp2p = libp2p;
    this.peerId = libp2p.peerId.toString();
    this.#settings = settings;
    this.#frames = frames;
    setOnLocalPeer((peer) => this.#autoDial(peer));
  }

  addresses(): string[] {
    return this.libp2p.getMultiaddrs().map((ma) => ma.toString());
  }

  listening(): string[] {
    const bound = this.libp2p.getMultiaddrs();
    return this.#settings.listen.map((template) => boundAs(template, bound));
  }

  peers(): string[] {
    return this.libp2p.getPeers().map((id) => id.toString());
  }

  async handle(protocol: string, handler: FrameHandler, options: HandleOptions = {}): Promise<void> {
    await this.libp2p.handle(
      protocol,
      async (stream, connection) => {
        const remotePeer = connection.remotePeer.toString();
        const frames = libp2pFrameStream(stream, remotePeer, options.frames ?? this.#frames);
        try {
          await handler(frames, remotePeer);
        } catch (err) {
          frames.abort(err instanceof Error ? err : new Error(String(err)));
          return;
        }
        try {
          await frames.close();
        } catch {
          // the stream failed or was aborted by the handler: nothing left to close
        }
      },
      {
        ...(options.maxInboundStreams != null ? { maxInboundStreams: options.maxInboundStreams } : {}),
        ...(options.maxOutboundStreams != null ? { maxOutboundStreams: options.maxOutboundStreams } : {}),
      },
    );
  }

  async unhandle(protocol: string): Promise<void> {
    await this.libp2p.unhandle(protocol);
  }

  async open(target: string, protocol: string, options: OpenOptions = {}): Promise<FrameStream> {
    const { signal } = options;
    const connection = target.startsWith('/') ? await this.#dialAddress(parseMultiaddr(target), signal) : await this.#dialPeer(parsePeerId(target), signal);
    const stream = await connection.newStream(protocol, signal ? { signal } : {});
    return libp2pFrameStream(stream, connection.remotePeer.toString(), options.frames ?? this.#frames);
  }

  async findPeer(peerId: string, options: { signal?: AbortSignal } = {}): Promise<string[]> {
    const info = await this.libp2p.peerRouting.findPeer(parsePeerId(peerId), { signal: options.signal, useCache: false });
    return info.multiaddrs.map((ma) => ma.toString());
  }

  on(event: NodeEvent, listener: (peerId: string) => void): () => void {
    const handler = (evt: CustomEvent<PeerId | PeerInfo>): void => {
      const detail = evt.detail;
      listener('id' in detail ? detail.id.toString() : detail.toString());
    };
    this.libp2p.addEventListener(event, handler as (evt: CustomEvent<unknown>) => void);
    return () => this.libp2p.removeEventListener(event, handler as (evt: CustomEvent<unknown>) => void);
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    await this.libp2p.stop();
  }

  async #dialAddress(address: Multiaddr, signal?: AbortSignal): Promise<Connection> {
    try {
      return await this.libp2p.dial(address, signal ? { signal } : {});
    } catch (cause) {
      signal?.throwIfAborted();
      throw new PeerUnreachableError(`cannot connect to ${address.toString()}: ${dialReason(cause as Error)}`, address.toString(), { cause });
    }
  }

  /**
   * An open connection or the peer store's addresses first; then, while the lookup time lasts, what
   * mDNS and the DHT say (a peer that moved is found again at its new address).
   */
  async #dialPeer(peerId: PeerId, signal?: AbortSignal): Promise<Connection> {
    const id = peerId.toString();
    const opts = signal ? { signal } : {};
    let failure: Error | undefined;
    const attempt = async (target: PeerId | Multiaddr[]): Promise<Connection | undefined> => {
      try {
        return await this.libp2p.dial(target, opts);
      } catch (err) {
        signal?.throwIfAborted();
        failure = err as Error;
        return undefined;
      }
    };
    if (await this.#knows(peerId)) {
      const connection = await attempt(peerId);
      if (connection) return connection;
    }
    const { dht, mdns, lookupMs } = this.#settings;
    const searching = dht || mdns;
    if (searching) {
      const lookup = signal ? AbortSignal.any([signal, AbortSignal.timeout(lookupMs)]) : AbortSignal.timeout(lookupMs);
      while (!lookup.aborted) {
        const found = await this.#lookFor(peerId, lookup);
        signal?.throwIfAborted();
        if (found === undefined) continue;
        const connection = await attempt(found);
        if (connection) return connection;
        await sleep(250, lookup); // its address refused: it may be restarting elsewhere
      }
    }
    signal?.throwIfAborted();
    if (failure) throw new PeerUnreachableError(`cannot connect to ${id}: ${dialReason(failure)}`, id, { cause: failure });
    throw new PeerNotFoundError(id, searching ? lookupMs : 0);
  }

  /** Whether we are connected to the peer or hold addresses for it. */
  async #knows(peerId: PeerId): Promise<boolean> {
    if (this.libp2p.getConnections(peerId).length > 0) return true;
    try {
      return (await this.libp2p.peerStore.get(peerId)).addresses.length > 0;
    } catch {
      return false; // not in the peer store
    }
  }

  /**
   * One round of looking for a peer: resolves with its addresses from the DHT, or its id once mDNS
   * announced it or it connected to us, or undefined when the DHT has no answer (after a short
   * pause) or `signal` aborts.
   */
  async #lookFor(peerId: PeerId, signal: AbortSignal): Promise<PeerId | Multiaddr[] | undefined> {
    const id = peerId.toString();
    const stop = new AbortController();
    const both = AbortSignal.any([signal, stop.signal]);
    const heard = new Promise<PeerId | undefined>((resolve) => {
      const onEvent = (evt: CustomEvent<PeerId | PeerInfo>): void => {
        const detail = evt.detail;
        if (('id' in detail ? detail.id : detail).equals(peerId)) resolve(peerId);
      };
      for (const name of ['peer:discovery', 'peer:connect'] as const) this.libp2p.addEventListener(name, onEvent as (evt: CustomEvent<unknown>) => void);
      both.addEventListener('abort', () => {
        for (const name of ['peer:discovery', 'peer:connect'] as const) this.libp2p.removeEventListener(name, onEvent as (evt: CustomEvent<unknown>) => void);
        resolve(undefined);
      });
    });
    const asked = this.#settings.dht
      ? this.libp2p.peerRouting.findPeer(peerId, { signal: both, useCache: false }).then(
          (info) => (info.multiaddrs.length > 0 ? info.multiaddrs.map((ma) => (ma.getComponents().findLast((c) => c.name === 'p2p')?.value === id ? ma : ma.encapsulate(`/p2p/${id}`))) : undefined),
          async () => {
            await sleep(250, both); // not (yet) in the DHT: ask again shortly
            return undefined;
          },
        )
      : heard;
    try {
      return await Promise.race([heard, asked]);
    } finally {
      stop.abort();
    }
  }

  /** Connects to a peer found on the local network, unless connected or tried recently. */
  #autoDial(peer: PeerInfo): void {
    if (this.#stopped || peer.id.equals(this.libp2p.peerId)) return;
    if (this.libp2p.getConnections(peer.id).length > 0) return;
    if (this.libp2p.getPeers().length >= AUTO_DIAL_MAX_PEERS) return;
    const id = peer.id.toString();
    const now = Date.now();
    if (now - (this.#lastAutoDial.get(id) ?? 0) < AUTO_DIAL_INTERVAL_MS) return;
    this.#lastAutoDial.set(id, now);
    const target = peer.multiaddrs.length > 0 ? peer.multiaddrs.map((ma) => ma.encapsulate(`/p2p/${id}`)) : peer.id;
    this.libp2p.dial(target).catch(() => {
      // best effort: a later announcement, or open(), tries again
    });
  }
}


const WILDCARDS = new Set(['0.0.0.0', '::']);

/**
 * A listen address as bound: `template` with a port 0 replaced by the port of the matching bound
 * address (same IP family and transport, same host unless the template's is a wildcard).
 */
export function boundAs(template: string, bound: Multiaddr[]): string {
  const t = multiaddr(template).getComponents();
  const host = t[0];
  const port = t.find((c) => c.name === 'tcp');
  if (!host || !port || port.value !== '0') return template;
  const ws = t.some((c) => c.name === 'ws' || c.name === 'wss');
  for (const ma of bound) {
    const b = ma.getComponents();
    if (b[0]?.name !== host.name || (!WILDCARDS.has(host.value ?? '') && b[0].value !== host.value)) continue;
    if (b.some((c) => c.name === 'ws' || c.name === 'wss') !== ws) continue;
    const p = b.find((c) => c.name === 'tcp')?.value;
    if (p && p !== '0') return template.replace('/tcp/0', `/tcp/${p}`);
  }
  return template;
}
