/**
 * Where `serve` listens, so that its multiaddrs survive restarts: `--listen` if given, else the
 * config's `listen`, else the addresses it was bound to last time (kept in `.ddcp/listen.json`),
 * else all interfaces on random TCP and WebSocket ports. A remembered port that is taken now is
 * replaced by a random one, with a warning.
 */
import { existsSync, renameSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { multiaddr } from '@multiformats/multiaddr';
import * as v from 'valibot';
import type { Repository } from '../repo/repository.ts';
import { RepositoryError } from '../repo/errors.ts';
import { parseWith, readJsonFile } from '../repo/validate.ts';
import { DEFAULT_LISTEN } from '../transport/p2p/node.ts';

export const LISTEN_FILE = 'listen.json';

/** The listen addresses chosen, and warnings to log once the server has announced itself. */
export interface ListenChoice {
  listen: string[];
  warnings: string[];
}

function statePath(repo: Repository): string {
  return join(repo.layout.stateDir, LISTEN_FILE);
}

/** A multiaddr as text (parsed, so a damaged one is caught before serve tries to bind it). */
const MULTIADDR = v.pipe(
  v.string(),
  v.check((a) => {
    try {
      multiaddr(a);
      return true;
    } catch {
      return false;
    }
  }, 'must be a multiaddr'),
);

const LISTEN_SCHEMA = v.looseObject({ listen: v.array(MULTIADDR) });

/**
 * The addresses the last serve was bound to, if recorded. A damaged file is refused (RepositoryError,
 * naming the file and the field) rather than replaced by random ports: peers hold those multiaddrs.
 */
export function rememberedListen(repo: Repository): string[] | undefined {
  const path = statePath(repo);
  if (!existsSync(path)) return undefined;
  try {
    const { listen } = parseWith(path, LISTEN_SCHEMA, readJsonFile(path));
    return listen.length > 0 ? listen : undefined;
  } catch (err) {
    if (!(err instanceof RepositoryError)) throw err;
    throw new RepositoryError(`${err.message} (delete it, or give --listen, to choose the addresses again)`, { cause: err });
  }
}

/** Records the addresses serve is bound to (written atomically). */
export function rememberListen(repo: Repository, listen: string[]): void {
  const path = statePath(repo);
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, JSON.stringify({ listen }, null, 2) + '\n');
  renameSync(tmp, path);
}

/** Chooses the listen addresses (see the module comment). */
export async function chooseListen(repo: Repository, explicit?: string[]): Promise<ListenChoice> {
  if (explicit && explicit.length > 0) return { listen: explicit, warnings: [] };
  const configured = repo.config.listen;
  if (configured && configured.length > 0) return { listen: configured, warnings: [] };
  const remembered = rememberedListen(repo);
  if (!remembered) return { listen: DEFAULT_LISTEN, warnings: [] };
  const listen: string[] = [];
  const taken: string[] = [];
  for (const address of remembered) {
    if (await isFree(address)) listen.push(address);
    else {
      taken.push(address);
      listen.push(address.replace(/\/tcp\/\d+/, '/tcp/0'));
    }
  }
  const warnings = taken.length > 0 ? [`warning: ${taken.join(', ')} (where this database was served last time) ${taken.length > 1 ? 'are' : 'is'} taken; listening on a random port instead — peers that use the old multiaddr need the new one`] : [];
  return { listen, warnings };
}

/** Whether the TCP port of `address` (ip4/ip6) can be bound now; other addresses count as free. */
function isFree(address: string): Promise<boolean> {
  const parts = multiaddr(address).getComponents();
  const host = parts[0];
  const port = Number(parts.find((c) => c.name === 'tcp')?.value);
  if (!host || (host.name !== 'ip4' && host.name !== 'ip6') || !(port > 0)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen({ host: host.value, port, exclusive: true }, () => probe.close(() => resolve(true)));
  });
}
