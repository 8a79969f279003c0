/**
 * A merge checks each change with checkChangeAfter, which skips the checks of a key or site id
 * object the change before passed (change.ts): it must refuse exactly what checkChange refuses. The
 * one object that passes in one change and not in the next is the all-zero site id, allowed only as
 * the origin of a revived row's sentinel: a cell reusing that very object must still be refused.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { checkChange, checkChangeAfter, type Change } from './change.ts';
import { ChangeError } from './errors.ts';
import { packColumns } from './pack.ts';
import { engineWithSite } from '../../test/support/fixed-site.ts';

const site = (n: number): Uint8Array => new Uint8Array(16).fill(n);
const pk = packColumns([1n]);

function change(over: Partial<Change>): Change {
  return { table: 't', pk, cid: 'a', val: 'x', colVersion: 1, dbVersion: 1, siteId: site(1), cl: 1, seq: 0, ...over };
}

/** The message checkChange throws for `c`, or undefined if it passes. */
function refusal(check: () => void): string | undefined {
  try {
    check();
    return undefined;
  } catch (err) {
    assert.ok(err instanceof ChangeError);
    return err.message;
  }
}

describe('checkChangeAfter', () => {
  it('refuses what checkChange refuses, whatever key and site id passed before', () => {
    const zero = new Uint8Array(16);
    const bad: Change[] = [
      change({ siteId: zero }),
      change({ siteId: zero, cid: '-1', val: null, colVersion: 1, cl: 1 }),
      change({ siteId: new Uint8Array(15) }),
      change({ pk: new Uint8Array(0) }),
      change({ cid: '' }),
      change({ cl: 0 }),
      change({ colVersion: -1 }),
      change({ cid: '-1', val: 'x', colVersion: 1, cl: 1 }),
    ];
    const good = change({ siteId: zero, cid: '-1', val: null, colVersion: 3, cl: 3 });
    assert.equal(refusal(() => checkChange(good)), undefined);
    for (const c of bad) {
      const expected = refusal(() => checkChange(c));
      assert.notEqual(expected, undefined);
      // Remembered objects other than the change's own: the same verdict.
      assert.equal(refusal(() => checkChangeAfter(c, packColumns([2n]), site(2))), expected);
      assert.equal(refusal(() => checkChangeAfter(c, undefined, undefined)), expected);
    }
  });

  it('a merge refuses a cell that reuses the zero site id object of a revived sentinel before it', () => {
    const { db, engine: e } = engineWithSite(site(9));
    db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY NOT NULL, a)');
    e.asCrr('t');
    const zero = new Uint8Array(16);
    // The sentinel at causal length 3 (a revival) may come from the unknown site; the cell after it may not.
    const sentinel = change({ siteId: zero, cid: '-1', val: null, colVersion: 3, cl: 3 });
    const cell = change({ siteId: zero, cid: 'a', val: 'x', colVersion: 1, cl: 3 });
    assert.throws(() => e.applyChanges([sentinel, cell]), (err: unknown) => err instanceof ChangeError && /change 2: .*site_id is all zero/.test(err.message));
    // The sentinel alone merges.
    assert.equal(e.applyChanges([sentinel]).applied, 1);
  });
});
