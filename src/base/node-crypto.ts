/**
 * node:crypto, looked up when first needed rather than imported: loading it (and the streams it
 * pulls in) costs ~4 ms of every command's start, and most commands never hash, sign or verify. For
 * Node-only modules (the repository, bundles); shared code that also runs in a browser uses
 * base/portable.ts.
 */
export function nodeCrypto(): typeof import('node:crypto') {
  return process.getBuiltinModule('node:crypto');
}
