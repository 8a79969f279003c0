/** The remote conformance suite over a folder remote: the folder's repository linked in-process. */
import { describe } from 'node:test';
import { linkFolder } from '../../src/repo/link.ts';
import { remoteSuite } from '../support/remote-suite.ts';

describe('remote kind: folder (in-process link)', () => {
  remoteSuite({
    async reach(server, client) {
      const link = linkFolder(server.root, { peer: client.address });
      return { location: server.root, dial: link.dial, close: async () => link.close() };
    },
  });
});
