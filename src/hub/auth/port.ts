/**
 * The hub's authentication port: how the server learns who a connection or an admin call acts for.
 * The server codes against this; src/hub/auth implements it (API keys, HMAC admin calls, hub-minted
 * user tokens, external JWT/JWKS, enrolled device keys).
 */

/** Who a connection or an admin call acts for. */
export interface Principal {
  app: string;
  user: string;
  method: 'token' | 'jwt' | 'device';
  expiresAt?: number /* ms epoch */;
  /** For method 'device': the enrolled key's address, which answered the hub's challenge. */
  address?: string;
}
export interface AuthRequest { headers: Record<string, string | string[] | undefined>; remoteAddress: string; url: string }
export interface Authenticator {
  /** Authenticates a WebSocket upgrade or HTTP call (Authorization header); throws AuthError (one generic message, no hint which part was wrong). */
  authenticate(req: AuthRequest): Promise<Principal>;
  /** Re-validates an open session's principal, or a refreshed token sent on an open session. */
  refresh(p: Principal, token: string): Promise<Principal>;
  /** Is this principal still valid now (not revoked, not expired)? */
  valid(p: Principal): Promise<boolean>;
  /**
   * Says that access to a database of `app` was withdrawn or changed (a share removed or its policy
   * changed): every {@link onRevoked} listener hears of it — with shared storage, in every hub
   * process — and checks its open sessions of the app again.
   */
  accessChanged(app: string): Promise<void>;
  /** Listen for revocations of an app's credentials or access (this process or, with shared storage, another): returns an unsubscribe. */
  onRevoked(listener: (app: string) => void): () => void;
}
