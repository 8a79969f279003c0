/** `ddcp remote add|list|remove`. */
import type { Command } from 'commander';
import { toJson } from './format.ts';
import { askServer } from '../index.ts';
import type { Context } from './context.ts';
import { changeConfig } from './serving.ts';

export function register(program: Command, ctx: Context): void {
  /** Prints the remotes: name and location per line, or a JSON array. */
  const list = (opts: { json?: boolean }): void => {
    const remotes = ctx.repo().remoteStatus();
    if (opts.json) {
      ctx.out(toJson(remotes.map((r) => ({ name: r.name, location: r.location, site_id: r.siteId ?? null, fetched_version: r.fetchedVersion, staged: r.staged, fetched_at: r.fetchedAt ?? null }))));
      return;
    }
    for (const r of remotes) ctx.out(`${r.name}\t${r.location}`);
  };
  const remote = program
    .command('remote')
    .description('manage the repositories this one fetches from; alone, list them (like remote list)')
    .addHelpText('after', `
Examples:
  ddcp remote
  ddcp remote add bob ../bob
  ddcp remote add alice /ip4/192.168.1.20/tcp/4001/p2p/12D3KooWPX8CPSfyUAQs89e1XoMPenW7kYCty1ovA3JyefsXtmH4
  ddcp remote list --json
  ddcp remote remove bob`)
    // As with git: `ddcp remote` alone lists the remotes.
    .action(() => list({}));
  remote
    .command('add')
    .description('add a remote: a name and the location of another repository')
    .argument('<name>', 'a short name (letters, digits, . _ -)')
    .argument('<location>', 'where it is: a path, a peer address (12D3KooW…), a multiaddr (…/p2p/12D3KooW…) or a hub database (ws://HOST:PORT/DATABASE)')
    .addHelpText('after', `
LOCATION is one of:
  a path           another ddcp repository on this machine (relative to the current folder)
  a peer address   12D3KooW…, what 'ddcp init' printed there; found on the local network (mDNS)
                   or through the DHT bootstrap peers
  a multiaddr      ending in /p2p/12D3KooW…, e.g. /ip4/HOST/tcp/PORT/p2p/12D3KooW…, as
                   'ddcp serve' prints it: dialed directly
  a hub database   ws://HOST:PORT/DATABASE (or wss://…) on a 'ddcp hub serve'; authenticated with
                   the token of 'ddcp hub login' (or DDCP_HUB_TOKEN, for one hub: see
                   'ddcp hub login --help')

Examples:
  ddcp remote add alice ~/sync/alice
  ddcp remote add usb /media/usb/notes
  ddcp remote add phone 12D3KooWPX8CPSfyUAQs89e1XoMPenW7kYCty1ovA3JyefsXtmH4
  ddcp remote add office /ip4/192.168.1.20/tcp/4001/p2p/12D3KooWPX8CPSfyUAQs89e1XoMPenW7kYCty1ovA3JyefsXtmH4
  ddcp remote add origin ws://127.0.0.1:7420/notes`)
    .option('--no-check', 'add a multiaddr without trying to reach it (for a peer that is offline now)')
    .addHelpText('after', `
A multiaddr is tried first (a few seconds) and refused if nothing listens there, unless --no-check.
A bare address (12D3KooW…) is not dialed: that database may be offline now; fetch and pull look
for it (mDNS, DHT bootstrap peers) when they run. Nor is a hub database: it is made by its owner's
first push.`)
    .action(async (name: string, location: string, opts: { check: boolean }) => {
      const repo = ctx.repo();
      // A multiaddr is tried before it is added (a bare address may be offline; it is looked up when used).
      if (opts.check && location.startsWith('/') && repo.checkRemote(name, location, ctx.dir()).peer !== undefined) {
        await (await import('../peer/index.ts')).probe(location, name); // the network stack, only here
      }
      const r = repo.addRemote(name, location, ctx.dir());
      ctx.out(`added remote ${r.name} → ${r.location}`);
      // A running serve starts following it at once.
      if (await askServer(repo, { cmd: 'remote-added', remote: r.name })) ctx.out(`the running serve now follows ${r.name}`);
    });
  remote
    .command('list')
    .description('list remotes with their last fetched version and staged changes')
    .option('--json', 'print a JSON array')
    .addHelpText('after', `
Examples:
  ddcp remote list
  ddcp remote list --json`)
    .action(list);
  remote
    .command('remove')
    .alias('rm')
    .description('remove a remote and drop what was staged from it')
    .argument('<name>')
    .addHelpText('after', `
Example:
  ddcp remote remove alice`)
    .action(async (name: string) => {
      const repo = ctx.repo();
      // a running serve stops following it now
      await changeConfig(ctx, repo, () => {
        repo.removeRemote(name);
        ctx.out(`removed remote ${name}`);
      });
    });
}
