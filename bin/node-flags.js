// Node.js flags ddcp runs with (also in bin/ddcp.js's shebang). A small young generation keeps
// peak memory flat however many changes stream through (V8 otherwise grows it to tens of MB
// before collecting).
export const MEMORY_FLAGS = ['--max-semi-space-size=4'];
