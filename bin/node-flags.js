// The Node.js flags ddcp runs with, for code that starts ddcp-like processes itself (the benchmarks).
// One source of truth: bin/ddcp, the command, which must not need Node.js to know them.
import { readFileSync } from 'node:fs';

const script = readFileSync(new URL('./ddcp', import.meta.url), 'utf8');
const line = /^DDCP_NODE_FLAGS='([^']*)'$/m.exec(script);
if (!line) throw new Error("bin/ddcp has no DDCP_NODE_FLAGS='…' line");

/** A bounded young generation (16 MB semi-spaces, see bin/ddcp) keeps peak memory flat however many changes stream through. */
export const MEMORY_FLAGS = line[1].split(/\s+/).filter(Boolean);

const serveLine = /^DDCP_SERVE_FLAGS='([^']*)'$/m.exec(script);
if (!serveLine) throw new Error("bin/ddcp has no DDCP_SERVE_FLAGS='…' line");

/** Added for the commands that serve (`ddcp serve`, `ddcp hub serve`): an early first full collection (see bin/ddcp). */
export const SERVE_FLAGS = serveLine[1].split(/\s+/).filter(Boolean);

const pullLine = /^DDCP_PULL_FLAGS='([^']*)'$/m.exec(script);
if (!pullLine) throw new Error("bin/ddcp has no DDCP_PULL_FLAGS='…' line");

/** Added (after MEMORY_FLAGS, overriding any of the same name) for the commands that pull once (`ddcp fetch`, `ddcp pull`): smaller semi-spaces, no allocation-site pretenuring (see bin/ddcp). */
export const PULL_FLAGS = pullLine[1].split(/\s+/).filter(Boolean);
