/**
 * `ddcp/hub`: the sync hub. Authentication (src/hub/auth): app credentials, the admin-call signing an
 * app's backend uses ({@link signAdminRequest}), user tokens, identity-provider JWTs, enrolled
 * devices, and the auth stores (SQLite, PostgreSQL).
 */
export * from './auth/index.ts';
