/** The repository's config file: small, human-readable JSON, written atomically. */
import { renameSync, writeFileSync } from 'node:fs';
import * as v from 'valibot';
import { RepositoryError } from './errors.ts';
import { parseWith, readJsonFile } from './validate.ts';
import type { RemoteConfig } from './remotes.ts';
import { DEFAULT_POLICY, policyFromJson, policyToJson, PolicyError, type PeerPolicy } from '../sync/policy.ts';

export const CONFIG_VERSION = 1;

export interface RepoConfig {
  version: number;
  /** The database file, relative to the repository root (or absolute). */
  db: string;
  /** Remotes by name. */
  remotes?: Record<string, RemoteConfig>;
  /** Allowed peers (by address) and what each may read and write when this database is served. */
  peers?: Record<string, PeerPolicy>;
  /**
   * Legacy (before policies): addresses allowed to fetch, read as {@link DEFAULT_POLICY} each; moved
   * into `peers` the next time the config is written.
   */
  allow?: string[];
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

/** The allowed peers and their policies, legacy `allow` entries included (as the default policy). */
export function peerPolicies(config: RepoConfig): Map<string, PeerPolicy> {
  const out = new Map<string, PeerPolicy>();
  for (const a of config.allow ?? []) out.set(a, { ...DEFAULT_POLICY });
  for (const [a, p] of Object.entries(config.peers ?? {})) out.set(a, p);
  return out;
}

/** The config with `address`'s policy set (legacy `allow` migrated into `peers`). */
export function withPolicy(config: RepoConfig, address: string, policy: PeerPolicy): RepoConfig {
  const peers = Object.fromEntries([...peerPolicies(config)].map(([a, p]) => [a, policyToJson(p)]));
  peers[address] = policyToJson(policy);
  const { allow: _legacy, ...rest } = config;
  return { ...rest, peers };
}

const strings = v.array(v.string());

/**
 * The config's shape. Fields it doesn't know are kept (a newer ddcp may add some); `peers` policies
 * are checked by {@link policyFromJson}, which names the rule at fault.
 */
const CONFIG_SCHEMA = v.looseObject({
  version: v.pipe(v.number(), v.integer('must be a whole number'), v.minValue(1, 'must be 1 or more')),
  db: v.pipe(v.string(), v.nonEmpty('must not be empty')),
  remotes: v.optional(v.record(v.string(), v.looseObject({ location: v.pipe(v.string(), v.nonEmpty('must not be empty')) }))),
  peers: v.optional(v.record(v.string(), v.unknown())),
  allow: v.optional(strings),
  bootstrap: v.optional(strings),
  listen: v.optional(strings),
  mdns: v.optional(v.boolean()),
});

/**
 * Reads and checks the config. Throws {@link RepositoryError} (exit 3 in the CLI) with one line naming
 * the file and the field for anything of the wrong shape.
 */
export function readConfig(path: string): RepoConfig {
  const parsed = readJsonFile(path);
  // A newer ddcp's config may have other shapes: say so rather than what doesn't fit.
  const version = (parsed as { version?: unknown } | null)?.version;
  if (Number.isInteger(version) && (version as number) > CONFIG_VERSION) throw new RepositoryError(`${path} is from a newer ddcp (config version ${version}); upgrade ddcp`);
  const { peers: rawPeers, ...rest } = parseWith(path, CONFIG_SCHEMA, parsed);
  const c: RepoConfig = rest;
  if (rawPeers !== undefined) {
    const peers: Record<string, PeerPolicy> = {};
    for (const [a, p] of Object.entries(rawPeers)) {
      try {
        peers[a] = policyFromJson(p, `peers[${JSON.stringify(a)}]`);
      } catch (cause) {
        if (!(cause instanceof PolicyError)) throw cause;
        throw new RepositoryError(`${path}: ${cause.message}`, { cause });
      }
    }
    c.peers = peers;
  }
  return c;
}

/** Writes the config via a temporary file and rename, so a crash never leaves half a file. */
export function writeConfig(path: string, config: RepoConfig): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, JSON.stringify(config, null, 2) + '\n', { mode: 0o644 });
  renameSync(tmp, path);
}

