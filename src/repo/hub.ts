/**
 * A hub remote: a database on a ddcp hub, at `ws://host:port/<db>` (or `wss://`). It is reached
 * through a WebSocket frame stream with a bearer token — `DDCP_HUB_TOKEN` if set and meant for that
 * hub, else the token stored for that hub by `ddcp hub login` (in `.ddcp/hub-tokens.json`, mode
 * 0600). The token is read at every dial, so a reconnect uses a refreshed one.
 *
 * A token names no hub (the hub's own say `ddcp-hub`, a provider's its issuer), so the environment's
 * goes to one hub only — the one `DDCP_HUB_TOKEN_HUB` names, or without it the hub every hub remote
 * is on — lest one hub be shown, and replay, a token meant for another.
 */
import { chmodSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Dial } from '../sync/protocol.ts';
import { dialWs, isWsUrl, WsRefusedError } from '../transport/ws/dial.ts';
import { RemoteError } from './remotes.ts';

/** The environment variable a hub token may come from (it wins over stored ones, for the hub it is meant for). */
export const HUB_TOKEN_ENV = 'DDCP_HUB_TOKEN';
/** The environment variable naming the hub (`ws://HOST:PORT`) {@link HUB_TOKEN_ENV} is for. */
export const HUB_TOKEN_HUB_ENV = 'DDCP_HUB_TOKEN_HUB';
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

/** The hub `DDCP_HUB_TOKEN_HUB` names, if set; a {@link RemoteError} if it names none. */
function namedHub(env: NodeJS.ProcessEnv): string | undefined {
  const named = env[HUB_TOKEN_HUB_ENV];
  if (!named) return undefined;
  const origin = isWsUrl(named) ? originOrNone(named) : undefined;
  if (origin === undefined) throw new RemoteError(`${HUB_TOKEN_HUB_ENV}=${named} is not a hub URL (expected ws://HOST:PORT or wss://HOST:PORT)`);
  return origin;
}

/** The hub of a remote's location, or undefined for one that is not a valid URL. */
function originOrNone(location: string): string | undefined {
  try {
    return hubOrigin(location);
  } catch {
    return undefined;
  }
}

/** `DDCP_HUB_TOKEN` for one hub: the token if it is meant for it, else why it is withheld (neither: unset). */
interface EnvToken {
  token?: string;
  withheld?: string;
}

/** Tokens per hub, in a file only the user can read, and the environment's for the hub it is meant for. */
export class HubTokens {
  readonly path: string;
  private readonly hubs: () => readonly string[];
  /** `hubs`: the locations of the repository's hub remotes (to tell which hub `DDCP_HUB_TOKEN` is for). */
  constructor(stateDir: string, hubs: () => readonly string[] = () => []) {
    this.path = join(stateDir, HUB_TOKENS_FILE);
    this.hubs = hubs;
  }

  /**
   * `DDCP_HUB_TOKEN` for the hub of `location`: meant for it if `DDCP_HUB_TOKEN_HUB` names it, or —
   * that unset — if no hub remote is on another hub. Throws {@link RemoteError} for a
   * `DDCP_HUB_TOKEN_HUB` that is not a hub URL.
   */
  private fromEnv(location: string, env: NodeJS.ProcessEnv): EnvToken {
    const token = env[HUB_TOKEN_ENV];
    if (!token) return {};
    const origin = hubOrigin(location);
    const named = namedHub(env);
    if (named !== undefined) return named === origin ? { token } : { withheld: `${HUB_TOKEN_ENV} is for ${named} (${HUB_TOKEN_HUB_ENV}), not this hub` };
    const others = new Set(this.hubs().map(originOrNone));
    others.delete(origin);
    others.delete(undefined);
    if (others.size === 0) return { token };
    return { withheld: `${HUB_TOKEN_ENV} is set but not sent, as this repository's hub remotes are on several hubs: set ${HUB_TOKEN_HUB_ENV}=ws://HOST:PORT to name the one it is for` };
  }

  /** Why `DDCP_HUB_TOKEN`, though set, is not sent to the hub of `location` (undefined: it is, or it is unset). */
  withheld(location: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
    return this.fromEnv(location, env).withheld;
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

  /** The token for the hub of `location`: the environment's if meant for it, else the stored one. */
  get(location: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
    return this.fromEnv(location, env).token ?? this.read()[hubOrigin(location)];
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
 * `withheld` says why `DDCP_HUB_TOKEN` was not sent, for the refusal of a dial without a token.
 */
export function hubDial(location: string, token: () => string | undefined, device?: () => Promise<string>, withheld?: () => string | undefined): Dial {
  return async (signal) => {
    const t = token();
    // A hub that gives no challenge (down, or older) is dialled without: the dial then says why it failed.
    const authorization = !t && device ? await device().catch(() => undefined) : undefined;
    try {
      return await dialWs(location, { ...(t ? { token: t } : {}), ...(authorization ? { authorization } : {}), ...(signal ? { signal } : {}) });
    } catch (err) {
      if (err instanceof WsRefusedError && err.status === 401 && !t) {
        const enroll = device ? "; or have the app's backend enroll this repository's address" : '';
        const why = withheld?.();
        throw new RemoteError(`${location}: the hub wants a token: run ddcp hub login ${hubOrigin(location)} (or set ${HUB_TOKEN_ENV})${enroll}${why ? `; ${why}` : ''}`, { cause: err });
      }
      throw err;
    }
  };
}
