/**
 * The DHT of `ddcp serve` answers only the peers the repository knows (allowed peers, remotes,
 * bootstrap peers): a stranger asking it for the peers closest to a key, or for a peer by id, learns
 * nothing of the node's other peers; an allowed peer still does. Real libp2p nodes on 127.0.0.1.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { generateKeyPair } from '@libp2p/crypto/keys';
import type { PrivateKey } from '@libp2p/interface';
import type { QueryEvent, SingleKadDHT } from '@libp2p/kad-dht';
import { peerIdFromString } from '@libp2p/peer-id';
import { multiaddr } from '@multiformats/multiaddr';
import { Server } from '../src/peer/server.ts';
import { createNode, type P2pNode } from '../src/transport/p2p/node.ts';
import { tempDir } from './support/cli.ts';
import { notesRepo } from './support/notes.ts';
import { until } from './support/serve.ts';

const LOCAL = '/ip4/127.0.0.1/tcp/0';
const cleanup: (() => Promise<unknown> | void)[] = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

async function node(privateKey?: PrivateKey): Promise<P2pNode> {
  const n = await createNode({ privateKey: privateKey ?? (await generateKeyPair('Ed25519')), listen: [LOCAL], mdns: false, dht: true });
  cleanup.push(() => n.stop());
  return n;
}

const dhtOf = (n: P2pNode): SingleKadDHT => (n.libp2p.services as { dht: SingleKadDHT }).dht;

/** What `asker` hears from `from` when it asks the DHT for the peers closest to `target`. */
async function askClosest(asker: P2pNode, from: string, target: string): Promise<{ answered: boolean; refused: boolean; learned: string[] }> {
  // the asker's routing table holds the server once identify has run
  await until(`${asker.peerId} to have ${from} in its DHT routing table`, () => dhtOf(asker).routingTable.size > 0);
  const out = { answered: false, refused: false, learned: [] as string[] };
  for await (const e of dhtOf(asker).getClosestPeers(peerIdFromString(target).toMultihash().bytes, { signal: AbortSignal.timeout(10_000) }) as AsyncIterable<QueryEvent>) {
    if (e.name === 'PEER_RESPONSE' && e.from.toString() === from) {
      out.answered = true;
      out.learned.push(...e.closer.map((p) => p.id.toString()));
    }
    if (e.name === 'QUERY_ERROR' && e.from.toString() === from) out.refused = true;
  }
  return out;
}

describe('the DHT of a served repository', { timeout: 120_000 }, () => {
  it('answers an allowed peer, and tells a stranger nothing about its other peers', async () => {
    const dir = tempDir();
    const alice = await notesRepo(dir, 'alice');
    const bob = await notesRepo(dir, 'bob');
    alice.allow(bob.address);
    const server = await Server.start(alice, { listen: [LOCAL], mdns: false, bootstrap: [] });
    cleanup.push(() => server.stop());
    const aliceAt = server.addresses()[0]!;
    // a peer of alice's whose address she knows (it connected to her)
    const friend = await node();
    await friend.libp2p.dial(multiaddr(aliceAt));
    await until('alice to know her friend', () => server.node.peers().includes(friend.peerId));

    const stranger = await node();
    await stranger.libp2p.dial(multiaddr(aliceAt));
    const heard = await askClosest(stranger, alice.address, friend.peerId);
    assert.deepEqual(heard, { answered: false, refused: true, learned: [] });
    await assert.rejects(stranger.libp2p.peerRouting.findPeer(peerIdFromString(friend.peerId), { useCache: false, signal: AbortSignal.timeout(5000) }));

    const bobNode = await node(bob.identity.privateKey);
    await bobNode.libp2p.dial(multiaddr(aliceAt));
    const told = await askClosest(bobNode, alice.address, friend.peerId);
    assert.ok(told.answered && told.learned.includes(friend.peerId), JSON.stringify(told));
    assert.ok((await bobNode.findPeer(friend.peerId)).length > 0);
    alice.close();
    bob.close();
  });
});
