/**
 * Preloaded by `npm test` (`--import`), which hands it on to every test file's process: Node.js's
 * on-disk cache of compiled modules (type-stripped TypeScript included), shared by all of them and
 * by the `ddcp` processes they start (bin/ddcp.js enables the same cache), so each module of src/
 * and node_modules is compiled once per run rather than once per test file.
 */
import { enableCompileCache } from 'node:module';

enableCompileCache();
