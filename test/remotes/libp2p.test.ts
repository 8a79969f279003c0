/** The remote conformance suite over libp2p (TCP on 127.0.0.1, Noise, Yamux): a served repository and a dialling node. */
import { describe } from 'node:test';
import { openSync } from '../../src/peer/reach.ts';
import { Server } from '../../src/peer/server.ts';
import { createNode } from '../../src/transport/p2p/node.ts';
import { remoteSuite } from '../support/remote-suite.ts';

describe('remote kind: libp2p on 127.0.0.1', () => {
  remoteSuite({
    async reach(server, client) {
      const served = await Server.start(server, { listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, dht: false });
      const node = await createNode({ privateKey: client.identity.privateKey, listen: [], mdns: false, dht: false });
      const location = served.addresses().find((a) => a.includes('/tcp/') && !a.includes('/ws'))!;
      return {
        location,
        dial: (signal) => openSync(node, location, 'origin', signal),
        close: async () => {
          await node.stop();
          await served.stop();
        },
      };
    },
  });
});
