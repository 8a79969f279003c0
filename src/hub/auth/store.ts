/**
 * The storage port of hub authentication: a handful of methods over credentials, single-use nonces
 * (replay cache and device challenges), device enrollments and revocations. The embedded SQLite
 * store and the PostgreSQL store implement it and pass one conformance suite
 * (test/hub/auth-store-suite.ts). All times are milliseconds since the epoch.
 */

/** How an app's own identity provider signs the JWTs its users bring (verified with jose). */
export interface IdentityProvider {
  /** The `iss` the provider writes; picks the app for a JWT. */
  issuer: string;
  /** The `aud` the tokens must carry, if set. */
  audience?: string;
  /** A JWKS URL (keys fetched and cached), or … */
  jwksUrl?: string;
  /** … a public key in PEM (SPKI). */
  publicKey?: string;
}

/** An app's API key: the secret is stored only sealed under the master key (sealed.ts). */
export interface CredentialRecord {
  /** The API key (public: it names the credential in requests and in `list`). */
  key: string;
  /** The app it belongs to (an app may have several keys, e.g. while rotating). */
  app: string;
  sealedSecret: Uint8Array;
  createdAt: number;
  revokedAt?: number;
  idp?: IdentityProvider;
}

/** A repository's Ed25519 identity (its address) enrolled to a user of an app. */
export interface DeviceRecord {
  address: string;
  app: string;
  user: string;
  createdAt: number;
}

/**
 * What was revoked: an API key (`key`) or a device enrollment (`address`) of `app` — or, with
 * neither, access to one of its databases (a share removed or its policy changed): the app's open
 * sessions are checked again.
 */
export interface Revocation {
  app: string;
  key?: string;
  address?: string;
}

export interface AuthStore {
  addCredential(c: CredentialRecord): Promise<void>;
  credential(key: string): Promise<CredentialRecord | undefined>;
  /** Every credential, revoked ones included, oldest first. */
  credentials(): Promise<CredentialRecord[]>;
  /** Revokes an active key: tells every {@link onRevoked} listener (with shared storage, in every process); undefined if unknown or already revoked. */
  revokeCredential(key: string, at: number): Promise<Revocation | undefined>;
  /** Records a single-use nonce until `expiresAt`: false if it is already recorded and not expired (a replay). */
  addNonce(scope: string, nonce: string, expiresAt: number, now: number): Promise<boolean>;
  /** Consumes a recorded nonce: true once, if it was recorded and has not expired. */
  takeNonce(scope: string, nonce: string, now: number): Promise<boolean>;
  /** Enrolls (or moves to another user of the same app) a device; false if the address is enrolled to another app. */
  enrollDevice(d: DeviceRecord): Promise<boolean>;
  /** Removes an app's enrollment of a device: tells the revocation listeners; false if there was none. */
  removeDevice(address: string, app: string): Promise<boolean>;
  device(address: string): Promise<DeviceRecord | undefined>;
  /**
   * Tells every revocation listener (with shared storage, in every process) that access to a database
   * of `app` was withdrawn or changed: a {@link Revocation} with neither key nor address.
   */
  accessChanged(app: string, at: number): Promise<void>;
  /** Listens for revocations (this process or, with shared storage, another); returns an unsubscribe. */
  onRevoked(listener: (r: Revocation) => void): () => void;
  close(): Promise<void>;
}
