/** The repository's config file: small, human-readable JSON, written atomically. */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { RepositoryError } from './errors.ts';
import type { RemoteConfig } from './remotes.ts';

export const CONFIG_VERSION = 1;

export interface RepoConfig {
  version: number;
  /** The database file, relative to the repository root (or absolute). */
  db: string;
  /** Remotes by name. */
  remotes?: Record<string, RemoteConfig>;
  /** Addresses (peer ids) allowed to fetch from this database when it is served. */
  allow?: string[];
  /**
   * Addresses (peer ids) whose pushed changes this database takes; everyone else may not write.
   * (All or nothing per peer until per-peer write policies exist.)
   */
  write?: string[];
  /** Multiaddrs of DHT bootstrap peers for `serve` and network fetches (`ddcp config bootstrap`). */
  bootstrap?: string[];
  /**
   * Where `serve` listens (multiaddrs), unless `--listen` is given. Without it, `serve` listens where
   * it did last time (remembered in `.ddcp/listen.json`), or on random ports the first time.
   */
  listen?: string[];
  /** Whether to discover peers on the local network by mDNS (`ddcp config mdns on|off`); default on. */
  mdns?: boolean;
}

/** The config with `address` added to the bootstrap peers (unchanged if already there). */
export function withBootstrap(config: RepoConfig, address: string): RepoConfig {
  const list = config.bootstrap ?? [];
  return list.includes(address) ? config : { ...config, bootstrap: [...list, address] };
}

/** The config without bootstrap peer `address`; undefined if it was not there. */
export function withoutBootstrap(config: RepoConfig, address: string): RepoConfig | undefined {
  const list = config.bootstrap ?? [];
  if (!list.includes(address)) return undefined;
  return { ...config, bootstrap: list.filter((a) => a !== address) };
}

export function readConfig(path: string): RepoConfig {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (cause) {
    throw new RepositoryError(`cannot read ${path}: ${(cause as Error).message}`, { cause });
  }
  const c = parsed as Partial<RepoConfig>;
  if (typeof c !== 'object' || c === null || typeof c.db !== 'string' || typeof c.version !== 'number') {
    throw new RepositoryError(`${path} is not a ddcp config (expected "version" and "db")`);
  }
  if (c.version > CONFIG_VERSION) throw new RepositoryError(`${path} is from a newer ddcp (config version ${c.version}); upgrade ddcp`);
  return c as RepoConfig;
}

/** Writes the config via a temporary file and rename, so a crash never leaves half a file. */
export function writeConfig(path: string, config: RepoConfig): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, JSON.stringify(config, null, 2) + '\n', { mode: 0o644 });
  renameSync(tmp, path);
}

/**
 * Why `peer` may not push to a database with this config, or undefined if it may. Writing is refused
 * unless the peer was given write permission.
 */
export function writeRefusal(config: RepoConfig, peer: string): string | undefined {
  if (config.write?.includes(peer)) return undefined;
  return `peer ${peer} may not write to this database (on its side: ddcp allow ${peer} --write '*')`;
}
