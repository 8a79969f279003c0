/**
 * `ddcp/hub`: the sync hub. Authentication (src/hub/auth): app credentials, the admin-call signing an
 * app's backend uses ({@link signAdminRequest}), user tokens, identity-provider JWTs, enrolled
 * devices, and the auth stores (SQLite, PostgreSQL).
 */
export * from './auth/index.ts';

// The hub server and its storage (see src/hub/server.ts, src/hub/storage/port.ts).
export { HubServer, DEFAULT_HUB_PORT, DEFAULT_HUB_MAX_FRAME_BYTES, DEFAULT_HUB_MAX_CONNECTIONS_PER_ADDRESS, CLOSE_UNAUTHORIZED, databaseOf } from './server.ts';
export type { HubServerOptions } from './server.ts';
export { HubRequestError } from './errors.ts';
export { HubMetrics } from './metrics.ts';
export type { RefusalReason } from './metrics.ts';
export { accessOf } from './access.ts';
export { SqliteHubStore } from './storage/sqlite/store.ts';
export { DataFolderLockedError, lockDataFolder, type DataFolderLock } from './storage/sqlite/lock.ts';
export { PgHubStore, DEFAULT_SCHEMA as DEFAULT_HUB_SCHEMA } from './storage/postgres/store.ts';
export type { PgHubStoreOptions } from './storage/postgres/store.ts';
export { checkDatabaseName, DatabaseNameError, HubStoreError, SchemaDeclareError } from './storage/port.ts';
export type { DatabaseInfo, HubDatabase, HubStore, HubUser } from './storage/port.ts';
// The JSON document API at ws://host:port/v1/docs/<db> (see src/hub/docs/socket.ts).
export { DOCS_PATH_PREFIX, DEFAULT_DOCS_MAX_MESSAGE_BYTES, DOCS_CLOSE } from './docs/socket.ts';
export { DocsApiError } from './docs/errors.ts';
export type { DocsErrorCode } from './docs/errors.ts';
// The operator's inspector at /ui (see src/hub/inspector/http.ts).
export * from './inspector/index.ts';
