/** Counting this process's open file handles (Linux `/proc`): what a hub's open databases hold. */
import { readdirSync, readlinkSync } from 'node:fs';

/** This process's open file handles on files under `dir`. */
export function handlesUnder(dir: string): number {
  let n = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`).startsWith(dir)) n++;
    } catch {
      // closed meanwhile
    }
  }
  return n;
}
