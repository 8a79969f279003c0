/**
 * A libp2p node for peer-to-peer sync: a transport of {@link FrameStream}s between repositories,
 * addressed by their peer ids. It knows nothing of SQL; protocols register handlers by name and
 * open streams to peers.
 *
 * The stack (libp2p 3.x): TCP and WebSocket transports, Noise encryption, Yamux multiplexing,
 * identify (and identify-push, so peers learn of address changes), ping, a Kademlia DHT in server
 * mode on a private protocol ({@link DHT_PROTOCOL}) — every node answers DHT queries, so in a small
 * network a peer is found by its id through any node that knows it — mDNS discovery on the local
 * network, and bootstrap peers.
 */
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { bootstrap } from '@libp2p/bootstrap';
import { identify, identifyPush } from '@libp2p/identify';
import type { Connection, Libp2p, PeerDiscovery, PeerId, PeerInfo, PrivateKey } from '@libp2p/interface';
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht';
import { mdns } from '@libp2p/mdns';
import { peerIdFromString } from '@libp2p/peer-id';
import { ping } from '@libp2p/ping';
import { tcp } from '@libp2p/tcp';
import { webSockets } from '@libp2p/websockets';
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr';
import { createLibp2p } from 'libp2p';
import { DdcpError } from '../../engine/errors.ts';
import type { FrameStream, FrameStreamOptions } from '../frames.ts';
import { libp2pFrameStream } from './frames.ts';

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
  /** Frame limits and buffering for every stream of this node (defaults: see transport/frames.ts). */
  frames?: FrameStreamOptions;
}

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
  /** Peer ids this node has an open connection to. */
  peers(): string[];
  /**
   * Accepts streams of `protocol` (e.g. `/ddcp/sync/1.0.0`). Each incoming stream is wrapped as a
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
   * may have moved), the DHT is asked for its current addresses. Throws
   * {@link PeerUnreachableError} when no connection can be made.
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
  for (const address of bootstrapList) {
    if (parseMultiaddr(address).getComponents().findLast((c) => c.name === 'p2p')?.value == null) {
      throw new P2pAddressError(`bootstrap address ${address} must end in /p2p/<peer id>`);
    }
  }

  // mDNS-discovered peers are dialed (set once libp2p exists)
  let onLocalPeer: (peer: PeerInfo) => void = () => {};
  const peerDiscovery: Array<(components: any) => PeerDiscovery> = [];
  if (bootstrapList.length > 0) peerDiscovery.push(bootstrap({ list: bootstrapList, timeout: 100 }));
  if (useMdns) {
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
    ping: ping(),
  };
  if (useDht) {
    services.dht = kadDHT({
      protocol: DHT_PROTOCOL,
      clientMode: false,
      peerInfoMapper: passthroughMapper,
      logPrefix: 'libp2p:ddcp-dht',
      datastorePrefix: '/ddcp-dht',
      metricsPrefix: 'ddcp_dht',
    });
  }

  const libp2p: Libp2p = await createLibp2p({
    privateKey: init.privateKey,
    addresses: { listen },
    transports: [tcp(), webSockets()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux({ streamOptions: { maxStreamWindowSize: STREAM_WINDOW_BYTES } })],
    peerDiscovery,
    services,
    nodeInfo: { name: 'ddcp' },
  });
  return new Node(libp2p, useDht, init.frames ?? {}, (fn) => {
    onLocalPeer = fn;
  });
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

class Node implements P2pNode {
  readonly peerId: string;
  readonly libp2p: Libp2p;
  readonly #useDht: boolean;
  readonly #frames: FrameStreamOptions;
  readonly #lastAutoDial = new Map<string, number>();
  #stopped = false;

  constructor(libp2p: Libp2p, useDht: boolean, frames: FrameStreamOptions, setOnLocalPeer: (fn: (peer: PeerInfo) => void) => void) {
    this.libp2p = libp2p;
    this.peerId = libp2p.peerId.toString();
    this.#useDht = useDht;
    this.#frames = frames;
    setOnLocalPeer((peer) => this.#autoDial(peer));
  }

  addresses(): string[] {
    return this.libp2p.getMultiaddrs().map((ma) => ma.toString());
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
      throw new PeerUnreachableError(`cannot connect to ${address.toString()}: ${(cause as Error).message}`, { cause });
    }
  }

  /** The peer store's addresses (or an open connection) first, then a fresh DHT lookup. */
  async #dialPeer(peerId: PeerId, signal?: AbortSignal): Promise<Connection> {
    const opts = signal ? { signal } : {};
    let firstError: Error;
    try {
      return await this.libp2p.dial(peerId, opts);
    } catch (err) {
      signal?.throwIfAborted();
      firstError = err as Error;
    }
    if (!this.#useDht) {
      throw new PeerUnreachableError(`cannot connect to ${peerId.toString()}: ${firstError.message}`, { cause: firstError });
    }
    let addresses: Multiaddr[];
    try {
      const info = await this.libp2p.peerRouting.findPeer(peerId, { ...opts, useCache: false });
      addresses = info.multiaddrs;
    } catch (err) {
      signal?.throwIfAborted();
      throw new PeerUnreachableError(`cannot connect to ${peerId.toString()}: ${firstError.message}; not found in the DHT either (${(err as Error).message})`, {
        cause: firstError,
      });
    }
    const id = peerId.toString();
    const dialable = addresses.map((ma) => (ma.getComponents().findLast((c) => c.name === 'p2p')?.value === id ? ma : ma.encapsulate(`/p2p/${id}`)));
    if (dialable.length === 0) {
      throw new PeerUnreachableError(`cannot connect to ${id}: ${firstError.message}; the DHT knows no address for it`, { cause: firstError });
    }
    try {
      return await this.libp2p.dial(dialable, opts);
    } catch (err) {
      signal?.throwIfAborted();
      throw new PeerUnreachableError(`cannot connect to ${id} at ${dialable.join(', ')}: ${(err as Error).message}`, { cause: err });
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
