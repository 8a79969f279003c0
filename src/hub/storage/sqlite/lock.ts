/**
 * One hub per embedded data folder: `ddcp hub serve --data DIR` holds `DIR/hub.lock` (its pid) while
 * it runs. Two hubs on one folder would each cache what they serve (feeds, tails, staged pushes) and
 * never hear of the other's merges, so a second one is refused in one line naming the first's pid.
 * A lock left by a hub that died (kill -9) names a process that no longer runs: it is taken over.
 */
import { readFileSync, unlinkSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { HubStoreError } from '../errors.ts';

/** The lock file in a hub's data folder. */
export const LOCK_FILE = 'hub.lock';

/** Another running hub serves the data folder. */
export class DataFolderLockedError extends HubStoreError {
  override name = 'DataFolderLockedError';
  readonly pid: number;
  constructor(dir: string, pid: number) {
    super(`another hub (pid ${pid}) is serving ${dir}: stop it first, or serve another --data folder (if no hub runs, remove ${join(dir, LOCK_FILE)})`);
    this.pid = pid;
  }
}

/** A held lock: release it when the hub stops. */
export interface DataFolderLock {
  readonly path: string;
  release(): void;
}

/** Whether a process with this pid runs (one of another user's counts: it is not ours to signal). */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function holder(path: string): number | undefined {
  try {
    const pid = Number(readFileSync(path, 'utf8').trim());
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined; // gone meanwhile, or unreadable: treated as stale
  }
}

/**
 * Takes the data folder `dir` (creating it) for this process. Throws {@link DataFolderLockedError}
 * if a running hub holds it.
 */
export function lockDataFolder(dir: string): DataFolderLock {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, LOCK_FILE);
  const mine = `${process.pid}\n`;
  for (let attempt = 0; ; attempt++) {
    try {
      writeFileSync(path, mine, { flag: 'wx', mode: 0o600 }); // created only if absent: one winner
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new HubStoreError(`cannot lock ${dir}: ${(err as Error).message}`, { cause: err });
      const pid = holder(path);
      // (our own pid: a hub restarted under the same pid, as pid 1 in a container, left it)
      if (pid !== undefined && pid !== process.pid && running(pid)) throw new DataFolderLockedError(dir, pid);
      if (attempt > 0) throw new HubStoreError(`cannot lock ${dir}: ${path} keeps coming back`);
      try {
        unlinkSync(path); // stale: its hub is gone
      } catch {
        // another starter removed it first: try again
      }
    }
  }
  let held = true;
  return {
    path,
    release: () => {
      if (!held) return;
      held = false;
      try {
        if (readFileSync(path, 'utf8') === mine) unlinkSync(path);
      } catch {
        // already gone
      }
    },
  };
}
