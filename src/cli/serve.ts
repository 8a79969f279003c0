/** `ddcp serve`: publish the database on the p2p network, follow remotes, push changes live. */
import type { Command } from 'commander';
import type { Context } from './context.ts';
import { CliError, ExitCode, outliveStdout } from './exit.ts';

export function register(program: Command, ctx: Context): void {
  program
    .command('serve')
    .description('publish this database on the p2p network, follow its remotes and push changes live')
    .option('--listen <multiaddr...>', 'addresses to listen on (default: the config\'s "listen", else where the last serve listened, else all interfaces on random TCP and WebSocket ports)')
    .option('--public', 'answer any peer that knows the address (default: only allowed peers and remotes)')
    .option('--bootstrap <multiaddr...>', 'DHT bootstrap peers (multiaddrs ending in /p2p/<address>)')
    .option('--no-mdns', 'do not discover peers on the local network (also: ddcp config mdns off)')
    .addHelpText('after', `
Runs until stopped (Ctrl-C or SIGTERM). Changes committed to the database by any program reach
following peers within a second; changes from remotes are merged as they arrive.
Peers may fetch only if allowed ('ddcp allow ADDRESS') or added as a remote, unless --public.
Without --listen it listens where it did last time (.ddcp/listen.json), so multiaddrs given to
peers stay valid; if that port is taken now, a random one is used and a warning says so.
The banner (serving, address, listening, allowed) comes first on standard output; log lines follow.

Examples:
  ddcp serve
  ddcp serve --listen /ip4/0.0.0.0/tcp/4001 --public`)
    .action(async (opts: { listen?: string[]; public?: boolean; bootstrap?: string[]; mdns: boolean }) => {
      const repo = ctx.repo();
      // Listen for SIGINT/SIGTERM before starting: a signal that arrives while the node starts (a
      // supervisor stopping us at once) must still stop it cleanly, not kill it mid-start.
      const stopped = new Promise<void>((resolve) => {
        process.once('SIGINT', () => resolve());
        process.once('SIGTERM', () => resolve());
      });
      const { Server, checkListenAddress, checkPeerAddress, P2pAddressError } = await import('../peer/index.ts'); // the network stack, only for serve
      try {
        for (const address of opts.listen ?? []) checkListenAddress(address);
        for (const address of opts.bootstrap ?? []) checkPeerAddress(address, 'bootstrap address');
      } catch (err) {
        if (err instanceof P2pAddressError) throw new CliError(err.message, ExitCode.Usage); // a bad command line
        throw err;
      }
      const server = await Server.start(repo, {
        listen: opts.listen,
        public: opts.public,
        bootstrap: opts.bootstrap,
        mdns: opts.mdns === false ? false : undefined, // else the config decides
        log: (line) => process.stderr.write(`${new Date().toISOString()} ${line}\n`),
        // printed before the server serves or follows anything, so before any log line
        onListening: (s) => {
          outliveStdout();
          ctx.out(`serving ${repo.dbPath}`);
          ctx.out(`address ${s.address}`);
          for (const a of s.addresses()) ctx.out(`listening ${a}`);
          ctx.out(opts.public ? 'open to any peer (--public)' : `allowed: ${[...repo.allowed(), ...repo.remotes().map((r) => r.name)].join(', ') || 'nobody yet (ddcp allow ADDRESS)'}`);
        },
      });
      await stopped;
      process.stderr.write('stopping\n');
      await server.stop();
    });
}
