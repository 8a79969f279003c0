/**
 * The open sessions of a serving side, by peer, so that taking a peer's access away takes effect at
 * once: `deny`, a removed remote, a changed policy, a revoked credential. Each session runs under a
 * signal from {@link Sessions.open}; {@link Sessions.revoke} aborts it with a {@link SessionRevokedError},
 * which {@link serveSession} sends to the peer as an `error` message before it closes the session.
 * Transport-agnostic: the p2p server and the hub use the same registry.
 */
import { ProtocolError } from './messages.ts';

/** A session was cut because the peer's access was taken away; the message (sent to the peer) says why. */
export class SessionRevokedError extends ProtocolError {
  override name = 'SessionRevokedError';
  constructor(message: string, code = 'denied') {
    super(code, message);
  }
}

/** One open session: the signal it runs under, and `end()` to call when it is over. */
export interface OpenSession {
  readonly signal: AbortSignal;
  end(): void;
}

interface Entry {
  controller: AbortController;
  /** What the session was granted when it started (the caller's token, e.g. the policy as JSON). */
  grant: unknown;
}

/** Why a session of `peer` granted `grant` must end now, or undefined to keep it. */
export type SessionCheck = (peer: string, grant: unknown) => string | undefined;

export class Sessions {
  readonly #open = new Map<string, Set<Entry>>();

  /**
   * Registers a session of `peer` before anything is read from it (so a revocation racing its
   * handshake still reaches it). Its signal aborts when `parent` does, or when the peer is revoked.
   */
  open(peer: string, parent?: AbortSignal, grant?: unknown): OpenSession {
    const controller = new AbortController();
    const entry: Entry = { controller, grant };
    let set = this.#open.get(peer);
    if (!set) this.#open.set(peer, (set = new Set()));
    set.add(entry);
    const onParent = (): void => controller.abort(parent!.reason);
    if (parent?.aborted) onParent();
    else parent?.addEventListener('abort', onParent, { once: true });
    return {
      signal: controller.signal,
      end: () => {
        parent?.removeEventListener('abort', onParent);
        set.delete(entry);
        if (set.size === 0 && this.#open.get(peer) === set) this.#open.delete(peer);
      },
    };
  }

  /**
   * Cuts every open session of `peer`: each tells the peer `reason` and closes. Returns how many
   * were open.
   */
  revoke(peer: string, reason: string, code = 'denied'): number {
    const set = this.#open.get(peer);
    if (!set) return 0;
    let n = 0;
    for (const e of set) {
      if (e.controller.signal.aborted) continue;
      e.controller.abort(new SessionRevokedError(reason, code));
      n++;
    }
    return n;
  }

  /** Re-checks every open session with `check`; cuts those it gives a reason for. Returns the cuts by peer. */
  recheck(check: SessionCheck): Map<string, { reason: string; sessions: number }> {
    const cut = new Map<string, { reason: string; sessions: number }>();
    for (const [peer, set] of this.#open) {
      for (const e of set) {
        if (e.controller.signal.aborted) continue;
        const reason = check(peer, e.grant);
        if (reason === undefined) continue;
        e.controller.abort(new SessionRevokedError(reason));
        const c = cut.get(peer) ?? { reason, sessions: 0 };
        c.sessions++;
        cut.set(peer, c);
      }
    }
    return cut;
  }

  /** Peers with open sessions. */
  peers(): string[] {
    return [...this.#open.keys()];
  }

  /** How many sessions are open (of `peer`, or in all). */
  count(peer?: string): number {
    if (peer !== undefined) return this.#open.get(peer)?.size ?? 0;
    let n = 0;
    for (const s of this.#open.values()) n += s.size;
    return n;
  }
}
