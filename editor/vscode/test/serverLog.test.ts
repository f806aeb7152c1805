import assert from 'node:assert/strict';
import { test } from 'node:test';

import { StderrReader } from '../src/serverLog';

test("each stderr record is logged at its own level, without Python's timestamp", () => {
  const reader = new StderrReader();
  assert.deepEqual(reader.read('2026-01-02 03:04:05,678 INFO dw_lsp.server.commands: Worker process started'), {
    level: 'info',
    text: 'dw_lsp.server.commands: Worker process started',
  });
  assert.equal(reader.read('2026-01-02 03:04:05,678 WARNING dw_lsp.server.app: careful').level, 'warn');
  assert.equal(reader.read('2026-01-02 03:04:05,678 DEBUG pygls.protocol: sent').level, 'debug');
  assert.equal(reader.read('2026-01-02 03:04:05,678 CRITICAL dw_lsp: down').level, 'error');
});

test('lines that are not records continue the record before them; with none, they are errors', () => {
  const reader = new StderrReader();
  assert.deepEqual(reader.read('Traceback (most recent call last):'), { level: 'error', text: 'Traceback (most recent call last):' });
  reader.read('2026-01-02 03:04:05,678 WARNING dw_lsp.server.app: with details');
  assert.deepEqual(reader.read('  second line'), { level: 'warn', text: '  second line' });
});
