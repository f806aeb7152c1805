import assert from 'node:assert/strict';
import { test } from 'node:test';

import { MAX_SWEEP_RUNS, parseGrid, parseSweepResult, runSweep, summarizeSweep } from '../src/sweep';
import { StubHost } from './stubHost';

test('a grid is name=v1,v2 assignments separated by ";" or new lines', () => {
  assert.deepEqual(parseGrid('prompt=a red fox, an owl ; steps=4,8'), {
    ok: true,
    grid: { prompt: ['a red fox', 'an owl'], steps: ['4', '8'] },
    runs: 4,
  });
  assert.deepEqual(parseGrid('seed=1\nseed_b=2,3\n'), { ok: true, grid: { seed: ['1'], seed_b: ['2', '3'] }, runs: 2 });
  assert.deepEqual(parseGrid('prompt=["a cat, oil", "a dog", 3]'), {
    ok: true,
    grid: { prompt: ['a cat, oil', 'a dog', '3'] },
    runs: 3,
  });
});

test('a malformed grid says what is wrong', () => {
  const error = (text: string): string => {
    const parsed = parseGrid(text);
    assert.equal(parsed.ok, false, text);
    return parsed.ok ? '' : parsed.error;
  };
  assert.match(error(''), /at least one name=v1,v2/);
  assert.match(error('prompt'), /Expected name=v1,v2/);
  assert.match(error('bad name=1,2'), /Expected name=v1,v2/);
  assert.match(error('seed=1,,2'), /seed: empty value/);
  assert.match(error('seed=1; seed=2'), /seed is given twice/);
  assert.match(error('prompt=["a", {}]'), /JSON list of strings or numbers/);
  assert.match(error('prompt=[oops'), /not valid JSON/);
  const many = Array.from({ length: MAX_SWEEP_RUNS + 1 }, (_, i) => String(i)).join(',');
  assert.match(error(`seed=${many}`), /257 runs; a sweep may have at most 256/);
});

const ANSWER = {
  status: 'ok',
  sweepId: 'abc',
  name: 'tiny-sd',
  folder: '/ws/outputs/sweep-abc',
  total: 2,
  done: 2,
  seconds: 3.25,
  error: null,
  runs: [
    { index: 1, arguments: { prompt: 'a fox' }, status: 'ok', outputs: ['/ws/outputs/sweep-abc/run-001/a.png'], timings: { total: 1 } },
    { index: 2, arguments: { prompt: 'an owl' }, status: 'ok', outputs: ['/ws/outputs/sweep-abc/run-002/a.png'], timings: { total: 1 } },
  ],
};

test('the sweep sends uri, grid and its own progress token, and shows one progress', async () => {
  const host = new StubHost((command, argument, stub) => {
    const token = (argument as { progressToken: string }).progressToken;
    stub.sendProgress(token, { kind: 'begin', title: 'Sweep of tiny-sd.json', percentage: 0 });
    stub.sendProgress(token, { kind: 'report', message: '1/2 runs done · run 2: denoising step 1/2', percentage: 75 });
    stub.sendProgress(token, { kind: 'end', message: 'Sweep ok: 2/2 runs ok' });
    return Promise.resolve(command === 'dw.runSweep' ? ANSWER : {});
  });
  const grid = { prompt: ['a fox', 'an owl'] };
  const result = await runSweep(host, { uri: 'file:///ws/workflows/tiny-sd.json', grid, title: 'dw: sweep of tiny-sd.json' }, () => 't');
  assert.deepEqual(host.commands, [
    { command: 'dw.runSweep', argument: { uri: 'file:///ws/workflows/tiny-sd.json', grid, progressToken: 'dw-sweep-t' } },
  ]);
  assert.deepEqual(host.titles, ['dw: sweep of tiny-sd.json']);
  assert.deepEqual(host.progress, [
    { message: 'Sweep of tiny-sd.json' },
    { message: '1/2 runs done · run 2: denoising step 1/2', increment: 75 },
    { message: 'Sweep ok: 2/2 runs ok' },
  ]);
  assert.deepEqual(host.disposed, ['dw-sweep-t']);
  assert.equal(result.status, 'ok');
  assert.deepEqual(
    result.runs.map((run) => [run.index, run.arguments, run.result.outputs]),
    [
      [1, { prompt: 'a fox' }, ['/ws/outputs/sweep-abc/run-001/a.png']],
      [2, { prompt: 'an owl' }, ['/ws/outputs/sweep-abc/run-002/a.png']],
    ],
  );
  assert.equal(summarizeSweep(result), 'Sweep finished: 2/2 runs ok in 3.3 s.');
});

test('Cancel sends dw.cancel; the sweep reports what it did', async () => {
  let finish: (value: unknown) => void = () => undefined;
  const host = new StubHost((command) => {
    if (command === 'dw.cancel') {
      finish({ ...ANSWER, status: 'cancelled', done: 1 });
      return Promise.resolve({ status: 'ok', cancelled: true });
    }
    return new Promise((resolve) => {
      finish = resolve;
    });
  });
  const running = runSweep(host, { uri: 'file:///a.json', grid: { seed: ['1', '2'] }, title: 't' });
  await Promise.resolve();
  host.pressCancel();
  const result = await running;
  assert.deepEqual(
    host.commands.map((call) => [call.command, call.command === 'dw.cancel' ? call.argument : null]),
    [
      ['dw.runSweep', null],
      ['dw.cancel', {}],
    ],
  );
  assert.equal(summarizeSweep(result), 'Sweep cancelled: 1/2 runs done in 3.3 s.');
});

test('a refused or failed sweep becomes an error result with the message', async () => {
  const refused = new StubHost(() =>
    Promise.resolve({ status: 'error', error: { message: 'This workspace is not trusted: ...', traceback: null } }),
  );
  const result = await runSweep(refused, { uri: 'file:///a.json', grid: { seed: ['1'] }, title: 't' });
  assert.equal(summarizeSweep(result), 'Sweep failed: This workspace is not trusted: ...');
  const broken = new StubHost(() => Promise.reject(new Error('Server process exited')));
  assert.equal((await runSweep(broken, { uri: 'file:///a.json', grid: {}, title: 't' })).error, 'Server process exited');
  assert.equal(parseSweepResult(null).status, 'error');
  assert.equal(parseSweepResult({ status: 'weird' }).error, 'the sweep failed without a message');
});
