/**
 * The task manager's connection to other replicas: the library's `Server` (what `ddcp serve` runs)
 * publishes this repository and follows every remote, pulling and pushing live. A peer is just a
 * remote: a libp2p address, or a database on a hub (`ws://HOST:PORT/DB`, with a user token), which
 * the same server follows the same way. Going offline stops the server; the repository keeps
 * working locally, and going online again catches up both ways.
 */
import { EventEmitter } from 'node:events';
import type { Repository } from '../../src/index.ts';
import type { ConnectionState, Server } from '../../src/peer/index.ts';

export interface SyncState {
  online: boolean;
  /** Peers connected now (libp2p peers, and hub databases with a session open). */
  peers: number;
  /** Where others reach us (empty offline). */
  addresses: string[];
  /** Each remote followed and its connection state (online / reconnecting / offline). */
  remotes: { remote: string; state: ConnectionState }[];
  /** The server's last log line (following, disconnected, merged…). */
  last: string;
}

export interface SyncOptions {
  listen?: string[];
}

/**
 * Adds each peer address as a remote (named `peer1`, `peer2`… unless already one) and lets that
 * peer read and write, so both sides exchange their edits; a hub database (`ws://…`) is reached with
 * `token` (kept for that hub, as `ddcp hub login` does). Returns the remotes' names.
 */
export function addPeers(repo: Repository, locations: string[], token?: string): string[] {
  const names: string[] = [];
  for (const location of locations) {
    let n = 1;
    while (repo.remotes().some((r) => r.name === `peer${n}`)) n++;
    // Checked as a new remote would be (a bad address fails here), which also says whose it is.
    const { peer } = repo.checkRemote(`peer${n}`, location);
    const existing = repo.remotes().find((r) => r.location === location);
    const name = existing ? existing.name : repo.addRemote(`peer${n}`, location).name;
    if (peer) repo.setPolicy(peer, { read: 'all', write: 'all' });
    else if (token !== undefined && /^wss?:\/\//.test(location)) repo.hubTokens.set(location, token);
    names.push(name);
  }
  return names;
}

export class Sync extends EventEmitter<{ state: [SyncState]; changes: [] }> {
  private server: Server | undefined;
  private busy: Promise<void> = Promise.resolve();
  private lastLine = '';
  private readonly repo: Repository;
  private readonly options: SyncOptions;

  constructor(repo: Repository, options: SyncOptions = {}) {
    super();
    this.repo = repo;
    this.options = options;
  }

  /** Whether a remote is a hub database (a hub is no libp2p peer: its session state tells). */
  private isHub(remote: string): boolean {
    return /^wss?:\/\//.test(this.repo.remotes().find((r) => r.name === remote)?.location ?? '');
  }

  get state(): SyncState {
    const s = this.server;
    const hubsOnline = s ? s.connectionStates().filter((r) => r.state === 'online' && this.isHub(r.remote)).length : 0;
    return { online: !!s, peers: s ? s.node.peers().length + hubsOnline : 0, addresses: s ? s.addresses() : [], remotes: s ? s.connectionStates() : [], last: this.lastLine };
  }

  /** Starts or stops syncing (calls are queued, so fast toggles don't overlap). */
  setOnline(on: boolean): Promise<void> {
    this.busy = this.busy.then(() => (on ? this.start() : this.stop())).catch((err: Error) => this.note(`sync failed: ${err.message}`));
    return this.busy;
  }

  toggle(): Promise<void> {
    return this.setOnline(!this.server);
  }

  private async start(): Promise<void> {
    if (this.server) return;
    // Loaded on first use: libp2p takes a while to load, and the list shows before it.
    const { Server } = await import('../../src/peer/index.ts');
    const server = await Server.start(this.repo, {
      ...(this.options.listen ? { listen: this.options.listen } : {}),
      mdns: false,
      dht: false,
      log: (line) => this.note(line),
    });
    const changed = (): void => void this.emit('state', this.state);
    server.on('peer:connect', changed);
    server.on('peer:disconnect', changed);
    server.on('connection', changed);
    server.on('changes', () => void this.emit('changes'));
    server.on('error', () => {}); // logged through `log` already; the server goes on
    this.server = server;
    this.note('online');
  }

  private async stop(): Promise<void> {
    const s = this.server;
    if (!s) return;
    this.server = undefined;
    this.note('offline');
    await s.stop();
    this.emit('state', this.state);
  }

  private note(line: string): void {
    this.lastLine = line;
    this.emit('state', this.state);
  }

  /** Stops syncing for good (on quit). */
  async close(): Promise<void> {
    await this.setOnline(false);
  }
}
