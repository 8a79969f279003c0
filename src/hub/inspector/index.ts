/**
 * The hub operator's inspector at /ui: admin tokens and sessions, the page, its data endpoints and
 * the live feed of changes.
 */
export { AdminAccess, checkAdminTokenName, SESSION_TTL_MS } from './admins.ts';
export type { AdminAccessOptions, AdminTokenInfo } from './admins.ts';
export { AdminLoginError, AdminTokenError } from './errors.ts';
export { Inspector, INSPECTOR_PATH, SESSION_COOKIE } from './http.ts';
export type { InspectorOptions } from './http.ts';
export type { ClientInfo, InspectedHub } from './hub.ts';
export { openAdminStore } from './open.ts';
export { PostgresAdminStore } from './postgres-store.ts';
export { SqliteAdminStore } from './sqlite-store.ts';
export type { AdminStore, AdminTokenRecord } from './store.ts';
export { ADMIN_TOKEN_PREFIX } from './tokens.ts';
