/**
 * Reaching a remote over the network, with failures said in words a user can act on: which remote,
 * where, and what to do — never libp2p's own wording.
 */
import { connect } from 'node:net';
import { multiaddr } from '@multiformats/multiaddr';
import { DdcpError } from '../base/errors.ts';
import { SYNC_PROTOCOL, type Dial } from '../sync/protocol.ts';
import type { Repository } from '../repo/repository.ts';
import type { FrameChannel } from '../sync/channel.ts';
import { DEFAULT_LOOKUP_MS, PeerNotFoundError, PeerUnreachableError, type P2pNode } from '../transport/p2p/node.ts';

/** A remote could not be reached; the message says why and what to try. */
export class RemoteUnreachableError extends DdcpError {
  override name = 'RemoteUnreachableError';
}

/** Environment variable: how long a remote known only by its address is looked for (ms). */
export const LOOKUP_ENV = 'DDCP_LOOKUP_TIMEOUT_MS';

/** The lookup time: {@link LOOKUP_ENV} when set to a positive number, else the node's default. */
export function lookupMs(env: NodeJS.ProcessEnv = process.env): number {
  const n = Number(env[LOOKUP_ENV]);
  return Number.isFinite(n) && n > 0 ? n : DEFAULT_LOOKUP_MS;
}

/** The name of the remote at `location`, if one is configured. */
function remoteName(repo: Repository, location: string): string | undefined {
  return repo.remotes().find((r) => r.location === location)?.name;
}

/** A dial failure in words, naming the remote (`name`, else the location). */
export function unreachable(err: unknown, location: string, name?: string): unknown {
  if (err instanceof PeerNotFoundError) {
    return new RemoteUnreachableError(
      `no address known for ${err.target}; is it serving? add a multiaddr (ddcp remote add ${name ?? 'NAME'} /ip4/…/p2p/${err.target}) or a bootstrap peer (ddcp config bootstrap add MULTIADDR)`,
      { cause: err },
    );
  }
  if (err instanceof PeerUnreachableError) {
    const reason = err.refused ? 'connection refused' : err.message.replace(/^cannot connect to \S+: /, '');
    return new RemoteUnreachableError(`cannot reach ${name ?? location} at ${location}: ${reason}`, { cause: err });
  }
  if (err instanceof Error && err.name === 'UnsupportedProtocolError') {
    // An older (or newer) ddcp: it doesn't speak this sync protocol (3: site ids proved by identities).
    return new RemoteUnreachableError(`${name ?? location} does not speak ${SYNC_PROTOCOL}: it runs another version of ddcp; upgrade both sides to the same one`, { cause: err });
  }
  return err;
}

/** Opens a sync stream to `location` through `node`, failures in words. */
export async function openSync(node: P2pNode, location: string, name?: string, signal?: AbortSignal): Promise<FrameChannel> {
  try {
    return await node.open(location, SYNC_PROTOCOL, signal ? { signal } : {});
  } catch (err) {
    throw unreachable(err, location, name);
  }
}

/** A dialer for the repository's network remotes through `node`. */
export function syncDialer(repo: Repository, node: P2pNode): (location: string) => Dial {
  return (location) => (signal) => openSync(node, location, remoteName(repo, location), signal);
}

/**
 * Checks that something listens at a multiaddr location: a TCP connection to its host and port
 * (TCP and WebSocket transports both run over one), closed at once. Gives up after {@link lookupMs}.
 * Throws {@link RemoteUnreachableError} saying why. Only the socket is tried — a peer whose process
 * is busy still counts as there; the sync session checks who answers when it runs.
 */
export async function probe(location: string, name: string, ms: number = lookupMs()): Promise<void> {
  const parts = multiaddr(location).getComponents();
  const host = parts[0];
  const port = Number(parts.find((c) => c.name === 'tcp')?.value);
  if (!host?.value || !['ip4', 'ip6', 'dns', 'dns4', 'dns6'].includes(host.name) || !(port > 0)) return; // nothing we know how to try
  const hostname = host.value;
  await new Promise<void>((resolve, reject) => {
    const socket = connect({ host: hostname, port, timeout: ms });
    socket.once('connect', () => {
      socket.destroy();
      resolve();
    });
    socket.once('timeout', () => {
      socket.destroy();
      reject(new RemoteUnreachableError(`cannot reach ${name} at ${location}: no answer within ${ms} ms`));
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      const reason = err.code === 'ECONNREFUSED' ? 'connection refused' : err.message;
      reject(new RemoteUnreachableError(`cannot reach ${name} at ${location}: ${reason}`, { cause: err }));
    });
  });
}
