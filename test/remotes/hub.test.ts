/**
 * The remote conformance suite with a hub as the remote: the served repository is hosted by a hub
 * on 127.0.0.1 (its policies are the hub's shares for the client's user), and the client reaches it
 * as `ws://127.0.0.1:PORT/notes` with a bearer token stored by `hub login`, through the WebSocket
 * transport and the hub's server.
 */
import { describe } from 'node:test';
import { HubServer } from '../../src/hub/server.ts';
import { remoteSuite } from '../support/remote-suite.ts';
import { repositoryStore, TokenAuthenticator } from '../support/hub.ts';

describe('remote kind: hub over WebSocket on 127.0.0.1', () => {
  remoteSuite({
    async reach(server, client) {
      const auth = new TokenAuthenticator();
      const hub = await HubServer.start({ store: repositoryStore(server, 'notes'), auth, port: 0 });
      const location = `${hub.url}/notes`;
      client.hubTokens.set(location, auth.issue(`token-${client.address}`, client.address));
      return {
        location,
        dial: (signal) => client.link({ name: 'origin', location }).dial(signal),
        close: () => hub.stop(),
      };
    },
  });
});
