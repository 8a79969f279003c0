/**
 * Hub authentication: credentials, admin-call signatures, user tokens, identity-provider JWTs,
 * enrolled devices, rate limits, and the storage port with its SQLite and PostgreSQL stores.
 */
export type { AuthRequest, Authenticator, Principal } from './port.ts';
export { HubAuthenticator, TOKEN_PARAM } from './authenticator.ts';
export type { AdminPrincipal, AuthEvent, AuthLogger, HubAuthOptions, HubPrincipal } from './authenticator.ts';
export { checkAppName, checkIdentityProvider, Credentials, isApiKey } from './credentials.ts';
export type { CredentialInfo, NewCredential } from './credentials.ts';
export { CHALLENGE_TTL_MS, DEVICE_SCHEME, deviceAuthorization, fetchDeviceAuthorization } from './device.ts';
export type { DeviceSigner } from './device.ts';
export { AuthError, CredentialError, MasterKeyError } from './errors.ts';
export { DeviceChallengeError } from '../../repo/device-auth.ts';
export { ADMIN_HEADERS, SIGNATURE_WINDOW_MS, adminSignature, signAdminRequest } from './hmac.ts';
export type { AdminRequestInit } from './hmac.ts';
export { handleAuthRequest, MAX_ADMIN_BODY } from './http.ts';
export { MASTER_KEY_ENV, MASTER_KEY_FILE, loadMasterKey, newMasterKey } from './masterkey.ts';
export { openAuthStore, openHubAuth } from './open.ts';
export type { HubAuthStorage } from './open.ts';
export { DEFAULT_AUTH_SCHEMA, PostgresAuthStore } from './postgres-store.ts';
export { AUTH_DB_FILE, SqliteAuthStore } from './sqlite-store.ts';
export type { AuthStore, CredentialRecord, DeviceRecord, IdentityProvider, Revocation } from './store.ts';
export type { RateLimitOptions } from './ratelimit.ts';
export { DEFAULT_TOKEN_TTL_MS, HUB_ISSUER, MAX_TOKEN_TTL_MS } from './tokens.ts';
