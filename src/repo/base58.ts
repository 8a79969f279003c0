/** Moved to base/ (the sync layer verifies addresses too); kept as a path for old imports. */
export * from '../base/base58.ts';
