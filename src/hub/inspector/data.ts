/**
 * The inspector's data, as JSON for the page: the hosted databases (owner, shares, tables, clients
 * here), the users (what each owns and is shared, and their connected clients), recent conflicts,
 * and the metric samples. Only names, policies and values the operator may see anyway; never a
 * credential. Databases are read up to {@link MAX_DATABASES} (the page says when it cut).
 */
import { formatAccess, type PeerPolicy } from '../../sync/policy.ts';
import type { Conflict } from '../../engine/index.ts';
import type { ClientInfo, InspectedHub } from './hub.ts';
import { keyText, siteText, valueText } from './render.ts';

/** Databases shown (and looked into for conflicts) at most. */
export const MAX_DATABASES = 256;
/** Conflicts shown at most, newest first over every database. */
export const MAX_CONFLICTS = 50;

export interface DatabaseView {
  name: string;
  app: string;
  owner: string;
  shares: { user: string; read: string; write: string }[];
  tables: { name: string; columns: string[] }[];
  /** Sessions open on it in this hub process. */
  clients: number;
}

export interface UserView {
  app: string;
  user: string;
  owns: string[];
  shared: string[];
  clients: ClientInfo[];
}

export interface Overview {
  /** This hub process: its pid, so several processes on one storage can be told apart. */
  process: { pid: number; uptimeSeconds: number };
  databases: DatabaseView[];
  /** Whether more databases exist than were read. */
  truncated: boolean;
  users: UserView[];
  clients: ClientInfo[];
}

export interface ConflictView {
  at: number;
  db: string;
  table: string;
  key: string;
  column: string;
  winner: 'local' | 'incoming';
  local: { value: string; site: string };
  incoming: { value: string; site: string };
  source: string;
}

const access = (p: PeerPolicy): { read: string; write: string } => ({ read: formatAccess(p.read), write: formatAccess(p.write) });

/** Databases, users and clients now. */
export async function overview(hub: InspectedHub): Promise<Overview> {
  const all = await hub.store.list();
  const infos = all.slice(0, MAX_DATABASES);
  const clients = hub.clients().sort((a, b) => a.since - b.since);
  const perDb = new Map<string, number>();
  for (const c of clients) perDb.set(c.db, (perDb.get(c.db) ?? 0) + 1);
  const users = new Map<string, UserView>();
  const userOf = (app: string, user: string): UserView => {
    const id = JSON.stringify([app, user]);
    let u = users.get(id);
    if (!u) users.set(id, (u = { app, user, owns: [], shared: [], clients: [] }));
    return u;
  };
  const databases = infos.map((d): DatabaseView => {
    userOf(d.owner.app, d.owner.user).owns.push(d.name);
    const shares = Object.entries(d.shares).map(([user, p]) => {
      userOf(d.owner.app, user).shared.push(d.name);
      return { user, ...access(p) };
    });
    return {
      name: d.name,
      app: d.owner.app,
      owner: d.owner.user,
      shares,
      tables: d.tables.map((t) => ({ name: t.name, columns: [...t.pks, ...t.columns] })),
      clients: perDb.get(d.name) ?? 0,
    };
  });
  for (const c of clients) userOf(c.app, c.user).clients.push(c);
  const byName = (a: UserView, b: UserView): number => a.app.localeCompare(b.app) || a.user.localeCompare(b.user);
  return {
    process: { pid: process.pid, uptimeSeconds: Math.round(process.uptime()) },
    databases,
    truncated: all.length > infos.length,
    users: [...users.values()].sort(byName),
    clients,
  };
}

/** The newest conflicts over every database whose store records them. */
export async function recentConflicts(hub: InspectedHub): Promise<{ conflicts: ConflictView[]; recorded: boolean }> {
  const names = (await hub.store.list()).slice(0, MAX_DATABASES).map((d) => d.name);
  const found: ConflictView[] = [];
  let recorded = names.length === 0;
  for (const name of names) {
    const db = await hub.store.open(name);
    if (!db) continue;
    try {
      if (!db.conflicts) continue;
      recorded = true;
      for (const c of await db.conflicts(MAX_CONFLICTS)) found.push(viewOf(name, c));
    } finally {
      db.release?.();
    }
  }
  found.sort((a, b) => b.at - a.at);
  return { conflicts: found.slice(0, MAX_CONFLICTS), recorded };
}

function viewOf(db: string, c: Conflict): ConflictView {
  return {
    at: c.at,
    db,
    table: c.table,
    key: keyText(c.pk),
    column: c.cid,
    winner: c.winner,
    local: { value: valueText(c.local.value), site: siteText(c.local.siteId) },
    incoming: { value: valueText(c.incoming.value), site: siteText(c.incoming.siteId) },
    source: c.source ?? '',
  };
}
