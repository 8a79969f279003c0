/**
 * Who may use a hosted database, and how: its owner reads and writes everything; a user of the same
 * app it is shared with has the share's sync-v2 policy (rules' `:peer` is the user id); anyone else
 * has no access at all.
 */
import type { PeerPolicy } from '../sync/policy.ts';
import type { Principal } from './auth/port.ts';
import type { DatabaseInfo } from './storage/port.ts';

const OWNER: Readonly<PeerPolicy> = Object.freeze({ read: 'all', write: 'all' });

/** The principal's policy on the database, or undefined if it may not use it. */
export function accessOf(info: Pick<DatabaseInfo, 'owner' | 'shares'>, who: Pick<Principal, 'app' | 'user'>): PeerPolicy | undefined {
  if (info.owner.app !== who.app) return undefined;
  if (info.owner.user === who.user) return OWNER;
  return Object.hasOwn(info.shares, who.user) ? info.shares[who.user] : undefined;
}

/** Whether the principal owns the database. */
export const isOwner = (info: Pick<DatabaseInfo, 'owner'>, who: Pick<Principal, 'app' | 'user'>): boolean => info.owner.app === who.app && info.owner.user === who.user;
