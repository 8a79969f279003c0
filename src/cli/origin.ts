/** Naming the site that made a change for people: "here", a remote's name, or a site-id prefix. */
import { toHex, type Repository } from '../index.ts';

/** A function naming site ids as seen from `repo`. */
export function originNamer(repo: Repository): (siteId: Uint8Array) => string {
  const here = toHex(repo.engine.siteId);
  const names = new Map(repo.remoteStatus().flatMap((r) => (r.siteId ? [[r.siteId, r.name] as const] : [])));
  return (siteId) => {
    const site = toHex(siteId);
    return site === here ? 'here' : (names.get(site) ?? site.slice(0, 8));
  };
}
