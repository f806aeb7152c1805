import assert from 'node:assert/strict';
import { test } from 'node:test';

import manifest from '../package.json';
import { collectServerSettings, EXTENSION_ONLY_KEYS, serverSettingKeys, withoutExtensionOnly } from '../src/settings';

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
