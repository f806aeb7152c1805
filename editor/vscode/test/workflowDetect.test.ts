import assert from 'node:assert/strict';
import { test } from 'node:test';

import { looksLikeWorkflow } from '../src/workflowDetect';

test('a top-level steps array makes a workflow', () => {
  assert.ok(looksLikeWorkflow('{"id": "w", "steps": [{"name": "a"}]}'));
  assert.ok(looksLikeWorkflow('\n  {\n "steps"\n : \n [ ] }'));
});

test('steps that are nested, not an array, or inside strings do not', () => {
  assert.ok(!looksLikeWorkflow('{"x": {"steps": []}}'));
  assert.ok(!looksLikeWorkflow('{"steps": 3}'));
  assert.ok(!looksLikeWorkflow('{"note": "\\"steps\\": [", "a": 1}'));
  assert.ok(!looksLikeWorkflow('[{"steps": []}]'));
  assert.ok(!looksLikeWorkflow('{"name": "package", "version": "1.0.0"}'));
  assert.ok(!looksLikeWorkflow(''));
});

test('our $schema makes a workflow, another does not', () => {
  assert.ok(looksLikeWorkflow('{"$schema": "https://example.org/schemas/workflow.schema.json"}'));
  assert.ok(looksLikeWorkflow('{"$schema": "https://github.com/dkackman/diffusers-helper/workflow#"}'));
  assert.ok(!looksLikeWorkflow('{"$schema": "https://json.schemastore.org/package.json"}'));
});

test('a file being edited (invalid JSON) is still recognised', () => {
  assert.ok(looksLikeWorkflow('{"id": "w", "steps": [ {"name": ,'));
});

test('the top-level object ends the scan', () => {
  assert.ok(!looksLikeWorkflow('{"a": 1} {"steps": []}'));
});
