/**
 * Bundles of a repository: its changes written to one file (`createBundle`) and a bundle merged into
 * its database (`applyBundle`) — sync by sneakernet. The file format is transport/bundle.ts.
 *
 * `forRemote` makes bundles incremental per recipient, like git bundles cut from the last one sent:
 * a bundle created for remote R starts where the previous bundle for R ended. ddcp cannot ask R what
 * it holds (that is the point of a bundle), so it remembers, per remote, the db_version the last
 * bundle for it was complete up to, in `.ddcp/bundles.json`. Changes that originated at R are left
 * out when R's site id is known (after a fetch from it).
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import type { Change } from '../engine/index.ts';
import { ChangeError, SENTINEL, type TableInfo } from '../engine/index.ts';
import { DdcpError } from '../base/errors.ts';
import { fromHex, toHex } from '../base/hex.ts';
import { changeFit, keyMismatch } from '../sync/gate.ts';
import { BundleError, BundleReader, writeBundle, type BundleHeader, type BundleTable } from '../transport/bundle.ts';
import { RepositoryError } from './errors.ts';
import { networkPeer } from './remotes.ts';
import type { Repository } from './repository.ts';

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

export interface ApplyBundleOptions {
  /** Called now and then with the changes merged so far and the total the bundle announces. */
  onProgress?: (changes: number, total?: number) => void;
}

export interface ApplyBundleResult {
  file: string;
  /** The source's site id (hex) and address. */
  siteId: string;
  address?: string;
  /** The remote the bundle came from: the one whose site id or network address matches the bundle's. */
  remote?: string;
  since: number;
  /** The source's db_version the bundle is complete up to. */
  version: number;
  /** Changes in the bundle. */
  received: number;
  /** Of those, how many changed something here. */
  applied: number;
  /** Our db_version after the merge. */
  dbVersion: number;
  /**
   * Whether we now record holding the source's changes up to `version` (so a later fetch from it
   * starts there). Not when the bundle starts after what we held of the source (it would hide the
   * gap), leaves out another site's changes, or is our own.
   */
  tracked: boolean;
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

function statePath(repo: Repository): string {
  return join(repo.layout.stateDir, BUNDLE_STATE_FILE);
}

function readState(repo: Repository): BundleState {
  const path = statePath(repo);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, for: {} };
    throw new RepositoryError(`cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    const s = JSON.parse(text) as BundleState;
    if (typeof s !== 'object' || s === null || typeof s.for !== 'object' || s.for === null) throw new Error('expected {"version", "for"}');
    return s;
  } catch (cause) {
    throw new RepositoryError(`${path} is damaged (${(cause as Error).message}); delete it to start bundles for every remote from scratch`, { cause });
  }
}

function writeState(repo: Repository, state: BundleState): void {
  const path = statePath(repo);
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, JSON.stringify(state, null, 2) + '\n', { mode: 0o644 });
  renameSync(tmp, path);
}

// --- create ---

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
export function createBundle(repo: Repository, file: string, options: CreateBundleOptions = {}): CreateBundleResult {
  if (options.since !== undefined && !isVersion(options.since)) throw new DdcpError(`since must be a non-negative integer, got ${options.since}`);
  const engine = repo.engine;
  const siteId = toHex(engine.siteId);
  const remote = options.forRemote !== undefined ? repo.remote(options.forRemote) : undefined;
  let exceptSite: string | undefined;
  let state: BundleState | undefined;
  let marked = 0;
  if (remote) {
    exceptSite = repo.remoteStatus().find((r) => r.name === remote.name)?.siteId;
    if (exceptSite === siteId) exceptSite = undefined;
    state = readState(repo);
    const s = state.for[remote.name];
    if (s && s.site_id === siteId && s.location === remote.location && isVersion(s.version)) marked = s.version;
  }
  const version = engine.dbVersion();
  const since = Math.min(options.since ?? marked, version);
  if (options.since !== undefined && options.since > version) {
    throw new DdcpError(`cannot bundle the changes after db_version ${options.since}: this database is only at db_version ${version}`);
  }
  let address: string | undefined;
  try {
    address = repo.address;
  } catch {
    address = undefined; // the bundle is still usable without it
  }
  const header: BundleHeader = {
    siteId,
    ...(address !== undefined ? { address } : {}),
    schema: engine.crrs().map((t) => ({ table: t.name, pks: [...t.pks], columns: [...t.columns] })),
    schemaFingerprint: engine.schemaFingerprint(),
    since,
    version,
    ...(exceptSite !== undefined ? { exceptSite } : {}),
    createdAt: new Date().toISOString(),
  };
  const path = resolve(file);
  const changes = upTo(engine.changesSince(since, exceptSite !== undefined ? { exceptSite: fromHex(exceptSite) } : {}), version);
  const summary = writeBundle(path, header, changes, { onProgress: options.onProgress });
  // The bundle extends what the remote was given only if it starts no later than the last one ended.
  if (remote && state && since <= marked) {
    state.for[remote.name] = { site_id: siteId, location: remote.location, version: Math.max(marked, version), created_at: header.createdAt };
    writeState(repo, state);
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

// --- apply ---

const different = (what: string): ChangeError => new ChangeError(`bundle from a different schema: ${what}; nothing was applied`);

/**
 * Checks the bundle's schema against ours before anything is merged: a table both have must have the
 * same primary key. Returns a guard for each change: its table must be a CRR here and its column one
 * we have (and both must be in the bundle's own schema, else the bundle is malformed).
 */
function schemaGuard(header: BundleHeader, ours: TableInfo[]): (c: Change) => void {
  const here = new Map(ours.map((t) => [t.name, t]));
  const theirs = new Map<string, BundleTable>(header.schema.map((t) => [t.table, t]));
  for (const t of header.schema) {
    const h = here.get(t.table);
    if (h && keyMismatch(h, { name: t.table, pks: t.pks })) {
      throw different(`table ${t.table} has primary key (${t.pks.join(', ')}) in the bundle but (${h.pks.join(', ')}) here`);
    }
  }
  // Whether a change fits our schema is the gate's call; what the bundle's own header lists is ours.
  const fit = changeFit(ours);
  const theirColumns = new Map(header.schema.map((t) => [t.table, new Set(t.columns)]));
  let last: string | undefined;
  let lastCid: string | undefined;
  return (c) => {
    if (c.table === last && c.cid === lastCid) return;
    if (!theirs.has(c.table)) throw new BundleError(`malformed bundle: it has changes for table ${c.table}, which its own schema does not list`, 'malformed');
    if (c.cid !== SENTINEL && !theirColumns.get(c.table)!.has(c.cid)) {
      throw new BundleError(`malformed bundle: it has changes for column ${c.table}.${c.cid}, which its own schema does not list`, 'malformed');
    }
    const misfit = fit(c);
    if (misfit?.column === undefined && misfit) throw different(`it has changes for table ${c.table}, which is not a CRR here`);
    if (misfit) throw different(`it has changes for column ${c.table}.${c.cid}, which this database lacks`);
    last = c.table;
    lastCid = c.cid;
  };
}

/** The remote a bundle came from: its site id (known after a fetch) or its network address matches. */
function remoteOf(repo: Repository, h: BundleHeader): string | undefined {
  const bySite = repo.remoteStatus().find((r) => r.siteId === h.siteId);
  if (bySite) return bySite.name;
  if (h.address === undefined) return undefined;
  return repo.remotes().find((r) => networkPeer(r.location) === h.address)?.name;
}

/**
 * Merges a bundle into the repository's database in one transaction. The file is read as a stream
 * (memory stays bounded) and verified as it is read; a damaged, truncated or foreign bundle, or one
 * whose changes don't fit our schema, throws ({@link BundleError}, {@link ChangeError}) and nothing
 * is applied. The source becomes a tracked peer (see {@link ApplyBundleResult.tracked}).
 */
export function applyBundle(repo: Repository, file: string, options: ApplyBundleOptions = {}): ApplyBundleResult {
  const path = resolve(file);
  let reader: BundleReader | undefined;
  try {
    reader = BundleReader.open(path);
    const h = reader.header;
    const engine = repo.engine;
    const guard = schemaGuard(h, engine.crrs());
    const ours = toHex(engine.siteId);
    const source = fromHex(h.siteId);
    const tracked = h.siteId !== ours && (h.exceptSite === undefined || h.exceptSite === ours) && h.since <= engine.trackedVersion(source);
    const remote = remoteOf(repo, h);
    const total = reader.announcedChanges();
    const { onProgress } = options;
    let done = 0;
    const stream = reader.changes();
    const changes = function* (): Generator<Change> {
      for (const c of stream) {
        guard(c);
        yield c;
        if (++done % 10_000 === 0) onProgress?.(done, total);
      }
    };
    const label = remote !== undefined ? `${remote} (bundle ${basename(path)})` : `bundle ${basename(path)}`;
    // Our own input (whoever made the bundle): the gate checks schema fit, no peer policy applies.
    const result = repo.gate.admit(engine, changes(), { source: label, ...(tracked ? { trackPeer: { siteId: source, version: h.version } } : {}) });
    onProgress?.(done, total);
    return {
      file: path,
      siteId: h.siteId,
      ...(h.address !== undefined ? { address: h.address } : {}),
      ...(remote !== undefined ? { remote } : {}),
      since: h.since,
      version: h.version,
      received: result.received,
      applied: result.applied,
      dbVersion: result.dbVersion,
      tracked,
    };
  } catch (err) {
    if (err instanceof BundleError && err.fault !== 'io' && !err.message.endsWith('nothing was applied')) {
      throw new BundleError(`${err.message}; nothing was applied`, err.fault, { cause: err });
    }
    throw err;
  } finally {
    reader?.close();
  }
}
