/** `ddcp init`: create a repository here. */
import type { Command } from 'commander';
import { Repository, toHex } from '../index.ts';
import { toJson } from './format.ts';
import type { Context } from './context.ts';
import { CliError, ExitCode } from './exit.ts';

export function register(program: Command, ctx: Context): void {
  program
    .command('init')
    .description('create a repository here: a plain SQLite database, ddcp state in .ddcp/ and a key pair')
    .option('--db <path>', 'adopt this existing SQLite file (your app keeps using it) instead of creating ./ddcp.db')
    .option('--new-site', 'in an existing repository: give its database a new site id (after copying or restoring it)')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
Prints the database's address: its public key, which peers use to find and verify it.

Examples:
  ddcp init                       new repository with a new database ./ddcp.db
  ddcp init --db ~/app/data.db    make an app's existing database synchronizable
  ddcp init --new-site            this database is a copy or a restored backup: give it its own site id

A database's site id names its changes everywhere. A copy of a database (cp -a of a repository, a
database file adopted with --db, a restored backup) still has its original's site id, and peers
refuse the second identity claiming it ("two identities claim site id …"). Run 'ddcp init
--new-site' in the copy: its changes so far keep the old site id, new ones get a new one.`,
    )
    .action(async (opts: { db?: string; json?: boolean; newSite?: boolean }) => {
      if (opts.newSite) {
        if (opts.db !== undefined) throw new CliError('--new-site works on an existing repository; it takes no --db', ExitCode.Usage);
        const repo = Repository.open(ctx.dir());
        try {
          const old = toHex(repo.engine.siteId);
          const siteId = toHex(repo.renewSiteId());
          if (opts.json) ctx.out(toJson({ root: repo.root, site_id: siteId, old_site_id: old, address: repo.address }));
          else ctx.out(`New site id for ${repo.dbPath}: ${siteId} (was ${old})`);
        } finally {
          repo.close();
        }
        return;
      }
      const repo = await Repository.init(ctx.dir({ create: true }), { db: opts.db });
      try {
        const siteId = toHex(repo.engine.siteId);
        if (opts.json) ctx.out(toJson({ root: repo.root, db: repo.dbPath, site_id: siteId, address: repo.address }));
        else {
          ctx.out(`Initialized ddcp repository in ${repo.root}`);
          ctx.out(`database: ${repo.dbPath}`);
          ctx.out(`address:  ${repo.address}`);
          ctx.out(`site id:  ${siteId}`);
        }
      } finally {
        repo.close();
      }
    });
}
