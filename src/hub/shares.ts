/**
 * The hub's database endpoints over HTTP, for a user with a bearer token (the same as for sync):
 *
 * - `GET /v1/databases` → the databases the caller may use: `[{name, owner, access: {read, write}}]`.
 * - `PUT /v1/databases/<db>/shares/<user>` with a sync-v2 policy `{read, write}` (JSON, as in
 *   `.ddcp/config.json`): the owner shares the database with another user of its app. The policy is
 *   checked against the database's schema (tables, columns, WHERE expressions) first.
 * - `DELETE /v1/databases/<db>/shares/<user>`: stops sharing.
 *
 * A share removed or changed ends that user's open sessions on the database at once, in every hub
 * process on the same storage (told through the authenticator's revocation channel): a removed
 * share's client is refused when it reconnects; a changed one's syncs under the new policy.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { openDatabase, type TableInfo } from '../engine/index.ts';
import { ident } from '../engine/index.ts';
import { checkPolicy, PolicyError, policyFromJson, type PeerPolicy } from '../sync/policy.ts';
import { accessOf, isOwner } from './access.ts';
import type { Authenticator, Principal } from './auth/port.ts';
import { HubRequestError } from './errors.ts';
import { decodeSegment } from './path.ts';
import { checkDatabaseName, DatabaseNameError, type HubDatabase, type HubStore } from './storage/port.ts';

/** The largest request body read (bytes). */
const MAX_BODY = 64 * 1024;

export interface SharesContext {
  store: HubStore;
  auth: Authenticator;
  remoteAddress: string;
}

async function principalOf(req: IncomingMessage, ctx: SharesContext): Promise<Principal> {
  try {
    return await ctx.auth.authenticate({ headers: req.headers, remoteAddress: ctx.remoteAddress, url: req.url ?? '/' });
  } catch {
    throw new HubRequestError(401, 'unauthenticated', 'authentication failed');
  }
}

async function body(req: IncomingMessage): Promise<unknown> {
  let text = '';
  for await (const chunk of req) {
    text += String(chunk);
    if (text.length > MAX_BODY) throw new HubRequestError(413, 'bad-request', `the request body is over ${MAX_BODY} bytes`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new HubRequestError(400, 'bad-request', 'the request body is not JSON (a policy: {"read": …, "write": …})');
  }
}

/** Checks a policy against the database's tables, on an empty in-memory copy of its schema. */
export function checkSharePolicy(policy: PeerPolicy, tables: readonly TableInfo[]): void {
  const db = openDatabase(':memory:');
  try {
    for (const t of tables) db.exec(`CREATE TABLE ${ident(t.name)} (${[...t.pks.map((c) => `${ident(c)} NOT NULL`), ...t.columns.map(ident)].join(', ')}, PRIMARY KEY (${t.pks.map(ident).join(', ')}))`);
    checkPolicy(policy, tables, db);
  } finally {
    db.close();
  }
}

/** Handles `req` if it is one of these endpoints (resolves true), else resolves false. */
export async function handleShares(req: IncomingMessage, res: ServerResponse, ctx: SharesContext): Promise<boolean> {
  const path = new URL(req.url ?? '/', 'http://hub.invalid').pathname;
  if (path === '/v1/databases' && req.method === 'GET') {
    const who = await principalOf(req, ctx);
    const all = ctx.store.listFor ? await ctx.store.listFor(who) : await ctx.store.list();
    const mine = all.flatMap((info) => {
      const access = accessOf(info, who);
      return access ? [{ name: info.name, owner: info.owner.user, access }] : [];
    });
    reply(res, 200, mine);
    return true;
  }
  const m = /^\/v1\/databases\/([^/]+)\/shares\/([^/]+)$/.exec(path);
  if (!m || (req.method !== 'PUT' && req.method !== 'DELETE')) return false;
  const who = await principalOf(req, ctx);
  const name = decodeSegment(m[1]!);
  const user = decodeSegment(m[2]!);
  try {
    checkDatabaseName(name);
  } catch (err) {
    if (err instanceof DatabaseNameError) throw new HubRequestError(400, 'bad-request', err.message);
    throw err;
  }
  const db = await ctx.store.open(name);
  try {
    return await shareOn(req, res, ctx, db, name, user, who);
  } finally {
    db?.release?.(); // held for this call only
  }
}

/** A share's PUT or DELETE on `db` (open, or undefined if none), answered. */
async function shareOn(req: IncomingMessage, res: ServerResponse, ctx: SharesContext, db: HubDatabase | undefined, name: string, user: string, who: Principal): Promise<boolean> {
  const info = db && (await db.info());
  // The same answer whether it is missing or someone else's: no hint which databases exist.
  if (!db || !info || !isOwner(info, who)) throw new HubRequestError(403, 'forbidden', `database ${name} is not yours: only its owner shares it`);
  if (user === who.user) throw new HubRequestError(400, 'bad-request', 'the owner already reads and writes everything');
  if (req.method === 'DELETE') {
    await db.share(user, undefined);
    await ctx.auth.accessChanged(who.app);
    res.writeHead(204).end();
    return true;
  }
  let policy: PeerPolicy;
  try {
    policy = policyFromJson(await body(req), 'share');
    checkSharePolicy(policy, info.tables);
  } catch (err) {
    if (err instanceof PolicyError) throw new HubRequestError(400, 'bad-request', err.message);
    throw err;
  }
  await db.share(user, policy);
  await ctx.auth.accessChanged(who.app);
  reply(res, 200, { name, user, policy });
  return true;
}

function reply(res: ServerResponse, status: number, value: unknown): void {
  const text = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
