/**
 * Preloaded with `node --import` to record every module a process loads: on exit, their URLs go to
 * the file named by DDCP_TRACE_MODULES, one a line.
 */
import { writeFileSync } from 'node:fs';
import { registerHooks } from 'node:module';

const urls = new Set<string>();
registerHooks({
  resolve(specifier, context, nextResolve) {
    const r = nextResolve(specifier, context);
    urls.add(r.url);
    return r;
  },
});
process.on('exit', () => writeFileSync(process.env.DDCP_TRACE_MODULES!, [...urls].join('\n') + '\n'));
