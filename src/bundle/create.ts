/**
 * Creating a bundle of a database's changes (`createBundle`) — sync by sneakernet. The file format is
 * format.ts; this takes an engine and a state file, not a repository (Repository.createBundle wraps it).
 *
 * `forRemote` makes bundles incremental per recipient, like git bundles cut from the last one sent:
 * a bundle created for remote R starts where the previous bundle for R ended. ddcp cannot ask R what
 * it holds (that is the point of a bundle), so it remembers, per remote, the db_version the last
 * bundle for it was complete up to, in the state file (`.ddcp/bundles.json`). Changes that originated
 * at R are left out when R's site id is known (after a fetch from it).
 */
import { existsSync, renameSync, writeFileSync } from 'node:fs';
import * as v from 'valibot';
import { resolve } from 'node:path';
import type { Change, Engine } from '../engine/index.ts';
import { DdcpError } from '../base/errors.ts';
import { fromHex, toHex } from '../base/hex.ts';
import { RepositoryError } from '../repo/errors.ts';
import { parseWith, readJsonFile } from '../repo/validate.ts';
import { writeBundle } from './writer.ts';
import type { BundleHeader } from './format.ts';
import type { Signer, SiteProof } from '../sync/proof.ts';

/** The state file's name in a repository's state folder (`.ddcp/`). */
export const BUNDLE_STATE_FILE = 'bundles.json';

export interface CreateBundleOptions {
  /** Changes with db_version greater than this (default 0; with `forRemote`, where its last bundle ended). */
  since?: number;
  /** Make the bundle for this remote: incremental from its last bundle, without its own changes. */
  forRemote?: string;
  /** Called now and then with the number of changes written. */
  onProgress?: (changes: number) => void;
}

export interface CreateBundleResult {
  /** Absolute path of the bundle. */
  file: string;
  changes: number;
  bytes: number;
  /** The bundle holds our changes after this db_version… */
  since: number;
  /** …up to this one. */
  version: number;
  /** Our site id (hex). */
  siteId: string;
  /** The remote it was made for. */
  forRemote?: string;
  /** Changes from this site (the remote's, hex) were left out. */
  exceptSite?: string;
  /** SHA-256 of the bundle (hex), as its trailer has it. */
  sha256: string;
}

/** A remote a bundle is made for, as the repository knows it. */
export interface BundleRecipient {
  name: string;
  /** Where it is (a different location starts its bundles over). */
  location: string;
  /** Its site id (32 hex), once fetched from: its own changes are left out. */
  siteId?: string;
}

/** What a bundle needs to know of the database it is made from, besides its engine. */
export interface BundleOrigin {
  /** Our network address, if we have one (the bundle is still usable without it). */
  address?: () => string | undefined;
  /**
   * Our identity: its proof of our site id and its signer. With it the bundle is signed (its header
   * proves the site id, its content is signed), so a receiver may record what it holds of us.
   */
  identity?: () => { proof: SiteProof; sign: Signer } | undefined;
  /** The remote named by `forRemote`; throws if there is none. */
  recipient?: (name: string) => BundleRecipient;
}

function recipientOf(origin: BundleOrigin, name: string): BundleRecipient {
  if (!origin.recipient) throw new DdcpError(`cannot make a bundle for remote "${name}": no remotes are known here`);
  return origin.recipient(name);
}

// --- per-remote bundle state ---

interface SentState {
  /** Our site id when the bundle was made (a different database starts over). */
  site_id: string;
  /** The remote's location then (a remote re-added elsewhere starts over). */
  location: string;
  /** Our db_version the last bundle for the remote was complete up to. */
  version: number;
  created_at: string;
}

interface BundleState {
  version: 1;
  for: Record<string, SentState>;
}

const STATE_SCHEMA = v.looseObject({
  version: v.literal(1),
  for: v.record(
    v.string(),
    v.looseObject({
      site_id: v.string(),
      location: v.string(),
      version: v.pipe(v.number(), v.safeInteger('must be a whole number'), v.minValue(0, 'must be 0 or more')),
      created_at: v.string(),
    }),
  ),
});

function readState(path: string): BundleState {
  if (!existsSync(path)) return { version: 1, for: {} };
  try {
    return parseWith(path, STATE_SCHEMA, readJsonFile(path)) as BundleState;
  } catch (cause) {
    if (!(cause instanceof RepositoryError)) throw cause;
    throw new RepositoryError(`${cause.message} (delete it to start bundles for every remote from scratch)`, { cause });
  }
}

function writeState(path: string, state: BundleState): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, JSON.stringify(state, null, 2) + '\n', { mode: 0o644 });
  renameSync(tmp, path);
}

const isVersion = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;

/** Our changes up to `version` (the snapshot may have newer ones: they go in the next bundle). */
function* upTo(changes: Generator<Change>, version: number): Generator<Change> {
  for (const c of changes) {
    if (c.dbVersion > version) return; // changes come in db_version order; return() ends the read
    yield c;
  }
}

/**
 * Writes the repository's changes to `file` (atomically: a failure leaves no file). Without options,
 * every change; with `since`, those after that db_version; with `forRemote`, those the remote lacks
 * as far as we know (see the module comment), and that is then remembered.
 */
export function createBundle(engine: Engine, statePath: string, file: string, options: CreateBundleOptions = {}, origin: BundleOrigin = {}): CreateBundleResult {
  if (options.since !== undefined && !isVersion(options.since)) throw new DdcpError(`since must be a non-negative integer, got ${options.since}`);
  const siteId = toHex(engine.siteId);
  const remote = options.forRemote !== undefined ? recipientOf(origin, options.forRemote) : undefined;
  let exceptSite: string | undefined;
  let state: BundleState | undefined;
  let marked = 0;
  if (remote) {
    exceptSite = remote.siteId;
    if (exceptSite === siteId) exceptSite = undefined;
    state = readState(statePath);
    const s = state.for[remote.name];
    if (s && s.site_id === siteId && s.location === remote.location && isVersion(s.version)) marked = s.version;
  }
  const version = engine.dbVersion();
  const since = Math.min(options.since ?? marked, version);
  if (options.since !== undefined && options.since > version) {
    throw new DdcpError(`cannot bundle the changes after db_version ${options.since}: this database is only at db_version ${version}`);
  }
  const identity = origin.identity?.();
  const address = identity?.proof.address ?? origin.address?.();
  const header: BundleHeader = {
    siteId,
    ...(address !== undefined ? { address } : {}),
    ...(identity ? { siteProof: toHex(identity.proof.signature) } : {}),
    schema: engine.crrs().map((t) => ({ table: t.name, pks: [...t.pks], columns: [...t.columns] })),
    schemaFingerprint: engine.schemaFingerprint(),
    since,
    version,
    ...(exceptSite !== undefined ? { exceptSite } : {}),
    createdAt: new Date().toISOString(),
  };
  const path = resolve(file);
  const changes = upTo(engine.changesSince(since, exceptSite !== undefined ? { exceptSite: fromHex(exceptSite) } : {}), version);
  const summary = writeBundle(path, header, changes, { onProgress: options.onProgress, ...(identity ? { sign: identity.sign } : {}) });
  // The bundle extends what the remote was given only if it starts no later than the last one ended.
  if (remote && state && since <= marked) {
    state.for[remote.name] = { site_id: siteId, location: remote.location, version: Math.max(marked, version), created_at: header.createdAt };
    writeState(statePath, state);
  }
  return {
    file: path,
    changes: summary.changes,
    bytes: summary.bytes,
    since,
    version,
    siteId,
    ...(remote ? { forRemote: remote.name } : {}),
    ...(exceptSite !== undefined ? { exceptSite } : {}),
    sha256: summary.sha256,
  };
}
