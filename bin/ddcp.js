// The JavaScript entry of the `ddcp` command; bin/ddcp picks the Node.js and starts this file with it
// (tests start it directly). Plain JavaScript any Node.js parses, so a Node.js that can't run ddcp
// gets a reason and exit code 70 rather than a syntax or link error.
// Node's modules by getBuiltinModule where there is one (Node 20.16+): an `import` of node:fs builds a
// facade that reads all its exports, loading its streams and promises, which a quick command never uses.
const builtin = async (id) => process.getBuiltinModule?.(id) ?? (await import(id));
const { existsSync } = await builtin('node:fs');
const { fileURLToPath } = await builtin('node:url');

const EXIT_CANNOT_RUN = 70; // as sysexits' EX_SOFTWARE: ddcp cannot run here at all

/** Prints `ddcp: error: …` and exits 70. */
function fail(message) {
  process.stderr.write(`ddcp: error: ${message}\n`);
  process.exit(EXIT_CANNOT_RUN);
}

const root = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');
const hint = `install ddcp with its optional dependencies (its Node.js 24 for Linux x64/arm64 and macOS x64), put Node.js 22.16+ or 24+ on PATH, or set DDCP_NODE to one`;

// A clone (or `npm link` of one) has src/ and runs the TypeScript; a package ships only dist/.
const fromSource = existsSync(new URL('../src/cli/main.ts', import.meta.url));
if (fromSource && !process.features.typescript) {
  fail(`running ddcp from its source (${root}) needs a Node.js that strips types (24); this is ${process.version} (${process.execPath}): run 'npm install' there (it brings Node.js 24), or set DDCP_NODE`);
}
const code = fromSource ? new URL('../src/', import.meta.url) : new URL('../dist/', import.meta.url);
const ext = fromSource ? 'ts' : 'js';
if (!existsSync(new URL(`cli/main.${ext}`, code))) fail(`ddcp's code is missing from ${root} (no src/ or dist/): reinstall it, or run 'npm run build' there`);

// Cache compiled code between runs: a CLI starts often. Node's default folder ($TMPDIR/node-compile-cache)
// belongs to whichever user made it first; if this user may not write there, use their own cache folder.
const { enableCompileCache, constants } = await builtin('node:module');
if (enableCompileCache && enableCompileCache().status === constants.compileCacheStatus.FAILED) {
  const { homedir } = await builtin('node:os');
  enableCompileCache(`${process.env.XDG_CACHE_HOME || `${homedir()}/.cache`}/ddcp/node-compile-cache`);
}
// Node 22 warns that node:sqlite is experimental.
process.removeAllListeners('warning');
process.on('warning', (w) => { if (w.name !== 'ExperimentalWarning') process.stderr.write(`${w.name}: ${w.message}\n`); });

// A package has the command bundled (scripts/build-cli.ts): a few files to load instead of ~100
// modules. Importing it runs the library's own check of node:sqlite (src/index.ts).
const bundle = fromSource ? undefined : new URL('cli/bundle/ddcp.js', code);
// The bundle is minified; its source maps (read only when asked) make DDCP_DEBUG's stacks name src/.
if (bundle && process.env.DDCP_DEBUG) process.setSourceMapsEnabled?.(true);
if (bundle && existsSync(bundle)) {
  let main;
  try {
    ({ main } = await import(bundle.href));
  } catch (err) {
    if (err?.code !== 'ERR_DDCP_NODE_SQLITE') throw err;
    fail(`ddcp needs Node.js 22.16+ or 24+ (for node:sqlite); it was started with ${process.version} (${process.execPath}): ${hint}`);
  }
  process.exitCode = await main(process.argv.slice(2));
} else {
  // node:sqlite first and alone: engine/sqlite checks that it has everything ddcp calls.
  try {
    const { nodeSqlite } = await import(new URL(`engine/sqlite.${ext}`, code).href);
    nodeSqlite(); // loaded on first use (the engine also runs on sqlite-wasm): check it now
  } catch (err) {
    if (err?.code !== 'ERR_DDCP_NODE_SQLITE') throw err;
    fail(`ddcp needs Node.js 22.16+ or 24+ (for node:sqlite); it was started with ${process.version} (${process.execPath}): ${hint}`);
  }

  const { main } = await import(new URL(`cli/main.${ext}`, code).href);
  process.exitCode = await main(process.argv.slice(2));
}
