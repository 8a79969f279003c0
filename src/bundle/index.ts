/**
 * `ddcp/bundle`: bundle files — changes carried between repositories that never meet (a USB stick,
 * an email attachment). `repo.createBundle()` / `repo.applyBundle()` in `ddcp` cover the usual
 * case; this entry adds reading, writing and verifying the format itself.
 *
 * @example
 * ```ts
 * import { BundleReader, verifyBundle } from 'ddcp/bundle';
 * ```
 */
export { createBundle } from './create.ts';
export type { CreateBundleOptions, CreateBundleResult, BundleOrigin, BundleRecipient } from './create.ts';
export { applyBundle } from './apply.ts';
export type { ApplyBundleOptions, ApplyBundleResult, RemoteOf } from './apply.ts';
export { BundleError } from './format.ts';
export type { BundleHeader, BundleTable, BundleSummary, BundleFault } from './format.ts';
export { BundleReader } from './reader.ts';
export { BundleWriter, writeBundle } from './writer.ts';
export { verifyBundle } from './verify.ts';
