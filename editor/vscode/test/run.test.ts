import assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from 'node:test';

import { parseRunResult, type RunResult } from '../src/results';
import {
  OPEN_OUTPUT,
  outputToOpen,
  presentRunResult,
  resolveOutputPath,
  runWorkflow,
  SHOW_LOG,
  type ResultUi,
} from '../src/run';
import { StubHost } from './stubHost';

test('a run passes uri, arguments and its own progress token, and relays progress', async () => {
  const host = new StubHost((command, argument, stub) => {
    if (command !== 'dw.run') {
      return Promise.resolve({});
    }
    const token = (argument as { progressToken: string }).progressToken;
    stub.sendProgress(token, { kind: 'begin', title: 'Running', percentage: 0 });
    stub.sendProgress(token, { kind: 'report', message: 'denoising 10/20', percentage: 50 });
    stub.sendProgress('someone-else', { kind: 'report', percentage: 99 });
    stub.sendProgress(token, { kind: 'end' });
    return Promise.resolve({ status: 'ok', outputs: ['outputs/a.png'], timings: { total: 1 } });
  });
  const result = await runWorkflow(
    host,
    { uri: 'file:///ws/workflows/a.json', arguments: { prompt: 'a cat' }, title: 'dw: running a.json' },
    () => 'fixed',
  );
  assert.equal(result.status, 'ok');
  assert.deepEqual(host.commands, [
    {
      command: 'dw.run',
      argument: { uri: 'file:///ws/workflows/a.json', progressToken: 'dw-run-fixed', arguments: { prompt: 'a cat' } },
    },
  ]);
  assert.deepEqual(host.titles, ['dw: running a.json']);
  assert.deepEqual(host.progress, [{ message: 'Running' }, { message: 'denoising 10/20', increment: 50 }]);
  assert.deepEqual(host.disposed, ['dw-run-fixed']);
});

test('a plain run sends no arguments key, and tokens differ between runs', async () => {
  const seen: object[] = [];
  const host = new StubHost((_command, argument) => {
    seen.push(argument);
    return Promise.resolve({ status: 'ok', outputs: [] });
  });
  await runWorkflow(host, { uri: 'file:///a.json', title: 't' });
  await runWorkflow(host, { uri: 'file:///a.json', title: 't' });
  assert.ok(!('arguments' in (seen[0] ?? {})));
  assert.ok(!('standIn' in (seen[0] ?? {})));
  const tokens = seen.map((argument) => (argument as { progressToken: string }).progressToken);
  assert.notEqual(tokens[0], tokens[1]);
});

test('a smoke run asks dw.run for stand-in models', async () => {
  const host = new StubHost(() => Promise.resolve({ status: 'ok', outputs: [] }));
  await runWorkflow(host, { uri: 'file:///a.json', standIn: true, title: 't' }, () => 'fixed');
  assert.deepEqual(host.commands, [
    { command: 'dw.run', argument: { uri: 'file:///a.json', progressToken: 'dw-run-fixed', standIn: true } },
  ]);
});

test('Cancel sends dw.cancel and the run returns the server\'s cancelled result', async () => {
  let finish: (value: unknown) => void = () => undefined;
  const host = new StubHost((command) => {
    if (command === 'dw.cancel') {
      finish({ status: 'cancelled', outputs: [] });
      return Promise.resolve({});
    }
    return new Promise((resolve) => {
      finish = resolve;
    });
  });
  const running = runWorkflow(host, { uri: 'file:///a.json', title: 't' });
  await Promise.resolve();
  host.pressCancel();
  const result = await running;
  assert.equal(result.status, 'cancelled');
  assert.deepEqual(
    host.commands.map((call) => call.command),
    ['dw.run', 'dw.cancel'],
  );
  assert.deepEqual(host.commands[1]?.argument, {});
});

test('a failed request becomes an error result and the progress listener is removed', async () => {
  const host = new StubHost(() => Promise.reject(new Error('Server process exited with code 1')));
  const result = await runWorkflow(host, { uri: 'file:///a.json', title: 't' }, () => 'x');
  assert.equal(result.status, 'error');
  assert.equal(result.error?.message, 'Server process exited with code 1');
  assert.deepEqual(host.disposed, ['dw-run-x']);
});

class StubUi implements ResultUi {
  readonly infos: { message: string; actions: string[] }[] = [];
  readonly errors: { message: string; actions: string[] }[] = [];
  readonly opened: string[] = [];
  readonly logs: string[] = [];
  logShown = 0;

  constructor(
    private readonly choice?: string,
    private readonly openFails = false,
  ) {}

  showInformation(message: string, ...actions: string[]): Promise<string | undefined> {
    this.infos.push({ message, actions });
    return Promise.resolve(actions.includes(this.choice ?? '') ? this.choice : undefined);
  }

  showError(message: string, ...actions: string[]): Promise<string | undefined> {
    this.errors.push({ message, actions });
    return Promise.resolve(actions.includes(this.choice ?? '') ? this.choice : undefined);
  }

  openBeside(file: string): Promise<void> {
    this.opened.push(file);
    return this.openFails ? Promise.reject(new Error('no such file')) : Promise.resolve();
  }

  showLog(): void {
    this.logShown += 1;
  }

  log(line: string): void {
    this.logs.push(line);
  }
}

function ok(outputs: string[]): RunResult {
  return parseRunResult({ status: 'ok', outputs, timings: { total: 2 } });
}

test('a successful run opens its first image beside the editor', async () => {
  const ui = new StubUi();
  await presentRunResult(ok(['outputs/a.json', 'outputs/b.png']), ui, { openOutput: true, baseDir: '/ws' });
  assert.deepEqual(ui.opened, [path.resolve('/ws', 'outputs/b.png')]);
  assert.equal(ui.infos[0]?.message, 'Run finished in 2.0 s: 2 outputs.');
  assert.ok(ui.logs.some((line) => line.includes('outputs/b.png')));
});

test('with openOutputAfterRun off, the output opens only on request', async () => {
  const quiet = new StubUi();
  await presentRunResult(ok(['/abs/a.png']), quiet, { openOutput: false, baseDir: '/ws' });
  assert.deepEqual(quiet.opened, []);
  assert.deepEqual(quiet.infos[0]?.actions, [OPEN_OUTPUT]);
  const asked = new StubUi(OPEN_OUTPUT);
  await presentRunResult(ok(['/abs/a.png']), asked, { openOutput: false, baseDir: '/ws' });
  assert.deepEqual(asked.opened, ['/abs/a.png']);
});

test('an output that cannot be opened is reported', async () => {
  const ui = new StubUi(undefined, true);
  await presentRunResult(ok(['/abs/a.png']), ui, { openOutput: true, baseDir: '/ws' });
  assert.match(ui.errors[0]?.message ?? '', /Could not open the output \/abs\/a\.png/);
});

test('an error shows the message with Show Log, which opens the log', async () => {
  const result = parseRunResult({ status: 'error', error: { message: 'CUDA out of memory', traceback: 'Traceback ...' } });
  const ui = new StubUi(SHOW_LOG);
  await presentRunResult(result, ui, { openOutput: true, baseDir: '/ws' });
  assert.deepEqual(ui.errors, [{ message: 'Run failed: CUDA out of memory', actions: [SHOW_LOG] }]);
  assert.equal(ui.logShown, 1);
  assert.ok(ui.logs.includes('Traceback ...'));
  const ignored = new StubUi();
  await presentRunResult(result, ignored, { openOutput: true, baseDir: '/ws' });
  assert.equal(ignored.logShown, 0);
});

test('a cancelled run or one without outputs only informs', async () => {
  const ui = new StubUi();
  await presentRunResult(parseRunResult({ status: 'cancelled' }), ui, { openOutput: true, baseDir: '/ws' });
  await presentRunResult(ok([]), ui, { openOutput: true, baseDir: '/ws' });
  assert.deepEqual(ui.opened, []);
  assert.equal(ui.infos.length, 2);
  assert.match(ui.infos[0]?.message ?? '', /cancelled/);
});

test('output paths: relative ones resolve against the base folder; images first', () => {
  assert.equal(resolveOutputPath('/abs/x.png', '/ws'), '/abs/x.png');
  assert.equal(resolveOutputPath('outputs/x.png', '/ws'), path.resolve('/ws', 'outputs/x.png'));
  assert.equal(outputToOpen(['a.mp4', 'b.JPG']), 'b.JPG');
  assert.equal(outputToOpen(['a.mp4']), 'a.mp4');
  assert.equal(outputToOpen([]), undefined);
});
