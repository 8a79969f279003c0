import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { applySetting, DotCommandError, parseDot } from './dot-commands.ts';
import type { OutputSettings } from './modes.ts';

describe('dot commands', () => {
  it('parses the commands and their arguments', () => {
    assert.deepEqual(parseDot('.schema'), { name: 'schema' });
    assert.deepEqual(parseDot('.schema notes'), { name: 'schema', pattern: 'notes' });
    assert.deepEqual(parseDot('.headers ON'), { name: 'headers', on: true });
    assert.deepEqual(parseDot('.mode table'), { name: 'mode', mode: 'table' });
    assert.deepEqual(parseDot('.exit'), { name: 'quit' });
    assert.deepEqual(parseDot('.crrs'), { name: 'crrs' });
  });

  it('refuses unknown commands, modes and arguments with a clear message', () => {
    assert.throws(() => parseDot('.frobnicate'), (e: Error) => e instanceof DotCommandError && /unknown command \.frobnicate; try \.help/.test(e.message));
    assert.throws(() => parseDot('.mode jsonl'), /unknown mode jsonl; modes: list, csv, json, table/);
    assert.throws(() => parseDot('.headers maybe'), /usage: \.headers on\|off/);
    assert.throws(() => parseDot('.tables x'), /takes no arguments/);
  });

  it('applies .mode and .headers to the settings', () => {
    const s: OutputSettings = { mode: 'list', headers: false };
    applySetting({ name: 'mode', mode: 'csv' }, s);
    applySetting({ name: 'headers', on: true }, s);
    assert.deepEqual(s, { mode: 'csv', headers: true });
    assert.equal(applySetting({ name: 'mode' }, s), 'current output mode: csv');
  });
});
