/** A short-lived node for one command (fetch, pull) that needs to reach network remotes. */
import { SYNC_PROTOCOL, type Dial } from '../repo/network-source.ts';
import type { Repository } from '../repo/repository.ts';
import type { FrameChannel } from '../sync/channel.ts';
import { createNode } from '../transport/p2p/node.ts';

/** Runs `fn` with a dialer for network locations, backed by a node that only dials out. */
export async function withNetwork<T>(repo: Repository, fn: (dial: (location: string) => Dial) => Promise<T>): Promise<T> {
  const node = await createNode({ privateKey: repo.identity.privateKey, listen: [], mdns: true, dht: (repo.config.bootstrap ?? []).length > 0, bootstrap: repo.config.bootstrap ?? [] });
  try {
    return await fn((location) => (signal) => node.open(location, SYNC_PROTOCOL, { signal }) as Promise<FrameChannel>);
  } finally {
    await node.stop();
  }
}
