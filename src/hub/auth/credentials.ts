/**
 * An app's credentials: `create` makes an API key and a secret (shown once: only the sealed secret
 * is kept), `list` shows them without secrets, `revoke` ends a key (and, through the store's
 * revocation listeners, the sessions it admitted). The hub reads a key's secret back only to check
 * an HMAC signature, which needs the secret itself.
 */
import { createPublicKey, randomBytes } from 'node:crypto';
import { CredentialError, MasterKeyError } from './errors.ts';
import { open, seal } from './sealed.ts';
import type { AuthStore, CredentialRecord, IdentityProvider } from './store.ts';

/** An app name: what `--name` takes. */
const APP_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** The API key's form: a prefix that says what it is, and 16 random bytes in hex (never starts with `-`: safe as a command-line argument). */
const API_KEY = /^ddcpk_[0-9a-f]{32}$/;

/** What `create` shows once. */
export interface NewCredential {
  app: string;
  key: string;
  secret: string;
}

/** A credential as `list` shows it: never the secret. */
export interface CredentialInfo {
  app: string;
  key: string;
  createdAt: number;
  revokedAt?: number;
  idp?: IdentityProvider;
}

/** Whether `text` has the form of an API key (a cheap check before any look-up). */
export function isApiKey(text: string): boolean {
  return API_KEY.test(text);
}

/** Throws {@link CredentialError} unless `app` is a valid app name (checked by `create`; callers may check before opening a store). */
export function checkAppName(app: string): void {
  if (!APP_NAME.test(app)) throw new CredentialError(`app name ${JSON.stringify(app)} is not valid: 1–64 letters, digits, . _ - (starting with a letter or digit)`);
}

export class Credentials {
  readonly #store: AuthStore;
  readonly #masterKey: Uint8Array | undefined;

  /** Without a master key, `list` and `revoke` work (revoking never needs the key); `create` and `active` do not. */
  constructor(store: AuthStore, masterKey?: Uint8Array) {
    this.#store = store;
    this.#masterKey = masterKey;
  }

  /** Makes a key and secret for `app` (optionally with its identity provider for JWTs). */
  async create(app: string, options: { idp?: IdentityProvider; now?: number } = {}): Promise<NewCredential> {
    checkAppName(app);
    if (options.idp) checkIdentityProvider(options.idp);
    const key = `ddcpk_${randomBytes(16).toString('hex')}`;
    const secret = randomBytes(32).toString('hex');
    await this.#store.addCredential({
      key,
      app,
      sealedSecret: seal(this.#key(), Buffer.from(secret, 'utf8'), key),
      createdAt: options.now ?? Date.now(),
      ...(options.idp && { idp: options.idp }),
    });
    return { app, key, secret };
  }

  async list(): Promise<CredentialInfo[]> {
    return (await this.#store.credentials()).map(({ sealedSecret: _, ...info }) => info);
  }

  /** Revokes a key, or every active key of an app named `keyOrApp`; returns the keys revoked. */
  async revoke(keyOrApp: string, now: number = Date.now()): Promise<string[]> {
    const all = await this.#store.credentials();
    const targets = isApiKey(keyOrApp) ? all.filter((c) => c.key === keyOrApp) : all.filter((c) => c.app === keyOrApp);
    if (targets.length === 0) throw new CredentialError(`no credential ${keyOrApp}: name an API key or an app (see: ddcp hub credentials list)`);
    const revoked: string[] = [];
    for (const c of targets) if (await this.#store.revokeCredential(c.key, now)) revoked.push(c.key);
    if (revoked.length === 0) throw new CredentialError(`${keyOrApp} is already revoked`);
    return revoked;
  }

  /** An active key's record and secret, or undefined (unknown or revoked key). */
  async active(key: string): Promise<{ record: CredentialRecord; secret: Buffer } | undefined> {
    if (!isApiKey(key)) return undefined;
    const record = await this.#store.credential(key);
    if (!record || record.revokedAt !== undefined) return undefined;
    return { record, secret: open(this.#key(), record.sealedSecret, key) };
  }

  #key(): Uint8Array {
    if (!this.#masterKey) throw new MasterKeyError('no master key given: secrets can be neither sealed nor opened');
    return this.#masterKey;
  }
}

/** A clear error for an identity provider setting that cannot work. */
export function checkIdentityProvider(idp: IdentityProvider): void {
  if (!idp.issuer) throw new CredentialError('an identity provider needs its issuer (the iss its tokens carry)');
  if ((idp.jwksUrl === undefined) === (idp.publicKey === undefined)) throw new CredentialError('an identity provider needs exactly one of a JWKS URL and a public key');
  if (idp.jwksUrl !== undefined) {
    let url: URL;
    try {
      url = new URL(idp.jwksUrl);
    } catch (cause) {
      throw new CredentialError(`JWKS URL ${idp.jwksUrl} is not a URL`, { cause });
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new CredentialError(`JWKS URL ${idp.jwksUrl} must be http(s)`);
    // Whoever can change the key set in transit can sign tokens for any user.
    if (url.protocol === 'http:' && !isLoopback(url.hostname)) throw new CredentialError(`JWKS URL ${idp.jwksUrl} must be https (plain http only on this machine's loopback: keys fetched in the clear could be anyone's)`);
  }
  if (idp.publicKey !== undefined) {
    try {
      createPublicKey(idp.publicKey);
    } catch (cause) {
      throw new CredentialError(`the identity provider's public key is not a PEM public key: ${(cause as Error).message}`, { cause });
    }
  }
}

/** Whether a URL's hostname is this machine's loopback (127.0.0.0/8, ::1, localhost). */
function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
}
