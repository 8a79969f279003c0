/** Telling a running `ddcp serve` of the repository that its config changed, and saying what it did. */
import { statSync } from 'node:fs';
import { askServer, type ConfigChange, type Repository } from '../index.ts';
import type { Context } from './context.ts';

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

/** Which config file is in place (each write renames a new file into place). */
function stamp(repo: Repository): string {
  try {
    const st = statSync(repo.layout.config);
    return `${st.ino}:${st.mtimeMs}`;
  } catch {
    return '';
  }
}

/**
 * Runs `change` (which may write the config), then, if the config changed, asks the running serve
 * (if any) to apply it now — it also notices the change by itself — and prints what it did:
 * sessions cut, remotes no longer (or again) followed. The config is saved by then, so a serve that
 * doesn't answer is a warning, not a failure.
 */
export async function changeConfig(ctx: Context, repo: Repository, change: () => void): Promise<void> {
  const before = stamp(repo);
  change();
  if (stamp(repo) !== before) await tellServe(ctx, repo);
}

async function tellServe(ctx: Context, repo: Repository): Promise<void> {
  let change: ConfigChange | undefined;
  try {
    change = (await askServer(repo, { cmd: 'config-changed' })) as ConfigChange | undefined;
  } catch (err) {
    process.stderr.write(`ddcp: warning: the running serve did not apply the change now: ${(err as Error).message}\n`);
    return;
  }
  if (!change) return;
  for (const c of change.cut) ctx.out(`the running serve cut ${plural(c.sessions, 'open session')} of ${c.peer}`);
  for (const name of change.stopped) ctx.out(`the running serve stopped following ${name}`);
  for (const name of change.started) ctx.out(`the running serve follows ${name}`);
}
