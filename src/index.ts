/**
 * `ddcp`: the library's main entry — repositories (init, remotes, fetch, pull, push, follow,
 * bundles), the CRR engine, sync sessions and per-peer read/write policies. Everything the CLI does
 * is available from here and the optional subpaths, which load more code and are imported only
 * when needed:
 * - `ddcp/peer`: the p2p network — `Server` (what `ddcp serve` runs), dialing network remotes for
 *   fetch/pull/push (`withNetwork`), reaching a running serve over its control socket;
 * - `ddcp/docs`: JSON documents over CRR tables;
 * - `ddcp/bundle`: the bundle file format (reader, writer, verify).
 *
 * Importing this entry loads no network stack (libp2p), so a short-lived tool starts fast.
 *
 * @example
 * ```ts
 * import { Repository } from 'ddcp';
 * const repo = await Repository.init('./notes');
 * repo.db.exec("CREATE TABLE notes(id TEXT PRIMARY KEY NOT NULL, body TEXT)");
 * repo.engine.asCrr('notes');
 * for (const change of repo.engine.changesSince(0)) console.log(change);
 * ```
 * @packageDocumentation
 */
// Repositories: a database plus ddcp's state — remotes, fetch/pull/push, follow, policies, bundles.
export { Repository } from './repo/repository.ts';
export type { InitOptions, SyncOptions, PushResult, RemoteLink } from './repo/repository.ts';
export type { FetchResult, MergeOutcome, Progress } from './repo/fetch.ts';
export type { FollowEvent, FollowOptions } from './repo/follow.ts';
export type { Remote } from './repo/remotes.ts';
export type { RepoConfig } from './repo/config.ts';
export { RepoFeed } from './repo/feed.ts';
export { NotARepositoryError, RepositoryExistsError, RepositoryError } from './repo/errors.ts';
export { RemoteError } from './repo/remotes.ts';
export type { ApplyBundleOptions, ApplyBundleResult, CreateBundleOptions, CreateBundleResult, BundleRecipient } from './bundle/index.ts';

// The CRR engine on one SQLite connection.
export { Engine } from './engine/index.ts';
export type { ApplyOptions, ApplyResult, ChangesOptions, EngineOptions, HistoryOptions } from './engine/index.ts';
export type { ReadFilter, WriteGuard, RowRule, Refusal } from './engine/index.ts';
export type { HistoryEntry, VersionRecord, CommitCounts, MergeCounts } from './engine/index.ts';
export type { Conflict, ConflictSide, Change, ChangeRowSink, TrackedPeer, TableInfo } from './engine/index.ts';
export { openDatabase, NodeSqliteUnavailableError, SQLITE_NODE_RANGE } from './engine/index.ts';
import { nodeSqlite } from './engine/index.ts';
// Fail at import, with the reason, on a Node.js whose node:sqlite is missing or too old.
nodeSqlite();
export type { SqlValue, SqliteConnection, Statement } from './engine/index.ts';
export { registerFunctions } from './engine/index.ts';
/** A change's primary key (`Change.pk`) and cr-sqlite's packed values: {@link unpackColumns} reads them. */
export { packColumns, unpackColumns } from './engine/index.ts';
/** Names the engine keeps to itself (tables, triggers) and the column id of a row's existence. */
export { INTERNAL_MARK, INTERNAL_PREFIX, SENTINEL } from './engine/index.ts';
export { SchemaError, ChangeError, StateError, SiteClaimError } from './engine/index.ts';

// Per-peer read/write policies, and the gate every inbound change passes.
export { DEFAULT_POLICY, NO_ACCESS, grantsNothing, PolicyError, parseRule, formatRule, policyFromJson, policyToJson, checkPolicy } from './sync/policy.ts';
export { readFromSpecs, writeFromSpecs, formatAccess } from './sync/policy.ts';
export type { PeerPolicy, TableRule } from './sync/policy.ts';
export { Gate, SchemaFitError, readFilterOf, writeGuardOf, refusalText, schemaMismatch } from './sync/gate.ts';
export type { AdmitOptions, PolicyLookup } from './sync/gate.ts';

// The sync protocol over any frame channel (an app's own transport), and changes as JSON lines.
export { PROTOCOL_VERSION, SYNC_PROTOCOL, KEEPALIVE_MS } from './sync/protocol.ts';
export type { Dial } from './sync/protocol.ts';
export { makeSiteProof, verifySiteProof, SITE_PROOF_DOMAIN } from './sync/proof.ts';
export type { SiteProof, Signer } from './sync/proof.ts';
export type { FrameChannel, SendOptions } from './sync/channel.ts';
export type { ChangeFeed, ChangeSink, FeedRequest, PushOrigin, Received, Refusal as PushRefusal } from './sync/ports.ts';
export { serveSession } from './sync/server.ts';
export type { ServeOptions as SessionOptions, SessionLog } from './sync/server.ts';
export { runSession, PushDeniedError } from './sync/client.ts';
export type { ClientOptions, PullTarget, SessionResult } from './sync/client.ts';
export { ProtocolError } from './sync/messages.ts';
export { Sessions, SessionRevokedError } from './sync/sessions.ts';
export type { OpenSession, SessionCheck } from './sync/sessions.ts';
export { formatChange, parseChange, parseChanges } from './sync/jsonl.ts';
export { ChangeLineWriter } from './sync/jsonl-writer.ts';
export { ChangeLineReader, fileChanges, readChanges, readFileChanges } from './sync/jsonl-reader.ts';
export { readLines, readFileLines } from './sync/lines.ts';

// A running `ddcp serve` of the same repository, reached over its control socket (no network stack).
export { askServer, ControlError } from './peer/control.ts';
export type { ConfigChange, ControlRequest } from './peer/control.ts';

// Small shared pieces.
export { DdcpError, PackError } from './base/errors.ts';
export { toHex, fromHex } from './base/hex.ts';
