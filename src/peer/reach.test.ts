/** Reaching a remote over libp2p on 127.0.0.1: failures in words a user can act on. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { createNode } from '../transport/p2p/node.ts';
import { SYNC_PROTOCOL } from '../sync/protocol.ts';
import { openSync, RemoteUnreachableError } from './reach.ts';

describe('reaching a remote', () => {
  it('a peer that does not speak this sync protocol (another ddcp version) is named, with what to do', async () => {
    const listen = ['/ip4/127.0.0.1/tcp/0'];
    const old = await createNode({ privateKey: await generateKeyPair('Ed25519'), listen, mdns: false, dht: false });
    const us = await createNode({ privateKey: await generateKeyPair('Ed25519'), listen, mdns: false, dht: false });
    try {
      // `old` answers only an older protocol id, as a ddcp of another version would.
      await old.handle('/ddcp/sync/2.0.0', () => {});
      const location = old.addresses().find((a) => a.includes('/tcp/'))!;
      await assert.rejects(openSync(us, location, 'alice'), (err: Error) => {
        assert.ok(err instanceof RemoteUnreachableError, err.name);
        assert.match(err.message, new RegExp(`^alice does not speak ${SYNC_PROTOCOL}: it runs another version of ddcp; upgrade both sides`));
        return true;
      });
    } finally {
      await us.stop();
      await old.stop();
    }
  });
});
