/**
 * A ddcp repository: an ordinary SQLite database plus ddcp's state beside it (see layout.ts), with
 * remotes to fetch from, merge and pull — like git, for a database.
 */
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { Engine, openDatabase, SiteClaimError, StateError, type SqliteConnection } from '../engine/index.ts';
import { peerPolicies, readConfig, withBootstrap, withoutBootstrap, withPolicy, writeConfig, CONFIG_VERSION, type RepoConfig } from './config.ts';
import { checkPolicy, DEFAULT_POLICY, grantsNothing, NO_ACCESS, policyFromJson, type PeerPolicy } from '../sync/policy.ts';
import { Gate } from '../sync/gate.ts';
import { NotARepositoryError, RepositoryError, RepositoryExistsError } from './errors.ts';
import { applyBundle, type ApplyBundleOptions, type ApplyBundleResult } from '../bundle/apply.ts';
import { BUNDLE_STATE_FILE, createBundle, type BundleRecipient, type CreateBundleOptions, type CreateBundleResult } from '../bundle/create.ts';
import { mergeStaged, StagingTarget, type FetchResult, type MergeOutcome, type Progress } from './fetch.ts';
import { RepoFeed } from './feed.ts';
import { fetchDeviceAuthorization } from './device-auth.ts';
import { createIdentity, isAddress, loadIdentity, type Identity } from './identity.ts';
import { dbPathOf, DEFAULT_DB, layout, type Layout } from './layout.ts';
import { folderAddress, linkFolder } from './link.ts';
import { hubDial, HubTokens, isHubLocation } from './hub.ts';
import { followRemote, type FollowOptions } from './follow.ts';
import { runSession } from '../sync/client.ts';
import type { Refusal } from '../sync/ports.ts';
import type { Dial } from '../sync/protocol.ts';
import { makeSiteProof, type SiteProof } from '../sync/proof.ts';
import { checkRemoteName, networkPeer, RemoteError, resolveLocation, type Remote } from './remotes.ts';
import { openStaging, type Staging, type FetchState } from './staging.ts';

export interface InitOptions {
  /** Adopt this existing SQLite file (or create it there) instead of `<dir>/ddcp.db`. */
  db?: string;
}

/** A remote with what we know of it. */
export interface RemoteStatus extends Remote {
  /** Its site id (hex), once fetched from. */
  siteId?: string;
  /** The remote's db_version we have fetched up to (0 before the first fetch). */
  fetchedVersion: number;
  /** Changes fetched and not merged yet. */
  staged: number;
  /** When we last fetched (ISO time), if ever. */
  fetchedAt?: string;
}

export interface SyncOptions {
  onProgress?: Progress;
  /** How to reach a network remote (a running node supplies it; see peer/). */
  dial?: (location: string) => Dial;
  /** Reach the remote through this instead, whatever its kind (an app's own transport, tests). */
  connect?: Dial;
}

/** What `push` came to. */
export interface PushResult {
  remote: string;
  /** Changes sent. */
  changes: number;
  /** Our db_version the remote now holds everything up to (merged, or refused whole). */
  version: number;
  /** Transactions of ours the remote refused, each with its reason. */
  refused: Refusal[];
}

/** An open way to a remote: sessions are dialled through it; close it when done. */
export interface RemoteLink {
  dial: Dial;
  /** The remote's address as the link authenticates it (a network remote's peer id, a folder's identity); unknown for an app's own transport. */
  address?: string;
  close(): void;
}

/** Finds the repository containing `dir`: `dir` itself or the nearest parent with a `.ddcp` folder. */
export function findRoot(dir: string): string | undefined {
  let cur = resolve(dir);
  for (;;) {
    if (existsSync(layout(cur).config)) return cur;
    const parent = dirname(cur);
    if (parent === cur) return undefined;
    cur = parent;
  }
}

export class Repository {
  readonly layout: Layout;
  private cfg: RepoConfig;
  /** Absolute path of the database file. */
  readonly dbPath: string;
  private conn: SqliteConnection | undefined;
  private eng: Engine | undefined;
  private id: Identity | undefined;
  private stage: Staging | undefined;
  /**
   * Told of what was found and repaired on the way (a damaged staging area set aside, a CRR dropped
   * or changed by another program): one line each. By default a process warning; the CLI prints them.
   */
  onNotice: (message: string) => void = (message) => process.emitWarning(message, 'DdcpNotice');
  private proof: { siteId: Uint8Array; proof: SiteProof } | undefined;

  private constructor(root: string, config: RepoConfig) {
    this.layout = layout(root);
    this.cfg = config;
    this.dbPath = dbPathOf(root, config.db);
  }

  /**
   * Creates a repository in `dir`: a new database (or the existing file given as `db`, which the
   * app keeps using as before), ddcp's state and the database's identity key.
   * Throws {@link RepositoryExistsError} if one is there; leaves nothing behind if it fails.
   */
  static async init(dir: string, options: InitOptions = {}): Promise<Repository> {
    const root = resolve(dir);
    const l = layout(root);
    if (existsSync(l.config)) throw new RepositoryExistsError(`a ddcp repository already exists in ${root}`);
    const dbPath = resolve(root, options.db ?? DEFAULT_DB);
    if (options.db !== undefined) {
      if (existsSync(dbPath) && !statSync(dbPath).isFile()) throw new RepositoryError(`${dbPath} is not a file`);
      if (!existsSync(dirname(dbPath))) throw new RepositoryError(`folder ${dirname(dbPath)} does not exist`);
    }
    mkdirSync(root, { recursive: true });
    const rel = relative(root, dbPath);
    const config: RepoConfig = { version: CONFIG_VERSION, db: rel.startsWith('..') || isAbsolute(rel) ? dbPath : rel, remotes: {} };
    const createdState = !existsSync(l.stateDir);
    const createdDb = !existsSync(dbPath);
    mkdirSync(l.stateDir, { recursive: true, mode: 0o700 });
    const repo = new Repository(root, config);
    try {
      repo.engine; // creates or adopts the database and ddcp's tables in it
      repo.id = await createIdentity(l.identity);
      writeConfig(l.config, config);
      return repo;
    } catch (err) {
      repo.close();
      if (createdState) rmSync(l.stateDir, { recursive: true, force: true });
      if (createdDb) for (const f of [dbPath, `${dbPath}-wal`, `${dbPath}-shm`]) rmSync(f, { force: true });
      throw err;
    }
  }

  /** Opens the repository containing `dir`. Throws {@link NotARepositoryError} if there is none. */
  static open(dir: string = process.cwd()): Repository {
    const root = findRoot(dir);
    if (!root) throw new NotARepositoryError(`not a ddcp repository (or any parent up to /): ${resolve(dir)}; run 'ddcp init' first`);
    const repo = new Repository(root, readConfig(layout(root).config));
    if (!existsSync(repo.dbPath)) throw new RepositoryError(`the repository's database ${repo.dbPath} is missing`);
    return repo;
  }

  get root(): string {
    return this.layout.root;
  }

  get config(): Readonly<RepoConfig> {
    return this.cfg;
  }

  /** The SQLite connection (opened on first use). */
  get db(): SqliteConnection {
    if (!this.conn) {
      try {
        this.conn = openDatabase(this.dbPath);
      } catch (cause) {
        throw notADatabase(this.dbPath, cause);
      }
    }
    return this.conn;
  }

  /** The CRR engine on the repository's database (opened on first use). */
  get engine(): Engine {
    if (!this.eng) {
      try {
        this.eng = Engine.open(this.db, { onNotice: (m) => this.onNotice(m) });
      } catch (cause) {
        if (cause instanceof StateError) throw new RepositoryError(`${this.dbPath}: ${cause.message}`, { cause });
        throw notADatabase(this.dbPath, cause);
      }
    }
    return this.eng;
  }

  /** The database's key pair and address. */
  get identity(): Identity {
    this.id ??= loadIdentity(this.layout.identity);
    return this.id;
  }

  /**
   * Our claim of our site id, signed by our identity (sent in every sync handshake and bundle; see
   * sync/proof.ts).
   */
  siteProof(): SiteProof {
    const siteId = this.engine.siteId;
    if (!this.proof || Buffer.compare(this.proof.siteId, siteId) !== 0) {
      this.proof = { siteId, proof: makeSiteProof(siteId, this.address, (m) => this.identity.sign(m)) };
    }
    return this.proof.proof;
  }

  /**
   * Gives the database a new site id (`ddcp init --new-site`): for a copied or restored database,
   * which must not go on writing under the site id its original uses. Returns the new one.
   */
  renewSiteId(): Uint8Array {
    const id = this.engine.renewSiteId();
    this.proof = undefined;
    return id;
  }

  /** The database's address (its public key as a peer id). */
  get address(): string {
    return this.identity.address;
  }

  private get staging(): Staging {
    this.stage ??= openStaging(this.layout.staging, (m) => this.onNotice(m));
    return this.stage;
  }

  /** Tokens for hub remotes, per hub (`ddcp hub login`); `DDCP_HUB_TOKEN` wins over them at the hub it is meant for (see hub.ts). */
  get hubTokens(): HubTokens {
    return new HubTokens(this.layout.stateDir, () => this.remotes().flatMap((r) => (isHubLocation(r.location) ? [r.location] : [])));
  }

  // --- remotes ---

  /** The remotes, by name. */
  remotes(): Remote[] {
    return Object.entries(this.cfg.remotes ?? {})
      .map(([name, r]) => ({ name, ...r }))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  remote(name: string): Remote {
    const r = this.cfg.remotes?.[name];
    if (!r) throw new RemoteError(`no remote named "${name}"; see 'ddcp remote list'`);
    return { name, ...r };
  }

  /**
   * Adds a remote. `location` is a path to another repository — relative to `base`, by default this
   * repository's root (as `ddcp -C DIR remote add` resolves it against DIR) — or a network address.
   * Throws {@link RemoteError} for a duplicate name, an unreachable location or this repository itself.
   */
  addRemote(name: string, location: string, base: string = this.root): Remote {
    const r = this.checkRemote(name, location, base);
    const remotes = { ...(this.cfg.remotes ?? {}), [name]: { location: r.location } };
    this.saveConfig({ ...this.cfg, remotes });
    return { name, location: r.location };
  }

  /**
   * Checks what {@link addRemote} would add, without adding it: the name (letters, digits, `.`, `_`,
   * `-`), that no remote has it, and the location. Returns the remote and, for a network location
   * (a peer address or a multiaddr ending in `/p2p/<address>`), that peer's address — so an app can
   * try to reach it before adding it. Throws {@link RemoteError} as addRemote does.
   */
  checkRemote(name: string, location: string, base: string = this.root): Remote & { peer?: string } {
    checkRemoteName(name);
    if (this.cfg.remotes?.[name]) throw new RemoteError(`remote "${name}" already exists (${this.cfg.remotes[name]!.location}); remove it first`);
    const resolved = resolveLocation(location, base);
    if (resolve(resolved) === this.root) throw new RemoteError(`${resolved} is this repository itself`);
    const peer = networkPeer(resolved);
    if (peer !== undefined && peer === this.address) throw new RemoteError(`${resolved} is this repository's own address`);
    return peer === undefined ? { name, location: resolved } : { name, location: resolved, peer };
  }

  /**
   * Adds a DHT bootstrap peer (a multiaddr ending in `/p2p/<address>`; `checkPeerAddress` from
   * `ddcp/peer` checks one) to the config. Returns false if it was already there.
   */
  addBootstrap(address: string): boolean {
    this.reloadConfig(); // another process may have changed the config meanwhile
    const next = withBootstrap(this.cfg, address);
    if (next === this.cfg) return false;
    this.saveConfig(next);
    return true;
  }

  /** Removes a DHT bootstrap peer from the config. Returns false if it was not there. */
  removeBootstrap(address: string): boolean {
    this.reloadConfig();
    const next = withoutBootstrap(this.cfg, address);
    if (!next) return false;
    this.saveConfig(next);
    return true;
  }

  /** Turns discovery of peers on the local network (mDNS) on or off for serve, fetch and pull. */
  setMdns(on: boolean): void {
    this.reloadConfig();
    this.saveConfig({ ...this.cfg, mdns: on });
  }

  /** Addresses allowed to fetch from this database when served (besides remotes' own addresses); denied ones are not. */
  allowed(): string[] {
    return [...peerPolicies(this.cfg)].filter(([, p]) => !grantsNothing(p)).map(([a]) => a);
  }

  /**
   * Allows an address (a peer id) to fetch from this database, with the default policy unless it has
   * one (a denied address gets the default policy again).
   */
  allow(address: string): void {
    checkAddress(address);
    const own = peerPolicies(this.cfg).get(address);
    if (own && !grantsNothing(own)) return;
    this.saveConfig(withPolicy(this.cfg, address, { ...DEFAULT_POLICY }));
  }

  /**
   * Allows a peer and sets what it may read and write when this database is served (see
   * {@link PeerPolicy}; `:peer` in a rule's WHERE is the peer's address). The policy is checked
   * against the database first: tables must be CRRs, columns theirs, WHERE one expression over
   * them. Throws {@link PolicyError} (nothing changed) or {@link RemoteError} for a bad address.
   */
  setPolicy(address: string, policy: PeerPolicy): void {
    checkAddress(address);
    const p = policyFromJson(policy);
    checkPolicy(p, this.engine.crrs(), this.engine.db);
    this.saveConfig(withPolicy(this.cfg, address, p));
  }

  /**
   * What `address` may read and write: its own policy if it was allowed, {@link DEFAULT_POLICY}
   * (read everything, write nothing) for one of our remotes, and {@link NO_ACCESS} for anyone else.
   */
  policyFor(address: string): PeerPolicy {
    const own = peerPolicies(this.cfg).get(address);
    if (own) return own;
    return this.remotes().some((r) => networkPeer(r.location) === address) ? { ...DEFAULT_POLICY } : { read: [], write: NO_ACCESS.write };
  }

  /** Every allowed peer with its policy, by address. */
  policies(): { address: string; policy: PeerPolicy }[] {
    return [...peerPolicies(this.cfg)].map(([address, policy]) => ({ address, policy }));
  }

  /**
   * The gate for this repository: schema fit and each peer's policy (read afresh from the config,
   * which another process may change while serving).
   */
  get gate(): Gate {
    return new Gate((peer) => this.policyFor(peer));
  }

  /**
   * Denies an address: it may no longer read from this database nor write to it, whether it was
   * allowed, is one of our remotes (a running serve stops following it) or would be let in by
   * `serve --public`. Recorded in the config as its policy {@link NO_ACCESS} (listed by
   * `allow --list` as `read: none  write: none`) until it is allowed again. A running serve cuts
   * its open sessions at once (see `Server.policyChanged`).
   */
  deny(address: string): void {
    checkAddress(address);
    this.reloadConfig(); // another process may have changed the config meanwhile
    this.saveConfig(withPolicy(this.cfg, address, { ...NO_ACCESS, read: [] }));
  }

  /** Whether `address` was denied (its policy grants nothing). */
  isDenied(address: string): boolean {
    const own = peerPolicies(this.cfg).get(address);
    return own !== undefined && grantsNothing(own);
  }

  /** Whether `peer` may sync with us: allowed explicitly, or one of our remotes — and not denied. */
  mayFetch(peer: string): boolean {
    return !grantsNothing(this.policyFor(peer));
  }

  /** Removes a remote and anything staged from it. */
  removeRemote(name: string): void {
    this.remote(name);
    const { [name]: _gone, ...rest } = this.cfg.remotes ?? {};
    this.saveConfig({ ...this.cfg, remotes: rest });
    this.staging.forget(name);
  }

  /** Re-reads the config (another process may have changed remotes or the allow list). */
  reloadConfig(): void {
    this.cfg = readConfig(this.layout.config);
  }

  private saveConfig(next: RepoConfig): void {
    writeConfig(this.layout.config, next);
    this.cfg = next;
  }

  /** Each remote with its last fetched version and staged changes. */
  remoteStatus(): RemoteStatus[] {
    return this.remotes().map((r) => {
      const s: FetchState | undefined = this.staging.state(r.name);
      return {
        ...r,
        siteId: s ? Buffer.from(s.siteId).toString('hex') : undefined,
        fetchedVersion: s?.version ?? 0,
        staged: s?.staged ?? 0,
        fetchedAt: s ? new Date(s.fetchedAt).toISOString() : undefined,
      };
    });
  }

  /** Whether a remote is reached over the network (its location is an address, not a folder). */
  isNetworkRemote(remote: Remote): boolean {
    return networkPeer(remote.location) !== undefined;
  }

  /** The repository as a sync feed and sink (see feed.ts); stop it when done. */
  feed(): RepoFeed {
    return new RepoFeed(this, () => this.staging);
  }

  /**
   * Opens the way to a remote: a folder is linked in-process, a network location is dialled through
   * `options.dial` (a running node supplies it), and `options.connect` overrides both.
   */
  link(remote: Remote, options: SyncOptions = {}): RemoteLink {
    if (options.connect) return { dial: options.connect, close: () => {} };
    if (isHubLocation(remote.location)) {
      const device = () => fetchDeviceAuthorization(remote.location, this.identity.address, this.identity.privateKey);
      const tokens = this.hubTokens;
      return { dial: hubDial(remote.location, () => tokens.get(remote.location), device, () => tokens.withheld(remote.location)), close: () => {} };
    }
    if (this.isNetworkRemote(remote)) {
      if (!options.dial) throw new RemoteError(`remote ${remote.name} is on the network (${remote.location}); it needs a running node`);
      return { dial: options.dial(remote.location), address: networkPeer(remote.location), close: () => {} };
    }
    return linkFolder(resolveLocation(remote.location, this.root), { peer: this.address, onNotice: (m) => this.onNotice(m) });
  }

  /** The remote, unless its peer is denied here (then nothing is exchanged with it either way). */
  private syncable(name: string): Remote {
    const r = this.remote(name);
    const peer = networkPeer(r.location);
    if (peer !== undefined && this.isDenied(peer)) throw new RemoteError(`remote ${r.name} is denied here (ddcp allow ${peer} to sync with it again, or ddcp remote remove ${r.name})`);
    return r;
  }

  /**
   * What a sync session of ours says and checks about identities (see sync/proof.ts). The server's
   * site id is only checked here (a fetch writes nothing to the database); a merge binds it.
   */
  private sessionIdentity(peerAddress: string | undefined): { siteId: Uint8Array; proof: SiteProof; peerAddress?: string; checkSite: (siteId: Uint8Array, address: string) => void } {
    const checkSite = (siteId: Uint8Array, address: string): void => {
      const owner = this.engine.siteOwner(siteId);
      if (owner !== undefined && owner !== address) throw new SiteClaimError(siteId, owner, address);
    };
    return { siteId: this.engine.siteId, proof: this.siteProof(), ...(peerAddress !== undefined ? { peerAddress } : {}), checkSite };
  }

  /** The address a remote must prove to be: a network remote's peer id, a folder's identity (undefined if unreadable). */
  private remoteAddress(remote: Remote): string | undefined {
    const peer = networkPeer(remote.location);
    if (peer !== undefined) return peer;
    try {
      return folderAddress(resolveLocation(remote.location, this.root));
    } catch {
      return undefined; // not a usable folder: dialling it says why
    }
  }

  private async withLink<T>(name: string, options: SyncOptions, fn: (dial: Dial, address: string | undefined) => Promise<T>): Promise<T> {
    const link = this.link(this.syncable(name), options);
    try {
      return await fn(link.dial, link.address);
    } finally {
      link.close();
    }
  }

  // --- fetch / merge / pull / push ---

  /**
   * Downloads a remote's new changes into the staging area, without touching the database. Only
   * what is new since the last fetch is transferred, and never changes that came from us.
   */
  async fetch(name: string, options: SyncOptions = {}): Promise<FetchResult> {
    return this.withLink(name, options, async (dial, address) => {
      const target = new StagingTarget(this.engine, this.gate, this.staging, name, { onProgress: options.onProgress });
      await runSession(await dial(), { ...this.sessionIdentity(address), schema: this.engine.crrs(), pull: target });
      return target.result();
    });
  }

  /**
   * Sends our changes (and those we relay) that the remote lacks, like `git push`: it merges them one
   * transaction per source transaction, or refuses a transaction whole (listed in the result), or —
   * if it lets us write nothing — refuses the push (throws, saying so).
   */
  async push(name: string, options: SyncOptions = {}): Promise<PushResult> {
    return this.withLink(name, options, async (dial, address) => {
      const feed = this.feed();
      try {
        const r = await runSession(await dial(), { ...this.sessionIdentity(address), address: this.address, schema: this.engine.crrs(), push: feed });
        return { remote: name, changes: r.pushed.changes, version: r.pushed.version, refused: r.pushed.refused };
      } finally {
        feed.stop();
      }
    });
  }

  /** Fetches from every remote. */
  async fetchAll(options: SyncOptions = {}): Promise<FetchResult[]> {
    const out: FetchResult[] = [];
    for (const r of this.remotes()) out.push(await this.fetch(r.name, options));
    return out;
  }

  /** Applies a remote's staged changes in one transaction (all or nothing). */
  merge(name: string, options: SyncOptions = {}): MergeOutcome {
    const remote = this.remote(name);
    // The staged site's owner, bound with what we record holding of it (the fetch's session proved
    // the remote answers as this address; an app's own transport leaves it unbound). A hub database's
    // address is not known before it answers: its signed claim, verified by the fetch, is bound (first
    // binding wins, so another key claiming that site id later is refused).
    const owner = options.connect ? undefined : (this.remoteAddress(remote) ?? (isHubLocation(remote.location) ? this.staging.state(name)?.owner : undefined));
    return mergeStaged(this.engine, this.gate, this.staging, name, { ...(options.onProgress ? { onProgress: options.onProgress } : {}), ...(owner !== undefined ? { owner } : {}) });
  }

  /**
   * Follows a remote until `signal` aborts: a live session that merges each complete batch as it
   * arrives, sends ours the other way when `options.push` is our feed, and reconnects (resuming in
   * both directions) when it breaks. `dial` reaches the remote (see {@link link}).
   */
  follow(name: string, dial: Dial, options: FollowOptions): Promise<void> {
    let remote: Remote;
    try {
      remote = this.syncable(name);
    } catch (err) {
      return Promise.reject(err as Error);
    }
    const peerAddress = options.peerAddress ?? this.remoteAddress(remote);
    const { siteId, proof, checkSite } = this.sessionIdentity(peerAddress);
    return followRemote(this.engine, this.gate, this.staging, name, dial, { ...options, siteId, proof, checkSite, ...(peerAddress !== undefined ? { peerAddress } : {}) });
  }

  /** Fetch, then merge. */
  async pull(name: string, options: SyncOptions = {}): Promise<{ fetch: FetchResult; merge: MergeOutcome }> {
    const fetch = await this.fetch(name, options);
    return { fetch, merge: this.merge(name, options) };
  }

  // --- bundles ---

  /** Writes changes to a single file (see bundle/create.ts); streams, so any size works. */
  createBundle(file: string, options: CreateBundleOptions = {}): CreateBundleResult {
    return createBundle(this.engine, join(this.layout.stateDir, BUNDLE_STATE_FILE), file, options, {
      address: () => {
        try {
          return this.address;
        } catch {
          return undefined; // the bundle is still usable without it
        }
      },
      identity: () => {
        try {
          return { proof: this.siteProof(), sign: (m: Uint8Array) => this.identity.sign(m) };
        } catch {
          return undefined; // unsigned: still usable, but a receiver records nothing of us
        }
      },
      recipient: (name): BundleRecipient => {
        const remote = this.remote(name);
        const siteId = this.remoteStatus().find((r) => r.name === remote.name)?.siteId;
        return { name: remote.name, location: remote.location, ...(siteId !== undefined ? { siteId } : {}) };
      },
    });
  }

  /** Merges a bundle in one transaction; a corrupted, truncated or foreign-schema bundle applies nothing. */
  applyBundle(file: string, options: ApplyBundleOptions = {}): ApplyBundleResult {
    return applyBundle(this.engine, this.gate, file, options, (source) => this.bundleRemote(source.siteId, source.address));
  }

  /** The remote a bundle came from: its site id (known after a fetch) or its network address matches. */
  private bundleRemote(siteId: string, address: string | undefined): string | undefined {
    const bySite = this.remoteStatus().find((r) => r.siteId === siteId);
    if (bySite) return bySite.name;
    if (address === undefined) return undefined;
    return this.remotes().find((r) => networkPeer(r.location) === address)?.name;
  }

  close(): void {
    this.stage?.close();
    this.stage = undefined;
    this.conn?.close();
    this.conn = undefined;
    this.eng = undefined;
  }
}

function checkAddress(address: string): void {
  if (!isAddress(address)) throw new RemoteError(`"${address}" is not a database address (a peer id such as 12D3KooW…)`);
}

/** SQLite's "file is not a database" as a repository error naming the file; other errors unchanged. */
function notADatabase(path: string, cause: unknown): unknown {
  if (cause instanceof RepositoryError) return cause; // already said (the engine wraps what opening the connection threw)
  const msg = cause instanceof Error ? cause.message : String(cause);
  return /file is not a database|malformed|unable to open/i.test(msg) ? new RepositoryError(`cannot open ${path} as a SQLite database: ${msg}`, { cause }) : cause;
}
