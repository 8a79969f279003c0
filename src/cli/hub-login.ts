/** `ddcp hub login|logout|share`: a repository's side of a hub — its token, and sharing a database it owns. */
import type { Command } from 'commander';
import { readFromSpecs, writeFromSpecs } from '../index.ts';
import { CliError, ExitCode } from './exit.ts';
import type { Context } from './context.ts';
import { specs } from './allow.ts';

/**
 * The token from standard input: piped in (so it stays out of the shell history), all of it; at a
 * terminal, asked for on standard error and read as one line (waiting silently for Ctrl-D looked hung).
 */
async function tokenFromStdin(origin: string): Promise<string> {
  if (process.stdin.isTTY) {
    const { createInterface } = await import('node:readline/promises');
    const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
    try {
      return (await rl.question(`token for ${origin}: `)).trim();
    } finally {
      rl.close();
    }
  }
  let text = '';
  for await (const chunk of process.stdin) text += String(chunk);
  return text.trim();
}

/** A hub URL (ws://HOST:PORT, with or without a database) → its origin. */
function originOf(url: string): string {
  if (!/^wss?:\/\/[^/\s]+/i.test(url)) throw new CliError(`${url} is not a hub URL: expected ws://HOST:PORT or wss://HOST`, ExitCode.Usage);
  const u = new URL(url);
  return `${u.protocol}//${u.host}`;
}

export function registerLogin(hub: Command, ctx: Context): void {
  hub
    .command('login')
    .description("store a user token for a hub in this repository (.ddcp/hub-tokens.json, mode 0600)")
    .argument('<url>', 'the hub: ws://HOST:PORT (or a database URL on it)')
    .option('--token <token>', 'the token (default: read from standard input)')
    .addHelpText('after', `
The token is a user token your app's backend got from the hub for you (or a JWT of the app's
identity provider). fetch, pull, push and serve use it for every database on that hub; the
environment variable DDCP_HUB_TOKEN, when set, is used instead at one hub: the one
DDCP_HUB_TOKEN_HUB names (ws://HOST:PORT), or without it the hub when all hub remotes are on it.

Examples:
  ddcp hub login ws://127.0.0.1:7420 --token eyJ…
  my-backend token-for alice | ddcp hub login wss://hub.example.com`)
    .action(async (url: string, opts: { token?: string }) => {
      const origin = originOf(url);
      const repo = ctx.repo(); // outside a repository, say so before waiting for a token
      const token = opts.token ?? (await tokenFromStdin(origin));
      if (!token || /\s/.test(token)) throw new CliError('no token given (use --token TOKEN or pipe it in); a token has no spaces', ExitCode.Usage);
      repo.hubTokens.set(origin, token);
      ctx.out(`stored a token for ${origin}`);
    });

  hub
    .command('logout')
    .description('forget the token stored for a hub')
    .argument('<url>', 'the hub: ws://HOST:PORT')
    .action((url: string) => {
      const origin = originOf(url);
      const tokens = ctx.repo().hubTokens;
      const stored = tokens.get(origin, {}) !== undefined; // what is stored, not DDCP_HUB_TOKEN
      tokens.set(origin, undefined);
      ctx.out(stored ? `forgot the token for ${origin}` : `no token was stored for ${origin}`);
    });

  hub
    .command('share')
    .description('share a database you own on a hub with another user of your app (or stop sharing)')
    .argument('<database-url>', 'the database: ws://HOST:PORT/<db>')
    .argument('<user>', 'the user id to share with')
    .option('--read <spec...>', "what the user may read: '*' (default), 'none', or TABLE[(cols)] [WHERE expr]")
    .option('--write <spec...>', "what the user may write: 'none' (default), '*', or TABLE[(cols)] [WHERE expr]; :peer is the user id")
    .option('--remove', 'stop sharing with the user')
    .addHelpText('after', `
Examples:
  ddcp hub share ws://127.0.0.1:7420/team bob --write '*'
  ddcp hub share ws://127.0.0.1:7420/team carol --write "notes WHERE owner = :peer"
  ddcp hub share ws://127.0.0.1:7420/team carol --remove`)
    .action(async (dbUrl: string, user: string, opts: { read?: string[]; write?: string[]; remove?: boolean }) => {
      const origin = originOf(dbUrl);
      const db = new URL(dbUrl).pathname.slice(1);
      if (!db) throw new CliError(`${dbUrl} names no database: expected ws://HOST:PORT/<db>`, ExitCode.Usage);
      const policy = opts.remove ? undefined : { read: specs(opts.read ?? ['*'], readFromSpecs), write: specs(opts.write ?? ['none'], writeFromSpecs) };
      const tokens = ctx.repo().hubTokens;
      const token = tokens.get(origin);
      const why = token ? undefined : tokens.withheld(origin);
      if (!token) throw new CliError(`no token for ${origin}: run ddcp hub login ${origin} (or set DDCP_HUB_TOKEN)${why ? `; ${why}` : ''}`, ExitCode.Failure);
      const http = origin.replace(/^ws/i, 'http');
      let res: Response;
      try {
        res = await fetch(`${http}/v1/databases/${encodeURIComponent(db)}/shares/${encodeURIComponent(user)}`, {
          method: policy ? 'PUT' : 'DELETE',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          ...(policy ? { body: JSON.stringify(policy) } : {}),
        });
      } catch (err) {
        throw new CliError(`cannot reach ${origin}: ${fetchFailure(err)}`, ExitCode.Failure, { cause: err });
      }
      if (!res.ok) {
        const body = (await res.json().catch(() => ({}))) as { message?: string };
        throw new CliError(`${origin} refused: ${body.message ?? res.statusText} (HTTP ${res.status})`, ExitCode.Failure);
      }
      ctx.out(policy ? `shared ${db} with ${user}` : `stopped sharing ${db} with ${user}`);
    });
}

/**
 * Why a fetch failed: its message is only "fetch failed"; the reason (`connect ECONNREFUSED …`,
 * `getaddrinfo ENOTFOUND …`) is its cause, or the first of an AggregateError's (one per address tried).
 */
function fetchFailure(err: unknown): string {
  let reason: unknown = err instanceof Error && err.cause !== undefined ? err.cause : err;
  if (reason instanceof AggregateError && reason.errors.length > 0) reason = reason.errors[0];
  return reason instanceof Error ? reason.message || ((reason as NodeJS.ErrnoException).code ?? String(reason)) : String(reason);
}
