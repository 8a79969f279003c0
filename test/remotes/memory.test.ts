/** The remote conformance suite over an in-memory channel to a served feed. */
import { describe } from 'node:test';
import { serveSession } from '../../src/sync/server.ts';
import { framePair } from '../../src/transport/memory.ts';
import { remoteSuite } from '../support/remote-suite.ts';

describe('remote kind: in-memory channel', () => {
  remoteSuite({
    async reach(server, client) {
      const feed = server.feed();
      const sessions = new AbortController();
      return {
        location: server.root,
        dial: async () => {
          const [s, c] = framePair();
          void serveSession(s, feed, feed, { peer: client.address, peerAddress: client.address, proof: server.siteProof(), signal: sessions.signal, gate: server.gate });
          return c;
        },
        close: async () => {
          sessions.abort();
          feed.stop();
        },
      };
    },
  });
});
