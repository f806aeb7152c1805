import assert from 'node:assert/strict';
import { test } from 'node:test';

import manifest from '../package.json';
import {
  collectServerSettings,
  configurationForServer,
  executionSettingKeys,
  EXTENSION_ONLY_KEYS,
  initializationOptions,
  serverSettingKeys,
  withoutExtensionOnly,
  withoutKeys,
} from '../src/settings';

test('the server keys are the manifest settings without the extension-only ones', () => {
  const keys = serverSettingKeys(manifest);
  assert.ok(keys.includes('worker.command'));
  assert.ok(keys.includes('outputDir'));
  for (const key of EXTENSION_ONLY_KEYS) {
    assert.ok(!keys.includes(key));
  }
  assert.equal(keys.length, Object.keys(manifest.contributes.configuration.properties).length - EXTENSION_ONLY_KEYS.length);
  assert.deepEqual(serverSettingKeys({}), []);
});

test('settings are nested the way VS Code gives a section, leaving out nulls', () => {
  const values: Record<string, unknown> = {
    outputDir: 'out',
    'worker.command': null,
    'worker.prewarm': false,
    'run.timeout': 10,
    workflowFiles: ['a/**'],
  };
  assert.deepEqual(collectServerSettings(Object.keys(values).concat('missing'), (key) => values[key]), {
    outputDir: 'out',
    worker: { prewarm: false },
    run: { timeout: 10 },
    workflowFiles: ['a/**'],
  });
});

test('extension-only settings are removed from what the server is sent', () => {
  assert.deepEqual(withoutExtensionOnly({ interpreter: '/py', openOutputAfterRun: true, outputDir: 'o', worker: { prewarm: true } }), {
    outputDir: 'o',
    worker: { prewarm: true },
  });
  assert.equal(withoutExtensionOnly(null), null);
});

test('the execution settings are the machine-scoped server settings', () => {
  assert.deepEqual(executionSettingKeys(manifest).sort(), [
    'worker.allowRemoteCode',
    'worker.allowedModules',
    'worker.backend',
    'worker.command',
    'worker.ray.address',
    'worker.ray.resources',
    'worker.ray.workers',
  ]);
  assert.deepEqual(executionSettingKeys({}), []);
});

test('a workspace cannot send runs to a Ray cluster: the Ray settings never go through workspace/configuration', () => {
  const section = { outputDir: 'o', worker: { backend: 'ray', prewarm: true, ray: { address: 'ray://evil:10001', workers: 8 } } };
  const filtered = configurationForServer(section, executionSettingKeys(manifest), true);
  assert.deepEqual(filtered, { outputDir: 'o', worker: { prewarm: true, ray: {} } });
});

test('execution settings never go through workspace/configuration; untrusted: no prewarm', () => {
  const section = { interpreter: '/evil', outputDir: 'o', worker: { command: ['sh'], allowedModules: ['os'], prewarm: true } };
  const keys = ['worker.command', 'worker.allowedModules'];
  assert.deepEqual(configurationForServer(section, keys, true), { outputDir: 'o', worker: { prewarm: true } });
  assert.deepEqual(configurationForServer(section, keys, false), { outputDir: 'o', worker: { prewarm: false } });
  assert.deepEqual(configurationForServer({ outputDir: 'o' }, keys, false), { outputDir: 'o', worker: { prewarm: false } });
  assert.equal(configurationForServer(null, keys, false), null);
  assert.deepEqual(withoutKeys({ a: { b: 1, c: 2 }, d: 3 }, ['a.b', 'd']), { a: { c: 2 } });
});

test('initializationOptions nest the settings and say whether the workspace is trusted', () => {
  const settings = { outputDir: 'o', worker: { command: ['py'] } };
  assert.deepEqual(initializationOptions(settings, true), { dwLsp: settings, trusted: true });
  assert.deepEqual(initializationOptions(settings, false), {
    dwLsp: { outputDir: 'o', worker: { command: ['py'], prewarm: false } },
    trusted: false,
  });
});
