import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Command } from 'commander';
import { commandOf, COMMANDS } from './commands.ts';
import { createContext } from './context.ts';

describe('commandOf', () => {
  it('finds the command after global options, and after help', () => {
    assert.equal(commandOf(['status']), 'status');
    assert.equal(commandOf(['log', '-n', '5']), 'log');
    assert.equal(commandOf(['-C', 'dir', 'log']), 'log');
    assert.equal(commandOf(['-Cdir', 'bundle', 'create', 'x']), 'bundle');
    assert.equal(commandOf(['-C', 'status', 'pull']), 'pull'); // -C's value is not the command
    assert.equal(commandOf(['help', 'merge']), 'merge');
  });

  it('names none when every command must be loaded: help, version, unknown names, options it does not know', () => {
    for (const argv of [[], ['--help'], ['-h'], ['-V'], ['help'], ['stauts'], ['toString'], ['--', 'status'], ['-x', 'status'], ['-C'], ['help', 'nope']]) {
      assert.equal(commandOf(argv), undefined, argv.join(' '));
    }
  });
});

describe('COMMANDS', () => {
  it('maps every command the modules define to the module that defines it', async () => {
    const ctx = createContext(() => undefined);
    const defined = new Map<string, unknown>();
    const modules = new Set(await Promise.all(Object.values(COMMANDS).map((load) => load())));
    for (const m of modules) {
      const program = new Command();
      m.register(program, ctx);
      for (const c of program.commands) defined.set(c.name(), m);
    }
    assert.deepEqual([...defined.keys()].sort(), Object.keys(COMMANDS).sort());
    for (const [name, load] of Object.entries(COMMANDS)) assert.equal(await load(), defined.get(name), name);
  });
});
