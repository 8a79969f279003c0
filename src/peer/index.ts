/**
 * `ddcp/peer`: a repository on the p2p network (libp2p). Import it only where the network is needed:
 * it loads libp2p, which the main entry `ddcp` never does.
 *
 * @example
 * ```ts
 * import { Repository } from 'ddcp';
 * import { Server, withNetwork } from 'ddcp/peer';
 * const repo = Repository.open('./notes');
 * const server = await Server.start(repo);                       // what `ddcp serve` runs
 * // fetch, pull or push network remotes once (what `ddcp pull` does):
 * await withNetwork(repo, ['/ip4/192.0.2.7/tcp/4001/p2p/12D3KooW…'], (dial) => repo.pull('office', { dial }));
 * ```
 */
export { Server } from './server.ts';
export type { ServeOptions, ServerEvents } from './server.ts';
export type { ConnectionChange, ConnectionState } from '../repo/connection.ts';
export { withNetwork, withNode } from './temporary.ts';
export { probe, RemoteUnreachableError, LOOKUP_ENV } from './reach.ts';
export { askServer, ControlError, SOCKET_FILE } from './control.ts';
export type { ControlRequest } from './control.ts';
export { checkListenAddress, checkPeerAddress, P2pAddressError, PeerUnreachableError, PeerNotFoundError, ListenError, DEFAULT_LISTEN } from '../transport/p2p/node.ts';
export type { P2pNode } from '../transport/p2p/node.ts';
