/**
 * Bundles the `ddcp` command for the package with esbuild: `dist/cli/bundle/ddcp.js` (the command
 * line and the library code every command needs), one chunk per command and shared part, and the
 * shell's statement runner (`runner.js`, a process of its own). bin/ddcp.js loads `ddcp.js` instead
 * of dist/cli/main.js when it is there. A quick command then loads a few
 * files instead of ~100 modules of dist/ and node_modules — finding, reading and linking each one
 * was most of its start-up (docs/performance.md). dist/ keeps tsc's JavaScript and types: the library
 * and its subpaths are imported from there as before; this is only the command's own copy.
 *
 * The two small packages every command uses (commander, valibot) are bundled; the others (libp2p,
 * ws, postgres, …) stay imports of the installed packages, loaded only by the commands that go on the
 * network or serve. Node's built-in modules are taken with `process.getBuiltinModule`
 * rather than `import`: an ESM import of one builds a facade that reads every export — `node:fs`'s
 * streams and promises, `node:crypto`'s WebCrypto — which cost a quick command ~15 ms.
 *
 *   node scripts/build-cli.ts [OUTDIR]        # default dist/cli/bundle
 */
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Metafile, type Plugin } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Packages bundled into the command (small, and loaded by every command anyway). */
const BUNDLED = ['commander', 'valibot'];

/** Every other dependency stays an import of the installed package. */
function externals(): string[] {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  return Object.keys(pkg.dependencies)
    .filter((name) => !BUNDLED.includes(name))
    .flatMap((name) => [name, `${name}/*`]);
}

/**
 * Built-in modules a bundled package requires at load but uses only on a path ddcp never takes, each
 * as [package, module]: loaded on first use instead. commander's `node:child_process` (for
 * executable subcommands, which ddcp has none of) brought node:net, dgram and the streams with it:
 * ~2–3 ms of every command's start.
 */
const LAZY: [string, string][] = [['commander', 'node:child_process']];

/** `import … from 'node:x'` (or `'x'`) → the module object of `process.getBuiltinModule('node:x')` (see above). */
const builtins: Plugin = {
  name: 'builtins',
  setup(b) {
    const bare = new RegExp(`^(${builtinModules.map((m) => m.replace(/[/]/g, '\\/')).join('|')})$`);
    const namespace = (id: string, importer: string, kind: string): string => {
      if (LAZY.some(([pkg, m]) => m === id && importer.includes(`/node_modules/${pkg}/`))) return 'builtin-lazy';
      return kind === 'require-call' ? 'builtin' : 'builtin-esm';
    };
    b.onResolve({ filter: /^node:/ }, (args) => ({ path: args.path, namespace: namespace(args.path, args.importer, args.kind) }));
    b.onResolve({ filter: bare }, (args) => ({ path: `node:${args.path}`, namespace: namespace(`node:${args.path}`, args.importer, args.kind) }));
    b.onLoad({ filter: /.*/, namespace: 'builtin' }, (args) => ({ contents: `module.exports = process.getBuiltinModule(${JSON.stringify(args.path)});`, loader: 'js' }));
    b.onLoad({ filter: /.*/, namespace: 'builtin-esm' }, (args) => ({ contents: esmStub(args.path), loader: 'js' }));
    // Properties read through to the module, loaded on the first one. Only for a package's `require`
    // (commander's: CommonJS, so nothing copies or lists its exports at load).
    b.onLoad({ filter: /.*/, namespace: 'builtin-lazy' }, (args) => ({
      contents: `let m; module.exports = new Proxy({}, { get: (_, key) => (m ??= process.getBuiltinModule(${JSON.stringify(args.path)}))[key] });`,
      loader: 'js',
    }));
  },
};

/**
 * An ES module for `import … from 'node:x'`: the module's own data properties as named exports, each
 * read once when the bundle loads (the build drops those nothing imports). A CommonJS stub instead
 * (`module.exports = …`) is wrapped by esbuild in `__toESM` in every chunk module that imports it,
 * copying every export of node:fs, node:path … anew each time: ~30 copies at a command's start.
 * Accessors (`fs.promises`, `process.stdout`) are left out — reading one loads what the facade
 * avoids —, so importing one by name fails the build; take it from the default import instead.
 */
function esmStub(id: string): string {
  const mod = process.getBuiltinModule(id) as Record<string, unknown>;
  const lines = [`const m = process.getBuiltinModule(${JSON.stringify(id)});`, 'export default m;'];
  for (const [name, d] of Object.entries(Object.getOwnPropertyDescriptors(mod))) {
    if ('value' in d && /^[A-Za-z_$][\w$]*$/.test(name) && !RESERVED.has(name)) lines.push(`export const ${name} = m.${name};`);
  }
  return lines.join('\n');
}

const RESERVED = new Set(['default', 'delete', 'new', 'function', 'class', 'const', 'let', 'var', 'import', 'export', 'return', 'if', 'else', 'for', 'while', 'do', 'switch', 'case', 'break', 'continue', 'throw', 'try', 'catch', 'finally', 'typeof', 'instanceof', 'in', 'of', 'void', 'with', 'yield', 'await', 'this', 'super', 'null', 'true', 'false', 'enum', 'debugger', 'static', 'implements', 'interface', 'package', 'private', 'protected', 'public', 'arguments', 'eval']);

export interface CliBuild {
  outdir: string;
  /** The files written, with their sizes in bytes. */
  outputs: Record<string, number>;
}

/** Bundles the command into `outdir` (emptied first). */
export async function buildCli(outdir: string): Promise<CliBuild> {
  rmSync(outdir, { recursive: true, force: true });
  mkdirSync(outdir, { recursive: true });
  const result = await build({
    absWorkingDir: root,
    // The shell's statement runner is a process of its own, started from the file beside its client.
    entryPoints: { ddcp: 'src/cli/main.ts', runner: 'src/cli/shell/runner.ts' },
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node22',
    outdir,
    chunkNames: '[name]-[hash]',
    external: externals(),
    plugins: [builtins],
    metafile: true,
    logLevel: 'warning',
    legalComments: 'inline',
    // Fewer bytes for Node to read, hash (compile cache) and decode at every start: ~600 → ~420 KB
    // for `ddcp apply`, 1–4 ms CPU. Names are kept (no minifyIdentifiers); with DDCP_DEBUG,
    // bin/ddcp.js turns source maps on so a stack names src/ files and lines.
    minifyWhitespace: true,
    minifySyntax: true,
    sourcemap: 'linked',
  });
  const meta: Metafile = result.metafile;
  const outputs: Record<string, number> = {};
  for (const [file, o] of Object.entries(meta.outputs)) outputs[file] = o.bytes;
  return { outdir, outputs };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const out = await buildCli(process.argv[2] ?? join(root, 'dist', 'cli', 'bundle'));
  process.stdout.write(`ddcp command bundle: ${Object.keys(out.outputs).length} files in ${out.outdir}\n`);
}
