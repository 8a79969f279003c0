/** `ddcp hub …`: the sync hub's commands (each group in its own module). */
import type { Command } from 'commander';
import type { Context } from './context.ts';
import { registerAdmin } from './hub-admin.ts';
import { registerCredentials } from './hub-credentials.ts';
import { registerLogin } from './hub-login.ts';
import { registerServe } from './hub-serve.ts';

export function register(program: Command, ctx: Context): void {
  const hub = program.command('hub').description('the sync hub: an always-on server over WebSocket, and its credentials');
  registerServe(hub, ctx);
  registerCredentials(hub, ctx);
  registerLogin(hub, ctx);
  registerAdmin(hub, ctx);
}
