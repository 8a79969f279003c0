/**
 * A hub remote: a database on a ddcp hub, at `ws://host:port/<db>` (or `wss://`). It is reached
 * through a WebSocket frame stream with a bearer token — `DDCP_HUB_TOKEN` if set, else the token
 * stored for that hub by `ddcp hub login` (in `.ddcp/hub-tokens.json`, mode 0600). The token is read
 * at every dial, so a reconnect uses a refreshed one.
 */
import { chmodSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Dial } from '../sync/protocol.ts';
import { dialWs, isWsUrl, WsRefusedError } from '../transport/ws/dial.ts';
import { RemoteError } from './remotes.ts';

/** The environment variable a hub token may come from (it wins over stored ones). */
export const HUB_TOKEN_ENV = 'DDCP_HUB_TOKEN';
export const HUB_TOKENS_FILE = 'hub-tokens.json';

/** Whether a location is a hub database URL (ws:// or wss://). */
export const isHubLocation = isWsUrl;

/** A hub database URL, checked: `ws[s]://host[:port]/<db>` with one path segment. Throws {@link RemoteError}. */
export function checkHubLocation(location: string): string {
  let url: URL;
  try {
    url = new URL(location);
  } catch {
    throw new RemoteError(`${location} is not a valid hub URL (expected ws://HOST:PORT/DATABASE)`);
  }
  const db = url.pathname.slice(1);
  if (!/^[a-z0-9][a-z0-9_-]{0,62}$/.test(db) || url.search || url.hash || url.username || url.password) {
    throw new RemoteError(`${location} does not name a hub database: expected ws://HOST:PORT/DATABASE, the database being 1-63 of a-z, 0-9, '_' and '-'`);
  }
  return `${url.protocol}//${url.host}/${db}`;
}

/** The hub a database URL is on (`ws://host:port`): tokens are kept per hub. */
export function hubOrigin(location: string): string {
  const url = new URL(location);
  return `${url.protocol}//${url.host}`;
}

/** Tokens per hub, in a file only the user can read. */
export class HubTokens {
  readonly path: string;
  constructor(stateDir: string) {
    this.path = join(stateDir, HUB_TOKENS_FILE);
  }

  private read(): Record<string, string> {
    if (!existsSync(this.path)) return {};
    try {
      const o = JSON.parse(readFileSync(this.path, 'utf8')) as unknown;
      if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new Error('not an object');
      return Object.fromEntries(Object.entries(o).filter((e): e is [string, string] => typeof e[1] === 'string'));
    } catch (cause) {
      throw new RemoteError(`cannot read ${this.path}: ${(cause as Error).message}`, { cause });
    }
  }

  /** The token for the hub of `location` (environment first). */
  get(location: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
    return env[HUB_TOKEN_ENV] || this.read()[hubOrigin(location)];
  }

  /** Stores (or with undefined, forgets) the token for the hub of `location`. */
  set(location: string, token: string | undefined): void {
    const all = this.read();
    if (token === undefined) delete all[hubOrigin(location)];
    else all[hubOrigin(location)] = token;
    const tmp = `${this.path}.tmp-${process.pid}`;
    writeFileSync(tmp, JSON.stringify(all, null, 2) + '\n', { mode: 0o600 });
    chmodSync(tmp, 0o600);
    renameSync(tmp, this.path);
  }
}

/**
 * Dials sessions to a hub database with the token `token()` gives at each dial; without one, as an
 * enrolled device if `device` is given (it answers the hub's challenge with the repository's key).
 */
export function hubDial(location: string, token: () => string | undefined, device?: () => Promise<string>): Dial {
  return async (signal) => {
    const t = token();
    // A hub that gives no challenge (down, or older) is dialled without: the dial then says why it failed.
    const authorization = !t && device ? await device().catch(() => undefined) : undefined;
    try {
      return await dialWs(location, { ...(t ? { token: t } : {}), ...(authorization ? { authorization } : {}), ...(signal ? { signal } : {}) });
    } catch (err) {
      if (err instanceof WsRefusedError && err.status === 401 && !t) {
        const enroll = device ? "; or have the app's backend enroll this repository's address" : '';
        throw new RemoteError(`${location}: the hub wants a token: run ddcp hub login ${hubOrigin(location)} (or set ${HUB_TOKEN_ENV})${enroll}`, { cause: err });
      }
      throw err;
    }
  };
}
