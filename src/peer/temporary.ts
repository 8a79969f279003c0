/** A short-lived node for one command (fetch, pull) that needs to reach network remotes. */
import { SYNC_PROTOCOL, type Dial } from '../repo/network-source.ts';
import type { Repository } from '../repo/repository.ts';
import type { FrameChannel } from '../sync/channel.ts';
import { createNode } from '../transport/p2p/node.ts';

/**
 * Runs `fn` with a dialer for network `locations`, backed by a node that only dials out. Multiaddrs
 * are dialed directly; bare addresses (peer ids) are looked for on the local network (mDNS) and in
 * the DHT when bootstrap peers are configured.
 */
export async function withNetwork<T>(repo: Repository, locations: string[], fn: (dial: (location: string) => Dial) => Promise<T>): Promise<T> {
  const bootstrap = repo.config.bootstrap ?? [];
  const needsDiscovery = locations.some((l) => !l.startsWith('/'));
  const node = await createNode({ privateKey: repo.identity.privateKey, listen: [], mdns: needsDiscovery, dht: needsDiscovery && bootstrap.length > 0, bootstrap });
  try {
    return await fn((location) => (signal) => node.open(location, SYNC_PROTOCOL, { signal }) as Promise<FrameChannel>);
  } finally {
    await node.stop();
  }
}
