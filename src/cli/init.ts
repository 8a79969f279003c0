/** `ddcp init`: create a repository here. */
import type { Command } from 'commander';
import { Repository, toHex } from '../index.ts';
import { toJson } from './format.ts';
import type { Context } from './context.ts';

export function register(program: Command, ctx: Context): void {
  program
    .command('init')
    .description('create a repository here: a plain SQLite database, ddcp state in .ddcp/ and a key pair')
    .option('--db <path>', 'adopt this existing SQLite file (your app keeps using it) instead of creating ./ddcp.db')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
Prints the database's address: its public key, which peers use to find and verify it.

Examples:
  ddcp init                       new repository with a new database ./ddcp.db
  ddcp init --db ~/app/data.db    make an app's existing database synchronizable`,
    )
    .action(async (opts: { db?: string; json?: boolean }) => {
      const repo = await Repository.init(ctx.dir(), { db: opts.db });
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
