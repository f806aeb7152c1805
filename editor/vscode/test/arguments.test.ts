import assert from 'node:assert/strict';
import { test } from 'node:test';

import { checkArgumentName, formatArguments, parseArguments } from '../src/arguments';

function parsed(text: string): Record<string, string> {
  const result = parseArguments(text);
  assert.ok(result.ok, result.ok ? '' : result.error);
  return result.arguments;
}

function failure(text: string): string {
  const result = parseArguments(text);
  assert.ok(!result.ok, `expected "${text}" to be rejected`);
  return result.error;
}

test('empty and blank text give no arguments', () => {
  assert.deepEqual(parsed(''), {});
  assert.deepEqual(parsed('   \t '), {});
});

test('plain and quoted values', () => {
  assert.deepEqual(parsed('prompt="a cat" other=3'), { prompt: 'a cat', other: '3' });
  assert.deepEqual(parsed("prompt='a dog'  seed=42 "), { prompt: 'a dog', seed: '42' });
  assert.deepEqual(parsed('negative= steps=20'), { negative: '', steps: '20' });
  assert.deepEqual(parsed('empty=""'), { empty: '' });
});

test('quotes inside a value and escapes in double quotes', () => {
  assert.deepEqual(parsed('prompt="say \\"hi\\"" path="C:\\\\x"'), { prompt: 'say "hi"', path: 'C:\\x' });
  assert.deepEqual(parsed('a=pre"fix suf"fix'), { a: 'prefix suffix' });
  assert.deepEqual(parsed(`a='it"s'`), { a: 'it"s' });
  assert.deepEqual(parsed('url=http://x/?a=b'), { url: 'http://x/?a=b' });
  assert.deepEqual(parsed('emoji="🐱 cat"'), { emoji: '🐱 cat' });
});

test('names follow the server rule', () => {
  assert.deepEqual(parsed('_a=1 b-2=2 C3=3'), { _a: '1', 'b-2': '2', C3: '3' });
  assert.match(failure('1abc=x'), /not a valid argument name/);
  assert.match(failure('-a=x'), /not a valid argument name/);
  assert.match(failure('a.b=x'), /not a valid argument name/);
  assert.match(failure('"prompt"=x'), /not a valid argument name/);
  assert.match(failure('=x'), /needs a name/);
  assert.match(failure(`${'a'.repeat(101)}=x`), /longer than 100/);
  assert.equal(checkArgumentName('a'.repeat(100)), undefined);
});

test('malformed text is rejected with a reason', () => {
  assert.match(failure('prompt'), /not of the form name=value/);
  assert.match(failure('a=1 stray'), /"stray" is not of the form/);
  assert.match(failure('prompt="a cat'), /unclosed " quote/);
  assert.match(failure('a=1 a=2'), /given twice/);
});

test('formatArguments round-trips through parseArguments', () => {
  const args = { prompt: 'a "quoted" cat', seed: '3', empty: '', path: 'C:\\dir\\', tab: 'a\tb' };
  const text = formatArguments(args);
  assert.deepEqual(parsed(text), args);
  assert.equal(formatArguments({ seed: '3', prompt: 'a cat' }), 'seed=3 prompt="a cat"');
  assert.equal(formatArguments({ steps: 20 }), 'steps=20');
});
