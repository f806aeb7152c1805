import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ProgressTracker, readWorkDoneProgress } from '../src/progress';

class RecordingSink {
  readonly reports: { message?: string; increment?: number }[] = [];
  report(value: { message?: string; increment?: number }): void {
    this.reports.push(value);
  }
  get total(): number {
    return this.reports.reduce((sum, report) => sum + (report.increment ?? 0), 0);
  }
}

test('begin, report and end become messages and increments', () => {
  const sink = new RecordingSink();
  const tracker = new ProgressTracker(sink);
  tracker.handle({ kind: 'begin', title: 'Running portrait.json', percentage: 0 });
  tracker.handle({ kind: 'report', message: 'step 1/2: load', percentage: 10 });
  tracker.handle({ kind: 'report', message: 'denoising 5/20', percentage: 35 });
  tracker.handle({ kind: 'report', percentage: 100 });
  tracker.handle({ kind: 'end', message: 'done' });
  assert.deepEqual(sink.reports, [
    { message: 'Running portrait.json' },
    { message: 'step 1/2: load', increment: 10 },
    { message: 'denoising 5/20', increment: 25 },
    { increment: 65 },
    { message: 'done' },
  ]);
  assert.equal(sink.total, 100);
  assert.ok(tracker.done);
});

test('a percentage that goes back only changes the message', () => {
  const sink = new RecordingSink();
  const tracker = new ProgressTracker(sink);
  tracker.handle({ kind: 'begin', title: 't', message: 'starting', percentage: 50 });
  tracker.handle({ kind: 'report', message: 'step 2', percentage: 20 });
  tracker.handle({ kind: 'report', percentage: 10 });
  assert.deepEqual(sink.reports, [{ message: 'starting', increment: 50 }, { message: 'step 2' }]);
});

test('percentages are clamped to 0..100', () => {
  const sink = new RecordingSink();
  const tracker = new ProgressTracker(sink);
  tracker.handle({ kind: 'report', percentage: -5 });
  tracker.handle({ kind: 'report', percentage: 250 });
  assert.equal(sink.total, 100);
});

test('values after end and unknown shapes are ignored', () => {
  const sink = new RecordingSink();
  const tracker = new ProgressTracker(sink);
  tracker.handle(null);
  tracker.handle('begin');
  tracker.handle({ kind: 'other', percentage: 10 });
  tracker.handle({ kind: 'report', percentage: 'ten' });
  tracker.handle({ kind: 'end' });
  tracker.handle({ kind: 'report', message: 'late', percentage: 90 });
  assert.deepEqual(sink.reports, []);
});

test('readWorkDoneProgress keeps only well-typed fields', () => {
  assert.deepEqual(readWorkDoneProgress({ kind: 'begin', title: 7, percentage: Number.NaN }), {
    kind: 'begin',
    title: '',
    message: undefined,
    percentage: undefined,
  });
});
