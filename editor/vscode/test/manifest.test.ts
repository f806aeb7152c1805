import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';

import manifest from '../package.json';
import { COMMANDS_NEEDING_TRUST, SERVER_COMMANDS } from '../src/serverCommands';
import { executionSettingKeys } from '../src/settings';

const ROOT = path.resolve(__dirname, '..', '..');

test('every command that calls the server is contributed, and every contributed command is activated', () => {
  const contributed = new Set(manifest.contributes.commands.map((command) => command.command));
  for (const id of Object.keys(SERVER_COMMANDS)) {
    assert.ok(contributed.has(id), `${id} is in serverCommands.json but not in contributes.commands`);
  }
  for (const id of contributed) {
    assert.ok(manifest.activationEvents.includes(`onCommand:${id}`), `no activation event for ${id}`);
  }
});

test('every contributed command has a handler in commands.ts', () => {
  const source = fs.readFileSync(path.join(ROOT, 'src', 'commands.ts'), 'utf8');
  for (const command of manifest.contributes.commands) {
    assert.ok(source.includes(`'${command.command}':`), `no handler for ${command.command}`);
  }
});

test('server command names appear only in serverCommands.json', () => {
  const dir = path.join(ROOT, 'src');
  for (const file of fs.readdirSync(dir).filter((name) => name.endsWith('.ts'))) {
    const source = fs.readFileSync(path.join(dir, file), 'utf8');
    const literal = /(['"])dw\.[A-Za-z]+\1/.exec(source);
    assert.equal(literal, null, `${file} names a server command (${literal?.[0] ?? ''}); use DW from serverCommands.ts`);
  }
});

test('commands that run a workflow or start the worker need a trusted workspace', () => {
  for (const id of COMMANDS_NEEDING_TRUST) {
    const command = manifest.contributes.commands.find((candidate) => candidate.command === id);
    assert.equal(command?.enablement, 'isWorkspaceTrusted');
  }
  assert.equal(manifest.capabilities.untrustedWorkspaces.supported, 'limited');
});

test('the interpreter and the execution settings are machine-scoped and restricted', () => {
  const properties: Record<string, object> = manifest.contributes.configuration.properties;
  const restricted = manifest.capabilities.untrustedWorkspaces.restrictedConfigurations;
  for (const key of ['interpreter', ...executionSettingKeys(manifest)]) {
    assert.equal((properties[`dwLsp.${key}`] as { scope?: string } | undefined)?.scope, 'machine', key);
    assert.ok(restricted.includes(`dwLsp.${key}`), key);
  }
  assert.ok(executionSettingKeys(manifest).includes('worker.command'));
});
