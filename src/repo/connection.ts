/**
 * The connection state of a followed remote, as an app shows it: `online` (a session is open),
 * `reconnecting` (the session broke or could not be opened, and the follower is retrying with
 * backoff) or `offline` (not followed: not started yet, stopped, or given up on a schema misfit or
 * an identity refusal, which retrying can't cure). Derived from the follow loop's events
 * (follow.ts); only changes are reported.
 */
import { isIdentityRefusal, isSchemaMisfit, type FollowEvent } from './follow.ts';

export type ConnectionState = 'online' | 'offline' | 'reconnecting';

/** A remote's connection state changed. */
export interface ConnectionChange {
  remote: string;
  state: ConnectionState;
  /** Why the session ended or failed (on `reconnecting` and `offline`), if known. */
  error?: string;
}

/** The state a follow event leads to (undefined: the event says nothing about it). `stopping`: the follow is being stopped. */
export function stateAfter(e: FollowEvent, stopping: boolean): ConnectionState | undefined {
  if (e.type === 'connected') return 'online';
  if (e.type !== 'disconnected') return undefined;
  if (stopping || (e.error && (isSchemaMisfit(e.error) || isIdentityRefusal(e.error)))) return 'offline';
  return 'reconnecting';
}

/** The states of several remotes, reporting each change once. */
export class ConnectionStates {
  private readonly states = new Map<string, ConnectionState>();
  private readonly report: (change: ConnectionChange) => void;

  constructor(report: (change: ConnectionChange) => void) {
    this.report = report;
  }

  /** Sets a remote's state; reports it if it changed (a remote not seen before starts `offline`). */
  set(remote: string, state: ConnectionState, error?: string): void {
    if ((this.states.get(remote) ?? 'offline') === state) {
      this.states.set(remote, state);
      return;
    }
    this.states.set(remote, state);
    this.report({ remote, state, ...(error !== undefined ? { error } : {}) });
  }

  /** Forgets a remote (no longer followed), reporting `offline` if it wasn't. */
  remove(remote: string): void {
    this.set(remote, 'offline');
    this.states.delete(remote);
  }

  /** Every known remote's state. */
  list(): ConnectionChange[] {
    return [...this.states].map(([remote, state]) => ({ remote, state }));
  }
}
