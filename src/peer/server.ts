/**
 * `ddcp serve` as a library: a repository published on the p2p network under its own identity.
 * It answers sync sessions from allowed peers (taking the pushes of those it lets write), follows
 * every remote (over the network, or in-process for folders on this machine) merging what arrives
 * and sending our commits the other way on the same session, and sends its own commits to its
 * followers as they happen.
 */
import { EventEmitter } from 'node:events';
import type { RepoFeed } from '../repo/feed.ts';
import { ConnectionStates, stateAfter, type ConnectionChange, type ConnectionState } from '../repo/connection.ts';
import { isSchemaMisfit, type FollowEvent } from '../repo/follow.ts';
import { networkPeer } from '../repo/remotes.ts';
import type { Repository } from '../repo/repository.ts';
import { counted } from '../base/counted.ts';
import { SYNC_PROTOCOL, type Dial } from '../sync/protocol.ts';
import { Gate } from '../sync/gate.ts';
import { DEFAULT_POLICY, grantsNothing, policyToJson, type PeerPolicy } from '../sync/policy.ts';
import { serveSession } from '../sync/server.ts';
import { Sessions } from '../sync/sessions.ts';
import { checkPeerAddress, createNode, type P2pNode } from '../transport/p2p/node.ts';
import type { Server as NetServer } from 'node:net';
import { listenControl, socketPath, type ConfigChange, type ControlRequest } from './control.ts';
import { isDisconnect, watchChannel } from './disconnect.ts';
import { chooseListen, rememberListen } from './listen.ts';
import { lookupMs, openSync, syncDialer } from './reach.ts';
import { rmSync, statSync, watch, type FSWatcher } from 'node:fs';
import { basename } from 'node:path';
import { multiaddr } from '@multiformats/multiaddr';

export interface ServeOptions {
  /**
   * Multiaddrs to listen on. Default: the config's `listen`, else where the last serve of this
   * repository was bound (see peer/listen.ts), else all interfaces on random TCP and WebSocket ports.
   */
  listen?: string[];
  /** Answer any peer that knows our address, not only allowed ones. */
  public?: boolean;
  /** DHT bootstrap peers (multiaddrs ending in /p2p/<id>); default: the repository's config. */
  bootstrap?: string[];
  /** Discover peers on the local network (default: the config's `mdns`, else true). */
  mdns?: boolean;
  /** Run the DHT (default true). */
  dht?: boolean;
  /** Log lines (default: none). */
  log?: (line: string) => void;
  /**
   * Called once the node listens, before anything is served, followed or logged: the place to
   * announce the server (the CLI prints its banner here, so the banner always precedes log lines).
   */
  onListening?: (server: Server) => void;
}

export interface ServerEvents {
  'peer:connect': [peer: string];
  'peer:disconnect': [peer: string];
  /** A remote's changes were merged. */
  changes: [event: { remote: string; received: number; applied: number; dbVersion: number }];
  /** A remote is caught up to `version`. */
  sync: [event: { remote: string; version: number }];
  /**
   * A followed remote's connection state changed: `online`, `reconnecting` (the session broke or
   * could not be opened; retrying) or `offline` (no longer followed). See repo/connection.ts.
   */
  connection: [event: ConnectionChange];
  /** Something failed (a session, a follow); the server goes on. */
  error: [error: Error];
}

export class Server extends EventEmitter<ServerEvents> {
  readonly repo: Repository;
  readonly node: P2pNode;
  private readonly feed: RepoFeed;
  private readonly abort = new AbortController();
  private readonly tasks: Promise<unknown>[] = [];
  private readonly links: { close(): void }[] = [];
  private readonly log: (line: string) => void;
  private control: NetServer | undefined;
  /** Remotes followed now, each with what stops it. */
  private readonly following = new Map<string, Following>();
  /** Each followed remote's connection state (reported as 'connection' events). */
  private readonly states = new ConnectionStates((e) => this.emit('connection', e));
  /** Remotes not followed because their peer is denied (followed again once it is allowed). */
  private readonly deniedRemotes = new Set<string>();
  /** Open sync sessions by peer, each with the policy it started under (see {@link revoke}). */
  private readonly sessions = new Sessions();
  private public = false;
  private configWatch: FSWatcher | undefined;
  /** The config file last applied to what runs (inode and mtime), and what applying it did. */
  private applied: { file: string; change: ConfigChange } | undefined;

  private constructor(repo: Repository, node: P2pNode, log: (line: string) => void) {
    super();
    this.repo = repo;
    this.node = node;
    this.log = log;
    this.feed = repo.feed();
  }

  /** Starts serving `repo`. */
  static async start(repo: Repository, options: ServeOptions = {}): Promise<Server> {
    // The control socket first: a second serve of the same repository stops before touching ports.
    let server: Server | undefined;
    const control = await listenControl(repo, (req) => (server ? server.onControl(req) : Promise.reject(new Error('ddcp serve is still starting'))));
    let node: P2pNode;
    let warnings: string[];
    try {
      const choice = await chooseListen(repo, options.listen);
      warnings = choice.warnings;
      const bootstrap = options.bootstrap ?? repo.config.bootstrap ?? [];
      // checked before dhtAnswers reads them (createNode checks too, but only after)
      for (const address of bootstrap) checkPeerAddress(address, 'bootstrap address');
      node = await createNode({
        privateKey: repo.identity.privateKey,
        listen: choice.listen,
        bootstrap,
        dhtAnswers: dhtAnswers(repo, bootstrap),
        mdns: options.mdns ?? repo.config.mdns,
        dht: options.dht,
        lookupMs: lookupMs(),
      });
    } catch (err) {
      control.close();
      rmSync(socketPath(repo), { force: true });
      throw err;
    }
    server = new Server(repo, node, options.log ?? (() => {}));
    server.control = control;
    try {
      options.onListening?.(server);
      for (const w of warnings) server.log(w);
      try {
        rememberListen(repo, node.listening());
      } catch (err) {
        server.log(`warning: cannot remember the listen addresses for next time: ${(err as Error).message}`);
      }
      await server.begin(options);
    } catch (err) {
      await server.stop();
      throw err;
    }
    return server;
  }

  /** The database's address. */
  get address(): string {
    return this.node.peerId;
  }

  /** Where peers can reach us. */
  addresses(): string[] {
    return this.node.addresses();
  }

  private async begin(options: ServeOptions): Promise<void> {
    const signal = this.abort.signal;
    this.node.on('peer:connect', (p) => this.emit('peer:connect', p));
    this.node.on('peer:disconnect', (p) => this.emit('peer:disconnect', p));
    this.public = options.public ?? false;
    this.feed.start();
    await this.node.handle(SYNC_PROTOCOL, async (stream, peer) => {
      const watched = watchChannel(stream);
      try {
        this.repo.reloadConfig(); // another process may have changed the allow list
      } catch (err) {
        this.log(`warning: cannot re-read the config, going on with the last good one: ${(err as Error).message}`);
      }
      // Registered before the handshake, so that a deny racing it still cuts it.
      const session = this.sessions.open(peer, signal, policyKey(this.policyOf(peer)));
      try {
        await serveSession(watched.channel, this.feed, this.feed, {
          peer,
          // libp2p authenticated the peer id: the client must prove its site id as that address.
          peerAddress: peer,
          proof: this.repo.siteProof(),
          signal: session.signal,
          log: (level, line) => this.sessionLog(level, line, peer, watched.failure()),
          authorize: () => (grantsNothing(this.policyOf(peer)) ? this.refusal(peer) : undefined),
          gate: this.gate,
        });
      } finally {
        session.end();
      }
    });
    this.applied = { file: configStamp(this.repo), change: { cut: [], stopped: [], started: [] } };
    for (const remote of this.repo.remotes()) {
      if (this.remoteDenied(remote.location)) {
        this.deniedRemotes.add(remote.name);
        this.log(`not following ${remote.name}: ${networkPeer(remote.location)} is denied (ddcp allow ${networkPeer(remote.location)} to follow it again)`);
      } else this.followRemote(remote.name, remote.location);
    }
    this.watchConfig();
  }

  /**
   * What `peer` may read and write now: its own policy (denied peers: nothing), the default for our
   * remotes, nothing for others — except with --public, where a peer nobody allowed or denied reads
   * everything and writes nothing.
   */
  private policyOf(peer: string): PeerPolicy {
    const own = this.repo.policyFor(peer);
    if (this.public && grantsNothing(own) && !this.repo.isDenied(peer)) return { ...DEFAULT_POLICY };
    return own;
  }

  /** Every session's gate: schema fit and the peer's policy as the config says now. */
  private readonly gate = new Gate((peer) => this.policyOf(peer));

  /** Why `peer` (whose policy grants nothing) is refused, in words, with the way to let it in. */
  private refusal(peer: string): string {
    return this.repo.isDenied(peer)
      ? `peer ${peer} is denied by this database (on the serving side: ddcp allow ${peer} lets it in again)`
      : `peer ${peer} is not allowed to fetch from this database (on the serving side: ddcp allow ${peer})`;
  }

  /** Whether a remote's peer (a network remote) is denied here. */
  private remoteDenied(location: string): boolean {
    const peer = networkPeer(location);
    return peer !== undefined && this.repo.isDenied(peer);
  }

  /**
   * Cuts every open session of `peer` at once: each is told `reason` (an `error` message) and
   * closed; nothing more is sent to it or merged from it. For access taken away outside the config
   * (a revoked credential); it does not stop the peer from connecting again. Returns how many
   * sessions were cut.
   */
  revoke(peer: string, reason: string): number {
    const n = this.sessions.revoke(peer, reason);
    if (n > 0) this.log(`revoked ${peer} (${n} open session${n === 1 ? '' : 's'}): ${reason}`);
    return n;
  }

  /**
   * Applies the config as it is now to what runs: open sessions of a peer now denied or no longer
   * allowed are cut with the reason, those whose policy changed are cut too (the peer reconnects
   * under the new one); remotes removed, moved or denied stop being followed, and denied remotes
   * allowed again are followed. Run on each change of `.ddcp/config.json` (watched) and when
   * `ddcp allow`, `deny` or `remote remove` asks (control socket); applying one config twice does
   * nothing more, and answers what applying it did.
   */
  policyChanged(): ConfigChange {
    const file = configStamp(this.repo);
    if (this.applied?.file === file) return this.applied.change;
    this.repo.reloadConfig();
    const cuts = this.sessions.recheck((peer, grant) => {
      const now = this.policyOf(peer);
      if (grantsNothing(now)) return this.refusal(peer);
      if (grant !== policyKey(now)) return `the policy of ${peer} on this database changed; reconnect to sync under the new one`;
      return undefined;
    });
    const change: ConfigChange = { cut: [...cuts].map(([peer, c]) => ({ peer, sessions: c.sessions, reason: c.reason })), stopped: [], started: [] };
    for (const c of change.cut) this.log(`cut ${c.sessions} open session${c.sessions === 1 ? '' : 's'} of ${c.peer}: ${c.reason}`);
    const remotes = new Map(this.repo.remotes().map((r) => [r.name, r]));
    for (const [name, f] of this.following) {
      const r = remotes.get(name);
      const why = !r ? 'removed' : r.location !== f.location ? `moved to ${r.location}` : this.remoteDenied(r.location) ? `${networkPeer(r.location)} is denied` : undefined;
      if (!why) continue;
      this.unfollow(name, why);
      change.stopped.push(name);
      if (r && this.remoteDenied(r.location)) this.deniedRemotes.add(name);
      else if (r) {
        this.followRemote(name, r.location); // moved: follow it where it is now
        change.started.push(name);
      }
    }
    for (const name of [...this.deniedRemotes]) {
      const r = remotes.get(name);
      if (r && this.remoteDenied(r.location)) continue;
      this.deniedRemotes.delete(name);
      if (r && !this.following.has(name)) {
        this.followRemote(name, r.location);
        change.started.push(name);
      }
    }
    this.applied = { file, change };
    return change;
  }

  /** Applies config changes made by any process (a rename into place shows as an event on the folder). */
  private watchConfig(): void {
    const name = basename(this.repo.layout.config);
    try {
      this.configWatch = watch(this.repo.layout.stateDir, { persistent: false }, (_event, file) => {
        if (file !== null && file !== name) return;
        try {
          this.policyChanged();
        } catch (err) {
          this.log(`warning: cannot apply the changed config: ${(err as Error).message}`);
        }
      });
      this.configWatch.on('error', () => {}); // the folder went away: nothing left to watch
    } catch (err) {
      this.log(`warning: cannot watch ${this.repo.layout.config} (changes apply when ddcp allow/deny/remote tell this serve): ${(err as Error).message}`);
    }
  }

  /** Stops following a remote now (its session ends; the remote sees us hang up). */
  private unfollow(name: string, why: string): void {
    const f = this.following.get(name);
    if (!f) return;
    this.following.delete(name);
    f.stop.abort();
    const link = f.link;
    if (link) {
      // a folder remote: its database is closed once the session over it has ended
      this.links.splice(this.links.indexOf(link), 1);
      void f.task.finally(() => link.close());
    }
    this.log(`stopped following ${name}: ${why}`);
  }

  /**
   * A session's log line. A session that ended because the peer went away (closed or reset its
   * stream or connection) is an ordinary disconnect, logged as such; other failures keep their reason.
   */
  private sessionLog(level: 'info' | 'warn', line: string, peer: string, failure: Error | undefined): void {
    if (level === 'warn' && failure && isDisconnect(failure) && line.endsWith(failure.message)) this.log(`${peer} disconnected`);
    else this.log(line);
  }

  /** Dials network locations through this node (failures in words, see reach.ts). */
  dialer(): (location: string) => Dial {
    return syncDialer(this.repo, this.node);
  }

  /** Requests from other ddcp commands in this repository (see control.ts). */
  private async onControl(req: ControlRequest): Promise<unknown> {
    const name = req.remote;
    switch (req.cmd) {
      case 'status':
        return { address: this.address, addresses: this.addresses(), peers: this.node.peers(), following: [...this.following.keys()] };
      case 'fetch':
        return this.repo.fetch(this.need(name), { dial: this.dialer() });
      case 'push':
        return this.repo.push(this.need(name), { dial: this.dialer() });
      case 'merge': {
        const r = this.repo.merge(this.need(name));
        this.feed.check();
        return r;
      }
      case 'pull': {
        const r = await this.repo.pull(this.need(name), { dial: this.dialer() });
        this.feed.check();
        return r;
      }
      case 'remote-added': {
        this.repo.reloadConfig();
        const r = this.repo.remote(this.need(name));
        if (this.remoteDenied(r.location)) {
          this.deniedRemotes.add(r.name);
          return { following: null };
        }
        if (!this.following.has(r.name)) this.followRemote(r.name, r.location);
        return { following: r.name };
      }
      case 'config-changed':
        return this.policyChanged();
      default:
        throw new Error(`unknown request ${String((req as { cmd: unknown }).cmd)}`);
    }
  }

  private need(name: string | undefined): string {
    if (!name) throw new Error('which remote?');
    return name;
  }

  /** Reports a failure to 'error' listeners, if any (an unheard 'error' would end the process). */
  private problem(err: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }

  /** The connection state of every remote followed now (`offline` until its first session opens). */
  connectionStates(): { remote: string; state: ConnectionState }[] {
    const known = new Map(this.states.list().map((s) => [s.remote, s.state]));
    return [...this.following.keys()].map((remote) => ({ remote, state: known.get(remote) ?? 'offline' }));
  }

  /** Starts following a remote (done for every remote at start). */
  followRemote(name: string, location: string): void {
    const following: Following = { location, stop: new AbortController(), task: Promise.resolve() };
    this.following.set(name, following);
    const signal = AbortSignal.any([this.abort.signal, following.stop.signal]);
    let dial: Dial;
    if (networkPeer(location)) dial = (signal) => openSync(this.node, location, name, signal);
    else {
      // A folder on this machine: its database served in-process over an in-memory channel.
      try {
        const link = this.repo.link(this.repo.remote(name));
        this.links.push(link);
        following.link = link;
        dial = link.dial;
      } catch (err) {
        dial = () => Promise.reject(err as Error);
      }
    }
    let lastProblem: string | undefined; // one line per outage, not one per retry
    const onEvent = (e: FollowEvent): void => {
      const state = stateAfter(e, signal.aborted);
      if (state) this.states.set(name, state, e.type === 'disconnected' ? e.error?.message : undefined);
      if (e.type === 'merged') {
        if (e.outcome.received > 0) this.log(`merged ${counted(e.outcome.received, 'change')} from ${name} (${e.outcome.applied} new), db_version ${e.outcome.dbVersion}`);
        this.emit('changes', { remote: name, received: e.outcome.received, applied: e.outcome.applied, dbVersion: e.outcome.dbVersion });
        this.feed.check(); // our followers hear of it at once
      } else if (e.type === 'caught-up') this.emit('sync', { remote: name, version: e.version });
      else if (e.type === 'connected') {
        lastProblem = undefined;
        this.log(`following ${name}${e.pushing ? ', sending ours' : ''}`);
      } else if (e.type === 'refused') this.log(`${name} refused our transaction (version ${e.refusal.version}): ${e.refusal.message}`);
      else if (e.type === 'acked' || (e.error && isSchemaMisfit(e.error))) return; // a misfit ends following: logged once below
      else if (e.error && isDisconnect(e.error)) this.log(`${name} disconnected; reconnecting`);
      else if (e.error) {
        if (e.error.message !== lastProblem) this.log(`lost ${name}: ${e.error.message}; retrying`);
        lastProblem = e.error.message;
        this.problem(e.error);
      }
    };
    const stopped = (err: Error): void => {
      // a schema misfit: retrying can't help until one side migrates
      if (this.following.get(name) === following) this.following.delete(name);
      this.log(`stopped following ${name}: ${err.message}`);
      this.problem(err);
    };
    following.task = this.repo
      .follow(name, dial, { signal, onEvent, push: this.feed })
      .catch(stopped)
      .finally(() => {
        // not followed any more, unless it is followed anew (moved)
        if (!this.following.has(name) || this.following.get(name) === following) this.states.remove(name);
      });
    this.tasks.push(following.task);
  }

  /** Stops serving and following; closes the node. The repository stays open. */
  async stop(): Promise<void> {
    this.abort.abort();
    this.configWatch?.close();
    if (this.control) {
      this.control.close();
      rmSync(socketPath(this.repo), { force: true });
    }
    this.feed.stop();
    await Promise.allSettled(this.tasks);
    for (const l of this.links) l.close();
    await this.node.stop();
  }
}

/** A remote being followed: where, what stops it, the session task, and a folder remote's link. */
interface Following {
  location: string;
  stop: AbortController;
  task: Promise<unknown>;
  link?: { close(): void };
}

/** A policy as a comparable string (what a session was granted). */
function policyKey(p: PeerPolicy): string {
  return JSON.stringify(policyToJson(p));
}

/** Which config file is in place: a new one (written by rename) has a new inode or mtime. */
function configStamp(repo: Repository): string {
  try {
    const st = statSync(repo.layout.config);
    return `${st.ino}:${st.mtimeMs}`;
  } catch {
    return 'none';
  }
}

/**
 * Whom a served repository's DHT answers: the peers it knows — allowed peers and remotes (not
 * denied), as the config says at the time of the query, and its bootstrap peers (they keep it in
 * the DHT) — never a stranger, even with --public: a DHT answer gives away the addresses of the
 * node's other peers.
 */
function dhtAnswers(repo: Repository, bootstrap: string[]): (peer: string) => boolean {
  const boot = new Set(bootstrap.map((a) => multiaddr(a).getComponents().findLast((c) => c.name === 'p2p')?.value));
  return (peer) => boot.has(peer) || repo.mayFetch(peer);
}
