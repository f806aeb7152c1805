import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  commandFailure,
  formatMb,
  formatMemory,
  formatSeconds,
  formatStatus,
  parseMemory,
  parseRunResult,
  parseStatus,
  runLogLines,
  statusBarView,
  summarizeRun,
} from '../src/results';

const CUDA_MEMORY = {
  device: 'cuda:0',
  allocatedMb: 2150,
  reservedMb: 2600,
  freeMb: 20000,
  totalMb: 24576,
  runs: 2,
  processRssMb: 1200,
  hostTotalMb: 65536,
  hostAvailableMb: 50000,
  cuda: true,
};

const HOST_MEMORY = {
  device: 'cpu',
  allocatedMb: 0,
  reservedMb: 0,
  freeMb: 0,
  totalMb: 0,
  runs: 1,
  processRssMb: 900,
  hostTotalMb: 24576,
  hostAvailableMb: 12288,
  cuda: false,
};

test('an ok run result is read with its timings, cache and memory', () => {
  const result = parseRunResult({
    status: 'ok',
    outputs: ['/ws/outputs/a.png', 3],
    error: null,
    timings: { load: 1.02, inference: 2.2, total: 3.25 },
    cache: { reused: ['p1'], loaded: [], released: ['p0'] },
    runs: 2,
    memory: CUDA_MEMORY,
  });
  assert.equal(result.status, 'ok');
  assert.deepEqual(result.outputs, ['/ws/outputs/a.png']);
  assert.equal(result.error, undefined);
  assert.deepEqual(result.cache, { reused: ['p1'], loaded: [], released: ['p0'] });
  assert.equal(result.memory?.allocatedMb, 2150);
  assert.equal(summarizeRun(result), 'Run finished in 3.3 s (load 1.0 s, inference 2.2 s): 1 output; models reused.');
  const lines = runLogLines(result);
  assert.match(lines[1] ?? '', /reused: p1; loaded: -; released: p0/);
  assert.ok(lines.includes('  output: /ws/outputs/a.png'));
});

test('the summary says the models were reused only when nothing had to be loaded', () => {
  const loaded = parseRunResult({ status: 'ok', outputs: [], timings: { total: 1 }, cache: { reused: ['a'], loaded: ['b'], released: [] } });
  assert.equal(summarizeRun(loaded), 'Run finished in 1.0 s: 0 outputs.');
  const none = parseRunResult({ status: 'ok', outputs: ['x.png'], cache: { reused: [], loaded: [], released: [] } });
  assert.equal(summarizeRun(none), 'Run finished: 1 output.');
});

test('error results keep message and traceback; unreadable results become errors', () => {
  const result = parseRunResult({ status: 'error', outputs: [], error: { message: 'boom', traceback: 'Traceback...\nValueError: boom\n' } });
  assert.equal(result.status, 'error');
  assert.equal(summarizeRun(result), 'Run failed: boom');
  assert.equal(runLogLines(result).at(-1), 'Traceback...\nValueError: boom');
  assert.equal(parseRunResult({ status: 'weird' }).status, 'error');
  assert.match(parseRunResult({ status: 'weird' }).error?.message ?? '', /status "weird"/);
  assert.match(parseRunResult(null).error?.message ?? '', /no run result \(null\)/);
  assert.equal(parseRunResult({ status: 'error', error: 'plain text' }).error?.message, 'plain text');
  assert.equal(parseRunResult({ status: 'cancelled', outputs: [] }).status, 'cancelled');
  assert.match(summarizeRun(parseRunResult({ status: 'cancelled' })), /cancelled/);
});

test('numbers are formatted for people', () => {
  assert.equal(formatSeconds(0.25), '250 ms');
  assert.equal(formatSeconds(12.345), '12.3 s');
  assert.equal(formatMb(850.4), '850 MB');
  assert.equal(formatMb(2150), '2.1 GB');
});

test('memory reports CUDA figures, or host memory without CUDA', () => {
  const cuda = parseMemory(CUDA_MEMORY);
  assert.ok(cuda !== undefined);
  assert.equal(formatMemory(cuda), 'cuda:0: allocated 2.1 GB, reserved 2.5 GB, free 19.5 GB of 24.0 GB, worker RSS 1.2 GB, 2 runs');
  const host = parseMemory(HOST_MEMORY);
  assert.ok(host !== undefined);
  assert.equal(formatMemory(host), 'no CUDA device (cpu), host memory available 12.0 GB of 24.0 GB, worker RSS 900 MB, 1 run');
  assert.equal(formatMemory(host, { runs: false }), 'no CUDA device (cpu), host memory available 12.0 GB of 24.0 GB, worker RSS 900 MB');
  assert.equal(parseMemory('nope'), undefined);
});

test('status is read and formatted', () => {
  const status = parseStatus({ state: 'ready', workflow: '/ws/workflows/a.json', runs: 3, arguments: { prompt: 'a cat' } });
  assert.ok(status !== undefined);
  assert.equal(formatStatus(status), 'Worker ready, workflow /ws/workflows/a.json, 3 runs, arguments prompt');
  assert.equal(parseStatus({ state: 'flying' }), undefined);
  assert.deepEqual(parseStatus({ state: 'stopped', workflow: null, arguments: [] }), {
    state: 'stopped',
    workflow: undefined,
    runs: undefined,
    arguments: {},
  });
});

test("the server's dw.status answer (per-workflow run counts) is read", () => {
  // The shape dw_lsp.session.report.status_json returns.
  const answer = {
    state: 'ready',
    workflow: '/ws/workflows/a.json',
    name: 'a',
    arguments: { prompt: 'a cat' },
    worker: { state: 'ready', pid: 42, lastExit: null },
    running: false,
    runId: null,
    runs: { '/ws/workflows/a.json': 2, '/ws/workflows/b.json': 5 },
    outputDir: '/ws/outputs',
    workflowDir: '/ws/workflows',
  };
  const status = parseStatus(answer);
  assert.ok(status !== undefined);
  assert.equal(status.runs, 2);
  assert.equal(formatStatus(status), 'Worker ready, workflow /ws/workflows/a.json, 2 runs, arguments prompt');
});

test('the status bar shows state and memory', () => {
  assert.match(statusBarView(undefined, undefined).text, /dw$/);
  const ready = statusBarView(parseStatus({ state: 'ready' }), parseMemory(CUDA_MEMORY));
  assert.equal(ready.text, '$(check) dw: ready 2.1 GB/24.0 GB');
  assert.match(ready.tooltip, /Worker ready\ncuda:0: allocated/);
  assert.equal(statusBarView(parseStatus({ state: 'busy' }), parseMemory(HOST_MEMORY)).text, '$(sync~spin) dw: busy 900 MB');
  assert.equal(statusBarView(parseStatus({ state: 'stopped' }), undefined).text, '$(circle-slash) dw: stopped');
});

test("during this editor's run an answer of ready or stopped shows as busy; other states stay", () => {
  const view = (state: string) => statusBarView(parseStatus({ state }), parseMemory(HOST_MEMORY), true).text;
  assert.equal(view('ready'), '$(sync~spin) dw: busy 900 MB');
  assert.equal(view('stopped'), '$(sync~spin) dw: busy 900 MB');
  assert.equal(view('starting'), '$(loading~spin) dw: starting 900 MB');
  assert.equal(view('errored'), '$(error) dw: errored 900 MB');
  assert.equal(statusBarView(parseStatus({ state: 'ready' }), undefined, false).text, '$(check) dw: ready');
});

test('commandFailure reads an error answer and ignores the rest', () => {
  assert.equal(commandFailure({ status: 'error', error: { message: 'bad name "1x"' } }), 'bad name "1x"');
  assert.equal(commandFailure({ status: 'error' }), 'the server reported an error without a message');
  assert.equal(commandFailure({ status: 'ok' }), undefined);
  assert.equal(commandFailure(null), undefined);
});
