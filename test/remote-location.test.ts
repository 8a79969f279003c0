/** Where a remote given as a relative path points, from the library (the CLI passes its folder). */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Repository } from '../src/index.ts';
import { tempDir } from './support/cli.ts';

describe('Repository.addRemote with a relative path', () => {
  it("resolves it against the repository's folder, not the process's working directory", async () => {
    const dir = tempDir();
    const alice = await Repository.init(join(dir, 'alice'));
    const bob = await Repository.init(join(dir, 'bob'));
    try {
      assert.notEqual(process.cwd(), join(dir, 'bob'));
      assert.equal(bob.addRemote('alice', '../alice').location, join(dir, 'alice'));
      // an explicit base still wins (what `ddcp -C DIR remote add` passes)
      assert.equal(bob.addRemote('again', 'alice', dir).location, join(dir, 'alice'));
      await bob.pull('alice');
    } finally {
      alice.close();
      bob.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
