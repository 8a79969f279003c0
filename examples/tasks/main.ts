/**
 * An interactive terminal task manager on ddcp's JSON documents, syncing live with other instances.
 *
 *   node examples/tasks/main.ts DIR [--listen MULTIADDR]… [--peer ADDRESS]… [--token TOKEN] [--offline]
 *   node examples/tasks/main.ts DIR --address      prints this replica's address and exits
 *   node examples/tasks/main.ts --help             prints the usage
 *
 * DIR is a ddcp repository (created if missing). Each --peer is added as a remote and allowed to
 * read and write; both instances name each other and sync directly — or both name one database on
 * a hub (`--peer ws://HOST:PORT/DB --token USER_TOKEN`) and sync through it (see the README,
 * "Example: a task manager").
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import React from 'react';
import { render } from 'ink';
import { Repository } from '../../src/index.ts';
import { Documents } from '../../src/docs/index.ts';
import { addPeers, Sync } from './sync.ts';
import { App } from './ui.ts';

async function openOrInit(dir: string): Promise<Repository> {
  return existsSync(join(dir, '.ddcp', 'config.json')) ? Repository.open(dir) : await Repository.init(dir);
}

const USAGE = 'usage: node examples/tasks/main.ts DIR [--listen MULTIADDR]… [--peer ADDRESS | ws://HUB/DB]… [--token TOKEN] [--offline] [--address] [--author NAME]\n';

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      listen: { type: 'string', multiple: true },
      peer: { type: 'string', multiple: true },
      token: { type: 'string' },
      offline: { type: 'boolean', default: false },
      address: { type: 'boolean', default: false },
      author: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const dir = positionals[0];
  if (!dir || positionals.length > 1) {
    process.stderr.write(USAGE);
    return 2;
  }
  const repo = await openOrInit(dir);
  // Opened before any sync, so the document tables exist (as CRRs) when the first changes arrive.
  const docs = new Documents(repo.engine, values.author ? { author: values.author } : {});
  if (values.address) {
    process.stdout.write(`${repo.address}\n`);
    repo.close();
    return 0;
  }
  addPeers(repo, values.peer ?? [], values.token);

  // Changes merged by sync (pulled, or pushed to us), or written by another process (`ddcp doc …`
  // on the same folder), are noticed by the repository's feed; refresh() turns them into events.
  const feed = repo.feed();
  feed.start();
  feed.onChange(() => docs.refresh());
  const sync = new Sync(repo, values.listen ? { listen: values.listen } : {});
  sync.on('changes', () => docs.refresh());

  let quit!: () => void;
  const done = new Promise<void>((resolve) => (quit = resolve));
  const app = render(React.createElement(App, { docs, sync, dir, onQuit: quit }), { exitOnCtrlC: false });
  if (!values.offline) void sync.setOnline(true);
  await done;
  app.unmount();
  feed.stop();
  repo.close();
  return 0;
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`tasks: error: ${(err as Error).message}\n`);
  process.exitCode = 1;
}
