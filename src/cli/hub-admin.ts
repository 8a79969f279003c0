/** `ddcp hub admin-token create|list|revoke`: the hub operator's tokens for the inspector at /ui. */
import type { Command } from 'commander';
import { AdminAccess, checkAdminTokenName, openAdminStore } from '../hub/index.ts';
import { connecting, storageOf, type StorageOptions } from './hub-storage.ts';
import { toJson } from './format.ts';
import type { Context } from './context.ts';

function storageOptions(cmd: Command): Command {
  return cmd
    .option('--data <dir>', "the hub's data folder (default: ./hub, as for hub serve)")
    .option('--database-url <url>', "the hub's PostgreSQL (postgres://…)")
    .option('--schema <name>', 'with --database-url: the schema of the hub tables (default: ddcp_hub)');
}

/** Runs `fn` with the admin tokens of the hub's storage open, and closes them. */
async function withAdmins<T>(ctx: Context, opts: StorageOptions, create: boolean, fn: (admins: AdminAccess) => Promise<T>): Promise<T> {
  const storage = storageOf(ctx, opts, create);
  const store = await connecting(storage.databaseUrl, () => openAdminStore(storage));
  try {
    return await fn(new AdminAccess({ store }));
  } finally {
    await store.close();
  }
}

const iso = (ms: number): string => new Date(ms).toISOString();

/** Adds `admin-token` to the `hub` command. */
export function registerAdmin(hub: Command, ctx: Context): void {
  const admin = hub
    .command('admin-token')
    .description("the hub operator's tokens for the inspector at http://HOST:PORT/ui: create (shown once), list, revoke")
    .addHelpText('after', `
The inspector (databases, users and their clients, live changes, conflicts, metrics) asks for an
admin token at its login form and keeps a session cookie for 8 hours. Only the token's hash is
stored (in the data folder's auth.db, or in PostgreSQL beside the hub's tables, so every hub process
on that storage accepts it); revoking it ends its sessions at their next request.

Examples:
  ddcp hub admin-token create --name ops            (in ./hub, as ddcp hub serve)
  ddcp hub admin-token list --database-url postgres://127.0.0.1/hub
  ddcp hub admin-token revoke 3f9c0a1b2c3d4e5f`);

  storageOptions(admin.command('create'))
    .description('create an admin token; it is printed only this once')
    .requiredOption('--name <label>', 'who or what holds it (letters, digits, . _ @ -)')
    .option('--json', 'print {id, name, token} as JSON')
    .action(async (opts: StorageOptions & { name: string; json?: boolean }) => {
      checkAdminTokenName(opts.name); // before the storage is opened (and, the first time, made)
      const made = await withAdmins(ctx, opts, true, (admins) => admins.create(opts.name));
      if (opts.json) return ctx.out(toJson(made));
      ctx.out(`created admin token ${made.id} (${made.name})`);
      ctx.out(`  token: ${made.token}`);
      ctx.out('It is shown only now: paste it into the login form at http://HOST:PORT/ui.');
    });

  storageOptions(admin.command('list'))
    .description('list admin tokens (never the tokens themselves): id, name, created, revoked')
    .option('--json', 'print a JSON array')
    .action(async (opts: StorageOptions & { json?: boolean }) => {
      const list = await withAdmins(ctx, opts, false, (admins) => admins.list());
      if (opts.json) return ctx.out(toJson(list.map((t) => ({ id: t.id, name: t.name, created_at: iso(t.createdAt), revoked_at: t.revokedAt === undefined ? null : iso(t.revokedAt) }))));
      for (const t of list) ctx.out(`${t.id}\t${t.name}\tcreated ${iso(t.createdAt)}\t${t.revokedAt === undefined ? 'active' : `revoked ${iso(t.revokedAt)}`}`);
    });

  storageOptions(admin.command('revoke'))
    .description('revoke an admin token by id: its inspector sessions end at their next request')
    .argument('<id>', 'the token id (16 hex digits, as list shows)')
    .action(async (id: string, opts: StorageOptions) => {
      await withAdmins(ctx, opts, false, (admins) => admins.revoke(id));
      ctx.out(`revoked admin token ${id}`);
    });
}
