/** `ddcp hub credentials create|list|revoke`: an app's API keys on a hub's storage. */
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { checkAppName, checkIdentityProvider, Credentials, openAuthStore, openHubAuth, MASTER_KEY_ENV, type HubAuthStorage, type IdentityProvider } from '../hub/index.ts';
import { CliError, ExitCode } from './exit.ts';
import { connecting, storageOf, type StorageOptions } from './hub-storage.ts';
import { toJson } from './format.ts';
import type { Context } from './context.ts';

/** The `--data DIR | --database-url URL` every credentials command takes. */
function storageOptions(cmd: Command): Command {
  return cmd
    .option('--data <dir>', "the hub's data folder (embedded storage; holds the master key unless $" + MASTER_KEY_ENV + " is set; default ./hub, as for hub serve)")
    .option('--database-url <url>', 'the hub\'s PostgreSQL (postgres://…); the master key then comes from $' + MASTER_KEY_ENV)
    .option('--schema <name>', 'with --database-url: the schema of the auth tables (default: ddcp_hub)');
}

/**
 * Runs `fn` with the hub's credentials open, and closes them. Only `create` needs the master key
 * (to seal the secret): listing and revoking work without it.
 */
async function withCredentials<T>(storage: HubAuthStorage, fn: (credentials: Credentials) => Promise<T>): Promise<T> {
  if (storage.create) {
    const opened = await connecting(storage.databaseUrl, () => openHubAuth(storage));
    try {
      return await fn(opened.auth.credentials);
    } finally {
      await opened.close();
    }
  }
  const store = await connecting(storage.databaseUrl, () => openAuthStore(storage));
  try {
    return await fn(new Credentials(store));
  } finally {
    await store.close();
  }
}

const iso = (ms: number): string => new Date(ms).toISOString();

/** Adds `credentials` to the `hub` command. */
export function registerCredentials(hub: Command, ctx: Context): void {
  const credentials = hub
    .command('credentials')
    .description("an app's API keys: create (key and secret shown once), list, revoke")
    .addHelpText('after', `
An app's trusted backend signs admin calls with its key and secret (HMAC-SHA256); end users never
hold the secret: the backend asks the hub for short-lived user tokens, or enrolls their devices.

Examples:
  ddcp hub credentials create --name notes            (in ./hub, as ddcp hub serve)
  ddcp hub credentials list --data /var/lib/ddcp-hub
  ddcp hub credentials revoke ddcpk_…
  ${MASTER_KEY_ENV}=… ddcp hub credentials create --name notes --database-url postgres://127.0.0.1/hub`);

  storageOptions(credentials.command('create'))
    .description('create an API key and secret for an app; the secret is printed only this once')
    .requiredOption('--name <app>', 'the app (letters, digits, . _ -)')
    .option('--jwt-issuer <iss>', "trust JWTs of the app's own identity provider with this issuer")
    .option('--jwks-url <url>', "with --jwt-issuer: the provider's key set (JWKS)")
    .option('--jwt-public-key <file>', "with --jwt-issuer: the provider's public key (PEM) instead of a JWKS")
    .option('--jwt-audience <aud>', 'with --jwt-issuer: the audience its tokens must name')
    .option('--json', 'print {app, key, secret} as JSON')
    .action(async (opts: StorageOptions & { name: string; jwtIssuer?: string; jwksUrl?: string; jwtPublicKey?: string; jwtAudience?: string; json?: boolean }) => {
      const idp = identityProvider(ctx, opts);
      // checked before the storage is opened (and, the first time, made): bad input leaves nothing behind
      checkAppName(opts.name);
      if (idp) checkIdentityProvider(idp);
      const made = await withCredentials(storageOf(ctx, opts, true), (credentials) => credentials.create(opts.name, idp ? { idp } : {}));
      if (opts.json) return ctx.out(toJson(made));
      ctx.out(`created credentials for app ${made.app}`);
      ctx.out(`  API key: ${made.key}`);
      ctx.out(`  secret:  ${made.secret}`);
      ctx.out('The secret is shown only now: keep it in the app\'s backend, never in its clients.');
    });

  storageOptions(credentials.command('list'))
    .description('list API keys (never secrets): key, app, created, revoked')
    .option('--json', 'print a JSON array')
    .action(async (opts: StorageOptions & { json?: boolean }) => {
      const list = await withCredentials(storageOf(ctx, opts, false), (credentials) => credentials.list());
      if (opts.json) {
        return ctx.out(toJson(list.map((c) => ({ key: c.key, app: c.app, created_at: iso(c.createdAt), revoked_at: c.revokedAt === undefined ? null : iso(c.revokedAt), jwt_issuer: c.idp?.issuer ?? null }))));
      }
      for (const c of list) {
        const state = c.revokedAt === undefined ? 'active' : `revoked ${iso(c.revokedAt)}`;
        ctx.out(`${c.key}\t${c.app}\tcreated ${iso(c.createdAt)}\t${state}${c.idp ? `\tjwt ${c.idp.issuer}` : ''}`);
      }
    });

  storageOptions(credentials.command('revoke'))
    .description("revoke an API key, or every key of an app: open sessions it admitted end")
    .argument('<key-or-app>', 'an API key (ddcpk_…) or an app name')
    .action(async (target: string, opts: StorageOptions) => {
      const keys = await withCredentials(storageOf(ctx, opts, false), (credentials) => credentials.revoke(target));
      for (const key of keys) ctx.out(`revoked ${key}`);
    });
}

/** The identity provider the options describe, if any. */
function identityProvider(ctx: Context, opts: { jwtIssuer?: string; jwksUrl?: string; jwtPublicKey?: string; jwtAudience?: string }): IdentityProvider | undefined {
  if (opts.jwtIssuer === undefined) {
    if (opts.jwksUrl ?? opts.jwtPublicKey ?? opts.jwtAudience) throw new CliError('--jwks-url, --jwt-public-key and --jwt-audience go with --jwt-issuer', ExitCode.Usage);
    return undefined;
  }
  let publicKey: string | undefined;
  if (opts.jwtPublicKey !== undefined) {
    try {
      publicKey = readFileSync(resolve(ctx.dir(), opts.jwtPublicKey), 'utf8');
    } catch (cause) {
      throw new CliError(`cannot read the public key ${opts.jwtPublicKey}: ${(cause as Error).message}`, ExitCode.Failure, { cause });
    }
  }
  return {
    issuer: opts.jwtIssuer,
    ...(opts.jwtAudience !== undefined && { audience: opts.jwtAudience }),
    ...(opts.jwksUrl !== undefined && { jwksUrl: opts.jwksUrl }),
    ...(publicKey !== undefined && { publicKey }),
  };
}
