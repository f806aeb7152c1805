/**
 * One run of a workflow, as the editor sees it: a notification progress fed by the server's
 * work-done progress, a Cancel button that sends `dw.cancel`, and the result shown afterwards
 * (open the image, or the error with a way to the log).
 *
 * The extension creates the progress token and passes it as `progressToken` to `dw.run`, and
 * listens to `$/progress` for that token itself: VS Code shows server-created progress only in
 * the status bar. Pure: VS Code is reached through `RunHost` and `ResultUi`, so tests drive it
 * with stubs; imports nothing from `vscode`.
 */

import { randomUUID } from 'node:crypto';
import * as path from 'node:path';

import type { WorkflowArguments } from './arguments';
import { ProgressTracker, type ProgressSink } from './progress';
import { parseRunResult, runLogLines, summarizeRun, type RunResult } from './results';
import { DW } from './serverCommands';

export interface Disposable {
  dispose(): void;
}

export interface CancellationSignal {
  onCancellationRequested(listener: () => void): unknown;
}

/** What a run needs from the editor and the language client. */
export interface RunHost {
  /** `workspace/executeCommand` with one argument object. */
  executeCommand(command: string, argument: object): Promise<unknown>;
  /** Listen to `$/progress` notifications for `token`. */
  onProgress(token: string, handler: (value: unknown) => void): Disposable;
  /** A cancellable notification progress titled `title`. */
  withProgress<T>(title: string, task: (sink: ProgressSink, cancellation: CancellationSignal) => Promise<T>): Promise<T>;
  /** A line for the log (output channel). */
  log(line: string): void;
}

export interface RunRequest {
  /** The saved workflow's URI, as the server knows the document. */
  readonly uri: string;
  /** Arguments for this run only; omitted for a plain run. */
  readonly arguments?: WorkflowArguments;
  /** A smoke run: every model stood in by a tiny one (`standIn: true`); omitted for a real run. */
  readonly standIn?: boolean;
  /** The notification's title, e.g. `dw: running portrait.json`. */
  readonly title: string;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Send `dw.run` under a notification progress and return its result; never rejects. */
export async function runWorkflow(
  host: RunHost,
  request: RunRequest,
  newToken: () => string = randomUUID,
): Promise<RunResult> {
  const progressToken = `dw-run-${newToken()}`;
  return host.withProgress(request.title, async (sink, cancellation) => {
    const tracker = new ProgressTracker(sink);
    const subscription = host.onProgress(progressToken, (value) => {
      tracker.handle(value);
    });
    cancellation.onCancellationRequested(() => {
      host.log('Cancel requested; sending dw.cancel.');
      host.executeCommand(DW.cancel, {}).catch((error: unknown) => {
        host.log(`Cancel failed: ${errorMessage(error)}`);
      });
    });
    try {
      const argument: Record<string, unknown> = { uri: request.uri, progressToken };
      if (request.arguments !== undefined) {
        argument.arguments = request.arguments;
      }
      if (request.standIn === true) {
        argument.standIn = true;
      }
      return parseRunResult(await host.executeCommand(DW.run, argument));
    } catch (error) {
      return { status: 'error', outputs: [], timings: {}, error: { message: errorMessage(error) } };
    } finally {
      subscription.dispose();
    }
  });
}

/** What showing a result needs from the editor. */
export interface ResultUi {
  showInformation(message: string, ...actions: string[]): Promise<string | undefined>;
  showError(message: string, ...actions: string[]): Promise<string | undefined>;
  /** Open a file in the column beside the workflow. */
  openBeside(file: string): Promise<void>;
  showLog(): void;
  log(line: string): void;
}

export const SHOW_LOG = 'Show Log';
export const OPEN_OUTPUT = 'Open Output';

const IMAGE = /\.(png|jpe?g|webp|gif|bmp|tiff?)$/i;

/** An output path as a file path: relative ones are taken from `baseDir`. */
export function resolveOutputPath(output: string, baseDir: string): string {
  return path.isAbsolute(output) ? output : path.resolve(baseDir, output);
}

/** The output to open after a run: the first image, else the first output. */
export function outputToOpen(outputs: readonly string[]): string | undefined {
  return outputs.find((output) => IMAGE.test(output)) ?? outputs[0];
}

export interface PresentOptions {
  /** The `dwLsp.openOutputAfterRun` setting. */
  readonly openOutput: boolean;
  /** Folder that relative output paths are resolved against. */
  readonly baseDir: string;
}

/** Log a run's result and show it: open the output, or the error with a Show Log button. */
export async function presentRunResult(result: RunResult, ui: ResultUi, options: PresentOptions): Promise<void> {
  for (const line of runLogLines(result)) {
    ui.log(line);
  }
  const summary = summarizeRun(result);
  if (result.status === 'error') {
    if ((await ui.showError(summary, SHOW_LOG)) === SHOW_LOG) {
      ui.showLog();
    }
    return;
  }
  if (result.status === 'cancelled') {
    await ui.showInformation(summary);
    return;
  }
  const output = outputToOpen(result.outputs);
  if (output === undefined) {
    await ui.showInformation(summary);
    return;
  }
  const file = resolveOutputPath(output, options.baseDir);
  if (options.openOutput) {
    await openOrReport(file, ui);
    void ui.showInformation(summary);
    return;
  }
  if ((await ui.showInformation(summary, OPEN_OUTPUT)) === OPEN_OUTPUT) {
    await openOrReport(file, ui);
  }
}

async function openOrReport(file: string, ui: ResultUi): Promise<void> {
  try {
    await ui.openBeside(file);
  } catch (error) {
    ui.log(`Could not open ${file}: ${errorMessage(error)}`);
    void ui.showError(`Could not open the output ${file}: ${errorMessage(error)}`, SHOW_LOG).then((choice) => {
      if (choice === SHOW_LOG) {
        ui.showLog();
      }
    });
  }
}
