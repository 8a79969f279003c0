/**
 * The CLI as a new user meets it (audit of the front door): every mistake on the command line is
 * answered with one line naming the cause and the documented exit code, and nothing is left behind.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ddcp, tempDir } from './support/cli.ts';

/** Asserts a failure: exit `code`, nothing on standard output, exactly one `ddcp: error:` line matching `line`. */
function refused(r: { code: number; stdout: string; stderr: string }, code: number, line: RegExp): void {
  assert.equal(r.code, code, r.stderr);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /^ddcp: error: [^\n]*\n$/, `one line: ${JSON.stringify(r.stderr)}`);
  assert.match(r.stderr, line);
}

describe('CLI front door', () => {
  it('a mistyped command or option is one line with the suggestion, exit 2', () => {
    const dir = tempDir();
    refused(ddcp(dir, ['stauts']), 2, /unknown command 'stauts' \(Did you mean status\?\)/);
    refused(ddcp(dir, ['status', '--jsn']), 2, /unknown option '--jsn' \(Did you mean --json\?\)/);
    refused(ddcp(dir, ['hub', 'serv']), 2, /unknown command 'serv' \(Did you mean serve\?\)/);
  });
});
