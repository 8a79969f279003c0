/**
 * What the inspector reads of a running hub (the server implements it): its metrics, its store and
 * the clients connected to this process.
 */
import type { HubMetrics } from '../metrics.ts';
import type { HubStore } from '../storage/port.ts';

/** A sync session open on this hub process. */
export interface ClientInfo {
  app: string;
  user: string;
  db: string;
  /** How it authenticated: a hub token, an app's JWT, an enrolled device. */
  method: string;
  /** The remote address. */
  remote: string;
  /** When it connected (ms since the epoch). */
  since: number;
}

export interface InspectedHub {
  readonly metrics: HubMetrics;
  readonly store: HubStore;
  /** Sessions open on this process (other hub processes on the same storage have their own). */
  clients(): ClientInfo[];
}
