/**
 * The hub's master key: 32 random bytes that encrypt the apps' secrets at rest and derive the key
 * that signs user tokens. HMAC verification needs each app's secret itself (a hash would not do), so
 * the secrets are stored encrypted under this key, which never enters the database: it comes from
 * the environment ({@link MASTER_KEY_ENV}, base64 or hex — what several hubs on one PostgreSQL
 * share) or from a file in the hub's data folder, created on first use with mode 0600.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, linkSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MasterKeyError } from './errors.ts';

/** The environment variable that holds the master key (base64 or hex of 32 bytes). */
export const MASTER_KEY_ENV = 'DDCP_HUB_MASTER_KEY';
/** The master key's file in a hub's data folder. */
export const MASTER_KEY_FILE = 'master.key';
/** A master key's length in bytes (AES-256). */
export const MASTER_KEY_BYTES = 32;

/** Where a master key comes from: the environment first, else a data folder (created if `create`). */
export interface MasterKeySource {
  env?: Record<string, string | undefined>;
  dataDir?: string;
  /** Create the key file if the folder has none (the hub and `credentials create` do; `list` need not). */
  create?: boolean;
}

/** Decodes a master key given as text: 64 hex digits or base64(url) of 32 bytes. */
export function parseMasterKey(text: string, origin: string): Buffer {
  const t = text.trim();
  const key = /^[0-9a-f]{64}$/i.test(t) ? Buffer.from(t, 'hex') : Buffer.from(t, 'base64');
  if (key.length !== MASTER_KEY_BYTES || (!/^[0-9a-f]{64}$/i.test(t) && !/^[A-Za-z0-9+/_-]+=*$/.test(t))) {
    throw new MasterKeyError(`${origin} is not a master key: expected ${MASTER_KEY_BYTES} bytes as 64 hex digits or base64`);
  }
  return key;
}

/** A new random master key as base64 (what to put in {@link MASTER_KEY_ENV}). */
export function newMasterKey(): string {
  return randomBytes(MASTER_KEY_BYTES).toString('base64');
}

/** Loads the master key from the environment or the data folder, creating the file there if asked. */
export function loadMasterKey(source: MasterKeySource): Buffer {
  const fromEnv = (source.env ?? process.env)[MASTER_KEY_ENV];
  if (fromEnv) return parseMasterKey(fromEnv, `$${MASTER_KEY_ENV}`);
  if (source.dataDir === undefined) {
    throw new MasterKeyError(`no master key: set $${MASTER_KEY_ENV} (every hub on one database needs the same key; make one with: openssl rand -base64 32)`);
  }
  const path = join(source.dataDir, MASTER_KEY_FILE);
  if (!existsSync(path)) {
    if (!source.create) throw new MasterKeyError(`no master key at ${path} (and $${MASTER_KEY_ENV} is not set)`);
    mkdirSync(source.dataDir, { recursive: true, mode: 0o700 });
    const tmp = `${path}.tmp-${process.pid}`;
    writeFileSync(tmp, newMasterKey() + '\n', { mode: 0o600 });
    chmodSync(tmp, 0o600); // in case the umask widened it
    try {
      // A link, not a rename: it fails if another process made the key meanwhile, whose key is then
      // the key (a rename would replace it, and what it sealed would never open again). Either way
      // no process reads half a key.
      linkSync(tmp, path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    } finally {
      rmSync(tmp, { force: true });
    }
  }
  if ((statSync(path).mode & 0o077) !== 0) throw new MasterKeyError(`master key ${path} is readable by others; run: chmod 600 ${path}`);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new MasterKeyError(`cannot read the master key ${path}: ${(cause as Error).message}`, { cause });
  }
  return parseMasterKey(text, path);
}
