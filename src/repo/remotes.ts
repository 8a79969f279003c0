/** Remotes: named locations of other repositories, kept in the config like git's. */
import { existsSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { DdcpError } from '../base/errors.ts';
import { isAddress } from './identity.ts';
import { layout } from './layout.ts';
import { isWsUrl } from '../transport/ws/dial.ts';
import { checkHubLocation } from './hub.ts';

export interface RemoteConfig {
  /**
   * A path to another repository on this machine, or a network address: the database's address
   * (a peer id, `12D3KooW…`) or a full multiaddr ending in `/p2p/<peer id>`, or a database on a hub
   * (`ws://host:port/<db>`, `wss://…`).
   */
  location: string;
}

export interface Remote extends RemoteConfig {
  name: string;
}

/** A remote is unknown, already exists, or its location is not usable. */
export class RemoteError extends DdcpError {
  override name = 'RemoteError';
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function checkRemoteName(name: string): void {
  if (!NAME.test(name)) throw new RemoteError(`invalid remote name "${name}": use letters, digits, '.', '_' or '-' (at most 64)`);
}

/** The peer id of a network location (a peer id, or a multiaddr ending in /p2p/<id>), else undefined. */
export function networkPeer(location: string): string | undefined {
  if (isAddress(location)) return location;
  const m = /\/p2p\/([1-9A-HJ-NP-Za-km-z]+)$/.exec(location);
  if (location.startsWith('/') && m && isAddress(m[1]!) && !existsSync(location)) return m[1];
  return undefined;
}

/**
 * Resolves a location given on the command line: a path to a repository (relative paths are made
 * absolute against `cwd`). Throws {@link RemoteError} if nothing usable is there.
 */
export function resolveLocation(location: string, cwd: string): string {
  if (location.trim() === '') throw new RemoteError('the remote location is empty');
  if (isWsUrl(location)) return checkHubLocation(location);
  // Any other URL (http://, a ws:// with no host) is a mistaken hub address, not a folder named "ws:".
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(location)) throw new RemoteError(`${location} is not a hub database URL: expected ws://HOST:PORT/DATABASE or wss://HOST/DATABASE`);
  if (networkPeer(location)) return location;
  const path = isAbsolute(location) ? location : resolve(cwd, location);
  if (existsSync(layout(path).config)) return path;
  if (existsSync(path)) throw new RemoteError(`${path} is not a ddcp repository (no .ddcp/config.json there)`);
  throw new RemoteError(`cannot reach remote location ${location}: no such repository (${path}), and it is not a database address (12D3KooW…) or a multiaddr ending in /p2p/<address>, or a hub database ws://HOST:PORT/DATABASE`);
}
