/**
 * ddcp as a library. Everything the CLI does is available here.
 *
 * @example
 * ```ts
 * import { Repository } from 'ddcp';
 * const repo = Repository.init('./notes');
 * repo.db.exec("CREATE TABLE notes(id TEXT PRIMARY KEY NOT NULL, body TEXT)");
 * repo.engine.asCrr('notes');
 * for (const change of repo.engine.changesSince(0)) console.log(change);
 * ```
 */
export { Engine } from './engine/index.ts';
export type { ApplyOptions, ApplyResult, ChangesOptions, EngineOptions, HistoryOptions } from './engine/index.ts';
export type { ReadFilter, WriteGuard, RowRule } from './engine/index.ts';
export type { Refusal } from './engine/index.ts';
export type { HistoryEntry, VersionRecord, CommitCounts, MergeCounts } from './engine/index.ts';
export type { Conflict, ConflictSide } from './engine/index.ts';
export type { Change } from './engine/index.ts';
export type { TrackedPeer } from './engine/index.ts';
export type { TableInfo } from './engine/index.ts';
export { openDatabase, NodeSqliteUnavailableError, SQLITE_NODE_RANGE } from './engine/index.ts';
export type { SqlValue, SqliteConnection, Statement } from './engine/index.ts';
export { registerFunctions } from './engine/index.ts';
export { packColumns, unpackColumns, packValue, unpackValue } from './engine/index.ts';
export { compareValues } from './engine/index.ts';
export { DdcpError, PackError } from './base/errors.ts';
export { SchemaError, ChangeError } from './engine/index.ts';
export { Repository } from './repo/repository.ts';
export { Documents } from './docs/documents.ts';
export type { Document, DocumentsOptions, UndoResult } from './docs/documents.ts';
export type { HistoryEntry as DocumentHistoryEntry } from './docs/history.ts';
export type { DocumentEvent, ChangeEvent as DocumentChangeEvent, ConflictEvent as DocumentConflictEvent, SyncEvent as DocumentSyncEvent, EventFilter as DocumentEventFilter } from './docs/events.ts';
export type { Json, JsonObject } from './docs/json.ts';
export type { Operation as JsonPatchOperation } from './docs/patch.ts';
export { DocumentError, PatchError, InvalidDocumentError, DocumentNotFoundError, DocumentExistsError, NothingToUndoError } from './docs/errors.ts';
export type { InitOptions } from './repo/repository.ts';
export type { SyncOptions, PushResult, RemoteLink } from './repo/repository.ts';
export type { FetchResult, MergeOutcome, Progress } from './repo/fetch.ts';
export type { FollowEvent, FollowOptions } from './repo/follow.ts';
export { RepoFeed } from './repo/feed.ts';
export { PROTOCOL_VERSION, SYNC_PROTOCOL, KEEPALIVE_MS } from './sync/protocol.ts';
export type { Dial } from './sync/protocol.ts';
export type { FrameChannel, SendOptions } from './sync/channel.ts';
export type { ChangeFeed, ChangeSink, FeedRequest, PushOrigin, Received, Refusal as PushRefusal } from './sync/ports.ts';
export { serveSession } from './sync/server.ts';
export type { ServeOptions as SessionOptions, SessionLog } from './sync/server.ts';
export { runSession, PushDeniedError } from './sync/client.ts';
export type { ClientOptions, PullTarget, SessionResult } from './sync/client.ts';
export { ProtocolError } from './sync/messages.ts';
export { NotARepositoryError, RepositoryExistsError, RepositoryError } from './repo/errors.ts';
export { formatChange, parseChange, parseChanges } from './sync/jsonl.ts';
export { DEFAULT_POLICY, NO_ACCESS, PolicyError, parseRule, formatRule, policyFromJson, policyToJson, checkPolicy } from './sync/policy.ts';
export type { PeerPolicy, TableRule } from './sync/policy.ts';
export { Gate, SchemaFitError, readFilterOf, writeGuardOf, refusalText, schemaMismatch } from './sync/gate.ts';
export type { AdmitOptions, PolicyLookup } from './sync/gate.ts';
export { createBundle } from './bundle/create.ts';
export type { CreateBundleOptions, CreateBundleResult, BundleOrigin, BundleRecipient } from './bundle/create.ts';
export { applyBundle } from './bundle/apply.ts';
export type { ApplyBundleOptions, ApplyBundleResult, RemoteOf } from './bundle/apply.ts';
export { BundleError } from './bundle/format.ts';
export type { BundleHeader, BundleTable, BundleSummary, BundleFault } from './bundle/format.ts';
export { BundleReader } from './bundle/reader.ts';
export { BundleWriter, writeBundle } from './bundle/writer.ts';
export { verifyBundle } from './bundle/verify.ts';
