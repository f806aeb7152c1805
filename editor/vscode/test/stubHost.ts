/**
 * A stub of the editor and the language client for the run and sweep tests (`RunHost`): it records
 * the commands sent and the progress shown, lets a test send `$/progress` for a token and press the
 * notification's Cancel, and answers each command with the test's function.
 */

import type { ProgressSink } from '../src/progress';
import type { RunHost } from '../src/run';

export class StubHost implements RunHost {
  readonly commands: { command: string; argument: object }[] = [];
  readonly progress: { message?: string; increment?: number }[] = [];
  readonly logs: string[] = [];
  handlers = new Map<string, (value: unknown) => void>();
  disposed: string[] = [];
  titles: string[] = [];
  private cancelListener: (() => void) | undefined;

  constructor(private readonly answer: (command: string, argument: object, host: StubHost) => Promise<unknown>) {}

  executeCommand(command: string, argument: object): Promise<unknown> {
    this.commands.push({ command, argument });
    return this.answer(command, argument, this);
  }

  onProgress(token: string, handler: (value: unknown) => void): { dispose(): void } {
    this.handlers.set(token, handler);
    return {
      dispose: () => {
        this.disposed.push(token);
        this.handlers.delete(token);
      },
    };
  }

  withProgress<T>(title: string, task: (sink: ProgressSink, cancellation: { onCancellationRequested(cb: () => void): unknown }) => Promise<T>): Promise<T> {
    this.titles.push(title);
    const sink = { report: (value: { message?: string; increment?: number }) => this.progress.push(value) };
    return task(sink, { onCancellationRequested: (listener) => (this.cancelListener = listener) });
  }

  pressCancel(): void {
    this.cancelListener?.();
  }

  log(line: string): void {
    this.logs.push(line);
  }

  /** Send `$/progress` for the run's token, as the server would. */
  sendProgress(token: string, value: unknown): void {
    this.handlers.get(token)?.(value);
  }
}
