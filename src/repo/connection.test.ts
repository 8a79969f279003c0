import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ProtocolError } from '../sync/messages.ts';
import { ConnectionStates, stateAfter, type ConnectionChange } from './connection.ts';

describe('connection states', () => {
  it('follow the follow loop: connected is online, a break reconnecting, a stop or a misfit offline', () => {
    const id = new Uint8Array(16);
    assert.equal(stateAfter({ type: 'connected', remote: 'r', siteId: id, pushing: true }, false), 'online');
    assert.equal(stateAfter({ type: 'disconnected', remote: 'r', error: new Error('socket hang up') }, false), 'reconnecting');
    assert.equal(stateAfter({ type: 'disconnected', remote: 'r' }, true), 'offline');
    assert.equal(stateAfter({ type: 'disconnected', remote: 'r', error: new ProtocolError('schema', 'table t differs') }, false), 'offline');
    assert.equal(stateAfter({ type: 'caught-up', remote: 'r', version: 3 }, false), undefined);
  });

  it('reports each change once, per remote, and offline when a remote is forgotten', () => {
    const seen: ConnectionChange[] = [];
    const s = new ConnectionStates((c) => seen.push(c));
    s.set('a', 'offline'); // the state it starts in: nothing to report
    s.set('a', 'online');
    s.set('a', 'online');
    s.set('b', 'reconnecting', 'refused');
    s.set('a', 'reconnecting');
    s.remove('b');
    assert.deepEqual(seen, [
      { remote: 'a', state: 'online' },
      { remote: 'b', state: 'reconnecting', error: 'refused' },
      { remote: 'a', state: 'reconnecting' },
      { remote: 'b', state: 'offline' },
    ]);
    assert.deepEqual(s.list(), [{ remote: 'a', state: 'reconnecting' }]);
  });
});
