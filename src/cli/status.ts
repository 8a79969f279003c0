/** `ddcp status`: what this repository is and holds. */
import type { Command } from 'commander';
import { askServer, toHex } from '../index.ts';
import { toJson } from './format.ts';
import type { Context } from './context.ts';

export function register(program: Command, ctx: Context): void {
  program
    .command('status')
    .description('show the database, its address and site id, db_version, CRR tables and remotes')
    .option('--json', 'print one JSON object')
    .addHelpText('after', `
Examples:
  ddcp status
  ddcp status --json | jq .db_version`)
    .action(async (opts: { json?: boolean }) => {
      const repo = ctx.repo();
      const serving = (await askServer(repo, { cmd: 'status' }).catch(() => undefined)) as { address: string; addresses: string[]; peers: string[]; following: string[] } | undefined;
      const engine = repo.engine;
      const status = {
        root: repo.root,
        db: repo.dbPath,
        site_id: toHex(engine.siteId),
        address: repo.address,
        db_version: engine.dbVersion(),
        crrs: engine.crrs().map((t) => ({ table: t.name, pk: t.pks, columns: t.columns })),
        schema: engine.schemaFingerprint(),
        peers: engine.trackedPeers().map((p) => ({ site_id: toHex(p.siteId), version: p.version })),
        serving: serving ? { addresses: serving.addresses, peers: serving.peers, following: serving.following } : null,
        remotes: repo.remoteStatus().map((r) => ({ name: r.name, location: r.location, site_id: r.siteId ?? null, fetched_version: r.fetchedVersion, staged: r.staged, fetched_at: r.fetchedAt ?? null })),
      };
      if (opts.json) {
        ctx.out(toJson(status));
        return;
      }
      ctx.out(`repository  ${status.root}`);
      ctx.out(`database    ${status.db}`);
      ctx.out(`address     ${status.address}`);
      ctx.out(`site id     ${status.site_id}`);
      ctx.out(`db_version  ${status.db_version}`);
      ctx.out(`CRR tables  ${status.crrs.length === 0 ? "(none: SELECT crsql_as_crr('table') in ddcp shell)" : status.crrs.map((t) => t.table).join(', ')}`);
      if (serving) {
        ctx.out(`serving     yes: ${serving.addresses.join(' ')}`);
        ctx.out(`peers       ${serving.peers.length === 0 ? '(none connected)' : serving.peers.join(' ')}`);
      } else ctx.out('serving     no (ddcp serve)');
      for (const r of status.remotes) {
        ctx.out(`remote      ${r.name} (${r.location}): fetched up to version ${r.fetched_version}, ${r.staged} staged${r.staged > 0 ? ` (ddcp merge ${r.name})` : ''}`);
      }
    });
}
