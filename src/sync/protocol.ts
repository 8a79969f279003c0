/**
 * The sync protocol's constants and how a session's channel is obtained. Every remote kind (a
 * folder served in-process, a peer on the network, later a hub) is reached by a {@link Dial} that
 * yields a {@link FrameChannel}; the session on it is the same.
 */
import type { FrameChannel } from './channel.ts';

/** Bumped on any incompatible change; peers with different versions refuse each other clearly (3: site proofs in hello and welcome). */
export const PROTOCOL_VERSION = 3;

/** The protocol id under which transports carry sessions (libp2p's protocol negotiation). */
export const SYNC_PROTOCOL = '/ddcp/sync/3.0.0';

/** Opens a channel to a peer; a transport supplies it (libp2p, an in-process link, in-memory in tests). */
export type Dial = (signal?: AbortSignal) => Promise<FrameChannel>;

/** How long a following session may stay silent before its sending side repeats caught-up (ms). */
export const KEEPALIVE_MS = 30_000;
