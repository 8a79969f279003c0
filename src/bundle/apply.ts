/**
 * Applying a bundle (format.ts) to a database in one transaction, through the gate every inbound
 * change passes. Takes an engine and a gate, not a repository (Repository.applyBundle wraps it).
 */
import { basename, resolve } from 'node:path';
import type { Change, Engine, TableInfo } from '../engine/index.ts';
import { ChangeError, SENTINEL } from '../engine/index.ts';
import { fromHex, toHex } from '../base/hex.ts';
import { changeFit, keyMismatch, type Gate } from '../sync/gate.ts';
import { BundleError, type BundleHeader, type BundleTable } from './format.ts';
import { BundleReader } from './reader.ts';

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
   * starts there). Only for a signed bundle (its source proved its site id and signed the content);
   * not when the bundle starts after what we held of the source (it would hide the gap), leaves out
   * another site's changes, or is our own.
   */
  tracked: boolean;
  /** Whether the source signed the bundle (see {@link BundleReader.signed}); older bundles are not. */
  signed: boolean;
}

/** Names the remote a bundle came from (by its source's site id or address), if it is one of ours. */
export type RemoteOf = (source: Pick<BundleHeader, 'siteId' | 'address'>) => string | undefined;

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

/**
 * Merges a bundle into the engine's database in one transaction, through `gate`. The file is read as a stream
 * (memory stays bounded) and verified as it is read; a damaged, truncated or foreign bundle, or one
 * whose changes don't fit our schema, throws ({@link BundleError}, {@link ChangeError}) and nothing
 * is applied. The source becomes a tracked peer (see {@link ApplyBundleResult.tracked}).
 */
export function applyBundle(engine: Engine, gate: Gate, file: string, options: ApplyBundleOptions = {}, remoteOf: RemoteOf = () => undefined): ApplyBundleResult {
  const path = resolve(file);
  let reader: BundleReader | undefined;
  try {
    reader = BundleReader.open(path);
    const h = reader.header;
    const guard = schemaGuard(h, engine.crrs());
    const ours = toHex(engine.siteId);
    const source = fromHex(h.siteId);
    const signed = reader.signed;
    // A signed bundle's site id is bound to its signer like a peer's in a handshake (first binding
    // wins: a second identity claiming it is refused, nothing applied).
    if (signed && h.siteId !== ours) engine.bindSite(source, h.address!);
    const tracked = signed && h.siteId !== ours && (h.exceptSite === undefined || h.exceptSite === ours) && h.since <= engine.trackedVersion(source);
    const remote = remoteOf(h);
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
    // Signed: the content is the source's own (the reader checks the signature before the merge
    // commits), so it holds its changes in it.
    const result = gate.admit(engine, changes(), { source: label, ...(tracked ? { trackPeer: { siteId: source, version: h.version } } : {}), ...(signed && h.siteId !== ours ? { direct: source } : {}) });
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
      signed,
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
