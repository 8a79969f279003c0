/** A short-lived node for one command (fetch, pull, remote add) that needs to reach network remotes. */
import type { Dial } from '../sync/protocol.ts';
import type { Repository } from '../repo/repository.ts';
import { createNode, type P2pNode } from '../transport/p2p/node.ts';
import { lookupMs, syncDialer } from './reach.ts';

/**
 * Runs `fn` with a node that only dials out, under the repository's identity. Multiaddrs are dialed
 * directly; bare addresses (peer ids) in `locations` are looked for on the local network (mDNS,
 * unless the config says `"mdns": false`) and in the DHT when bootstrap peers are configured, for at
 * most {@link lookupMs}.
 */
export async function withNode<T>(repo: Repository, locations: string[], fn: (node: P2pNode) => Promise<T>): Promise<T> {
  const bootstrap = repo.config.bootstrap ?? [];
  const needsDiscovery = locations.some((l) => !l.startsWith('/'));
  const node = await createNode({
    privateKey: repo.identity.privateKey,
    listen: [],
    mdns: needsDiscovery && repo.config.mdns !== false,
    dht: needsDiscovery && bootstrap.length > 0,
    dhtAnswers: false, // it only asks: a short-lived node answers nobody's DHT queries
    bootstrap: needsDiscovery ? bootstrap : [],
    lookupMs: lookupMs(),
    // Found peers and bootstrap peers may be reachable only over WebSockets; given multiaddrs say.
    webSockets: needsDiscovery || locations.some(isWebSocket),
  });
  try {
    return await fn(node);
  } finally {
    await node.stop();
  }
}

/** Whether a multiaddr is a WebSocket one (`…/ws`, `…/wss`, `…/tls/ws`). */
function isWebSocket(location: string): boolean {
  return /\/wss?(\/|$)/.test(location);
}

/** Runs `fn` with a dialer for network `locations` (see {@link withNode}); failures are worded. */
export function withNetwork<T>(repo: Repository, locations: string[], fn: (dial: (location: string) => Dial) => Promise<T>): Promise<T> {
  return withNode(repo, locations, (node) => fn(syncDialer(repo, node)));
}
