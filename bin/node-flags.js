// Node.js flags for ddcp's heavy commands. A small young generation keeps peak memory flat however
// many changes stream through (V8 otherwise grows it to tens of MB before collecting).
export const HEAVY_COMMANDS = new Set(['fetch', 'merge', 'pull', 'apply', 'bundle', 'serve']);
export const MEMORY_FLAGS = ['--max-semi-space-size=4'];
