/**
 * The connection monitor's pings overlap on a stalled machine (a new one every interval, each allowed
 * up to twice the ping time-out): the ping service must take as many at once, both ways, or the one
 * over its limit is refused and the monitor aborts the connection.
 */
import assert from 'node:assert/strict';
import { after, it } from 'node:test';
import { generateKeyPair } from '@libp2p/crypto/keys';
import type { Stream } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { multiaddr } from '@multiformats/multiaddr';
import { createNode, PING_INTERVAL_MS, PING_STREAMS, PING_TIMEOUT_MS, type P2pNode } from './node.ts';

const PING = '/ipfs/ping/1.0.0';
const nodes: P2pNode[] = [];
after(() => Promise.all(nodes.map((n) => n.stop())));

it('takes as many overlapping pings as the monitor can have in flight, each way', async () => {
  assert.ok(PING_STREAMS * PING_INTERVAL_MS > 2 * PING_TIMEOUT_MS, 'a ping may last twice its time-out');
  for (let i = 0; i < 2; i++) {
    nodes.push(await createNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, dht: false, webSockets: false }));
  }
  const [a, b] = nodes as [P2pNode, P2pNode];
  await a.libp2p.dial(multiaddr(b.addresses()[0]!));
  // Pings that are never answered stay open, as on a peer whose event loop stalls: every one must be let through.
  const streams: Stream[] = [];
  for (let i = 0; i < PING_STREAMS; i++) streams.push(await a.libp2p.dialProtocol(peerIdFromString(b.peerId), PING, { runOnLimitedConnection: true }));
  assert.equal(streams.length, PING_STREAMS);
  assert.deepEqual(a.peers(), [b.peerId], 'the connection is still open');
  for (const s of streams) s.abort(new Error('done'));
});
