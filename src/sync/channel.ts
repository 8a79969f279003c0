/**
 * The port a sync session talks through: whole frames in and out, with backpressure. Transports
 * (libp2p streams, WebSocket, in-memory pairs) implement it; sessions never see sockets.
 */
export interface FrameChannel extends AsyncIterable<Uint8Array> {
  /** Sends one frame; resolves once the transport accepted it (waits while the peer is slow). */
  send(frame: Uint8Array): Promise<void>;
  /** Ends our side gracefully. */
  close(): Promise<void>;
  /** Tears the channel down with an error. */
  abort(err: Error): void;
}
