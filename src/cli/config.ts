/** `ddcp config bootstrap add|remove|list`, `ddcp config mdns [on|off]`: network settings in .ddcp/config.json. */
import type { Command } from 'commander';
import { CliError, ExitCode } from './exit.ts';
import { toJson } from './format.ts';
import type { Context } from './context.ts';

/** A bootstrap address given on the command line, checked: bad input is a usage error. */
async function bootstrapArg(address: string): Promise<string> {
  const { checkPeerAddress, P2pAddressError } = await import('../peer/index.ts'); // loaded only when needed
  try {
    checkPeerAddress(address, 'bootstrap peer');
  } catch (err) {
    if (err instanceof P2pAddressError) throw new CliError(err.message, ExitCode.Usage);
    throw err;
  }
  return address;
}

export function register(program: Command, ctx: Context): void {
  const config = program
    .command('config')
    .description('network settings of this repository: DHT bootstrap peers, mDNS')
    .addHelpText('after', `
Kept in .ddcp/config.json ("bootstrap", "mdns"; "listen" for serve's listen addresses).

Examples:
  ddcp config bootstrap add /ip4/192.0.2.7/tcp/4001/p2p/12D3KooWPX8CPSfyUAQs89e1XoMPenW7kYCty1ovA3JyefsXtmH4
  ddcp config bootstrap list
  ddcp config mdns off`);

  const bootstrap = config
    .command('bootstrap')
    .description('DHT bootstrap peers: where serve, fetch and pull start looking for databases known only by address')
    .addHelpText('after', `
A bootstrap peer is any reachable libp2p node of ddcp's DHT — usually another 'ddcp serve'.
Its multiaddr must end in /p2p/<its address>.

Examples:
  ddcp config bootstrap add /ip4/192.0.2.7/tcp/4001/p2p/12D3KooWPX8CPSfyUAQs89e1XoMPenW7kYCty1ovA3JyefsXtmH4
  ddcp config bootstrap remove /ip4/192.0.2.7/tcp/4001/p2p/12D3KooWPX8CPSfyUAQs89e1XoMPenW7kYCty1ovA3JyefsXtmH4
  ddcp config bootstrap list --json`);
  bootstrap
    .command('add')
    .description('add a bootstrap peer')
    .argument('<multiaddr>', 'its multiaddr, ending in /p2p/<address>')
    .action(async (address: string) => {
      const repo = ctx.repo();
      await bootstrapArg(address);
      ctx.out(repo.addBootstrap(address) ? `added bootstrap peer ${address}` : `bootstrap peer ${address} was already there`);
    });
  bootstrap
    .command('remove')
    .alias('rm')
    .description('remove a bootstrap peer')
    .argument('<multiaddr>')
    .action((address: string) => {
      const repo = ctx.repo();
      if (!repo.removeBootstrap(address)) throw new CliError(`${address} is not a bootstrap peer; see 'ddcp config bootstrap list'`);
      ctx.out(`removed bootstrap peer ${address}`);
    });
  bootstrap
    .command('list')
    .description('list the bootstrap peers')
    .option('--json', 'print a JSON array')
    .action((opts: { json?: boolean }) => {
      const list = ctx.repo().config.bootstrap ?? [];
      if (opts.json) ctx.out(toJson(list));
      else for (const a of list) ctx.out(a);
    });

  config
    .command('mdns')
    .description('show, or turn on or off, discovery of peers on the local network (multicast DNS)')
    .argument('[state]', 'on or off')
    .addHelpText('after', `
On by default. Off: serve, fetch and pull find databases known only by address through the DHT's
bootstrap peers alone ('serve --no-mdns' turns it off for one run).

Examples:
  ddcp config mdns
  ddcp config mdns off`)
    .action((state: string | undefined) => {
      const repo = ctx.repo();
      if (state === undefined) {
        ctx.out(repo.config.mdns === false ? 'off' : 'on');
        return;
      }
      if (state !== 'on' && state !== 'off') throw new CliError(`mdns takes "on" or "off", not "${state}"`, ExitCode.Usage);
      repo.setMdns(state === 'on');
      ctx.out(`mdns ${state}`);
    });
}
