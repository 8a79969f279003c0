/**
 * The hub's Prometheus metrics (GET /metrics), in a registry of its own (several hubs in one
 * process, as in tests, don't share counters).
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Why the hub refused something, as the `reason` label of `ddcp_hub_refusals_total`. */
export type RefusalReason =
  | 'unauthenticated'
  | 'rate-limited'
  | 'forbidden'
  | 'bad-request'
  | 'schema'
  | 'policy'
  | 'protocol'
  | 'oversized'
  | 'too-many-connections'
  | 'revoked'
  | 'expired'
  | 'unavailable';

export class HubMetrics {
  readonly registry = new Registry();
  readonly connections = new Gauge({ name: 'ddcp_hub_connections', help: 'Open sync sessions.', registers: [this.registry] });
  readonly docsConnections = new Gauge({ name: 'ddcp_hub_docs_connections', help: 'Open connections of the JSON document API (/v1/docs/<db>).', registers: [this.registry] });
  readonly databases = new Gauge({ name: 'ddcp_hub_databases', help: 'Hosted databases with an open session.', registers: [this.registry] });
  /** Set from the store at each scrape (see {@link HubMetrics.openDatabasesOf}); 0 for a store that does not count them. */
  readonly openDatabases = new Gauge({
    name: 'ddcp_hub_open_databases',
    help: 'Hosted databases the store holds open (in use, or idle and not yet closed): its engines, statements and file handles.',
    registers: [this.registry],
  });
  /** Raised from the store at each scrape (see {@link HubMetrics.openDatabasesOf}). */
  readonly opensOverCap = new Counter({
    name: 'ddcp_hub_opens_over_cap_total',
    help: 'Hosted databases opened past the cap on open databases (--max-open) because every open one was in use.',
    registers: [this.registry],
  });
  readonly changesIn = new Counter({ name: 'ddcp_hub_changes_in_total', help: 'Changes received from clients (pushed).', registers: [this.registry] });
  readonly changesOut = new Counter({ name: 'ddcp_hub_changes_out_total', help: 'Changes sent to clients.', registers: [this.registry] });
  readonly refusals = new Counter({ name: 'ddcp_hub_refusals_total', help: 'Connections, sessions and transactions refused, by reason.', labelNames: ['reason'] as const, registers: [this.registry] });
  readonly fanout = new Histogram({
    name: 'ddcp_hub_fanout_seconds',
    help: 'From a pushed change committed at the hub to its batch handed to another connected client.',
    buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });

  /** Reads the open databases from `count` (the store's) at each scrape. */
  openDatabasesOf(count: () => number | undefined, overCap: () => number | undefined = () => undefined): void {
    this.#openDatabases = count;
    this.#opensOverCap = overCap;
  }
  #openDatabases: () => number | undefined = () => undefined;
  #opensOverCap: () => number | undefined = () => undefined;
  /** What the store had counted at the last scrape: the counter rises by the difference. */
  #overCapSeen = 0;

  refused(reason: RefusalReason, n = 1): void {
    this.refusals.inc({ reason }, n);
  }

  /** The Prometheus text exposition. */
  text(): Promise<string> {
    const open = this.#openDatabases();
    if (open !== undefined) this.openDatabases.set(open);
    const over = this.#opensOverCap() ?? 0;
    if (over > this.#overCapSeen) this.opensOverCap.inc(over - this.#overCapSeen);
    this.#overCapSeen = Math.max(this.#overCapSeen, over);
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
