/**
 * The extension's commands (`dwLsp.*`): each checks what the editor must check (trust, a saved
 * workflow file), calls the server command named in `serverCommands.json`, and shows the answer.
 * The code lenses run these too (`lenses.ts`), with the workflow's URI as the resource. A run is
 * `run.ts` and a sweep `sweep.ts` (its gallery `galleryPanel.ts`); this module adapts VS Code to
 * their `RunHost` and `ResultUi`. One run or sweep at a time per window.
 */

import * as path from 'node:path';
import * as vscode from 'vscode';

import { formatArguments, parseArguments, type WorkflowArguments } from './arguments';
import type { ServerClient } from './client';
import { showGallery } from './galleryPanel';
import { commandFailure, formatMemory, formatStatus, parseMemory, parseStatus, summarizeRun } from './results';
import { presentRunResult, runWorkflow, SHOW_LOG, type ResultUi, type RunHost } from './run';
import { COMMANDS_NEEDING_TRUST, DW } from './serverCommands';
import { SECTION } from './settings';
import type { WorkerStatusBar } from './statusBar';
import { parseGrid, runSweep, summarizeSweep, type Grid } from './sweep';
import { trustedOrWarn } from './trust';
import type { WorkflowContext } from './workflowContext';

export const RUNNING_CONTEXT = 'dwLsp.running';

const CANCEL_RUN = 'Cancel Run';

/** A plain run, a run with arguments asked for, or a smoke run on stand-in models. */
type RunKind = 'plain' | 'arguments' | 'smoke';

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export interface CommandDeps {
  readonly context: vscode.ExtensionContext;
  readonly server: ServerClient;
  readonly output: vscode.OutputChannel;
  readonly statusBar: WorkerStatusBar;
  readonly workflows: WorkflowContext;
}

/** Holds the one run in progress; registers every command. */
export class Commands {
  private running = false;

  constructor(private readonly deps: CommandDeps) {}

  register(): vscode.Disposable[] {
    const handlers: Record<string, (resource?: unknown) => Promise<void>> = {
      'dwLsp.run': (resource) => this.run(resource, 'plain'),
      'dwLsp.runWithArguments': (resource) => this.run(resource, 'arguments'),
      'dwLsp.smokeRun': (resource) => this.run(resource, 'smoke'),
      'dwLsp.runSweep': (resource) => this.sweep(resource),
      'dwLsp.cancel': () => this.cancel(),
      'dwLsp.showMemory': () => this.showMemory(),
      'dwLsp.clearMemory': () => this.simple(DW.clear, 'Memory cleared: every cached pipeline was released.'),
      'dwLsp.showStatus': () => this.showStatus(),
      'dwLsp.setArguments': (resource) => this.setArguments(resource),
      'dwLsp.clearArguments': (resource) => this.clearArguments(resource),
      'dwLsp.restartWorker': () => this.simple(DW.restartWorker, 'Worker restarted.'),
      'dwLsp.restartServer': () => this.restartServer(),
      'dwLsp.showLog': () => {
        this.deps.output.show(true);
        return Promise.resolve();
      },
    };
    return Object.entries(handlers).map(([id, handler]) =>
      vscode.commands.registerCommand(id, async (resource?: unknown) => {
        // Checked here, whoever invokes the command (palette, lens, keybinding, another
        // extension): the manifest's `enablement` only hides and greys it.
        if (COMMANDS_NEEDING_TRUST.includes(id) && !trustedOrWarn()) {
          return;
        }
        try {
          await handler(resource);
        } catch (error) {
          this.deps.output.appendLine(`${id} failed: ${errorMessage(error)}`);
          void this.showError(`dw-lsp: ${errorMessage(error)}`);
        }
      }),
    );
  }

  private async run(resource: unknown, kind: RunKind): Promise<void> {
    await this.exclusively(() => this.runDocument(resource, kind));
  }

  private async sweep(resource: unknown): Promise<void> {
    await this.exclusively(() => this.sweepDocument(resource));
  }

  /** One run or sweep at a time from this window; a second is offered Cancel instead. */
  private async exclusively(task: () => Promise<void>): Promise<void> {
    if (this.running) {
      const choice = await vscode.window.showInformationMessage('dw-lsp: a run is already in progress.', CANCEL_RUN);
      if (choice === CANCEL_RUN) {
        await this.cancel();
      }
      return;
    }
    // Taken before the first await so that a second Run cannot slip in while this one asks.
    this.running = true;
    try {
      await task();
    } finally {
      this.running = false;
    }
  }

  /** The workflow a run is about, as a file; undefined (the user is told) when it is not one. */
  private async workflowFile(resource: unknown): Promise<vscode.TextDocument | undefined> {
    const document = await this.workflowDocument(resource);
    if (document !== undefined && document.uri.scheme !== 'file') {
      void vscode.window.showWarningMessage('Save the workflow to a file before running it.');
      return undefined;
    }
    return document;
  }

  /** Save before running (the server runs the saved file); false (the user is told) on failure. */
  private async saved(document: vscode.TextDocument): Promise<boolean> {
    if (document.isDirty && !(await document.save())) {
      void vscode.window.showErrorMessage(`Could not save ${path.basename(document.uri.fsPath)}; the run was not started.`);
      return false;
    }
    return true;
  }

  private async runDocument(resource: unknown, kind: RunKind): Promise<void> {
    const document = await this.workflowFile(resource);
    if (document === undefined) {
      return;
    }
    const askArguments = kind === 'arguments';
    const args = askArguments ? await this.askArguments(document, 'Run with arguments') : undefined;
    if ((askArguments && args === undefined) || !(await this.saved(document))) {
      return;
    }
    const host = await this.runHost();
    if (host === undefined) {
      return;
    }
    const name = path.basename(document.uri.fsPath);
    const smoke = kind === 'smoke';
    const what = smoke ? 'Smoke run (stand-in models) of' : 'Running';
    const title = smoke ? `dw: smoke run of ${name} (stand-in models)` : `dw: running ${name}`;
    this.deps.output.appendLine(`${what} ${document.uri.fsPath}${args !== undefined ? ` with ${formatArguments(args)}` : ''}`);
    const result = await this.whileRunning(() =>
      runWorkflow(host, { uri: document.uri.toString(), arguments: args, standIn: smoke || undefined, title }),
    );
    const folder = vscode.workspace.getWorkspaceFolder(document.uri);
    // Not awaited: a notification's promise settles only when it is dismissed, and the next run
    // must not wait for that.
    presentRunResult(result, this.resultUi(), {
      openOutput: vscode.workspace.getConfiguration(SECTION, document.uri).get<boolean>('openOutputAfterRun', true),
      baseDir: folder?.uri.fsPath ?? path.dirname(document.uri.fsPath),
    }).catch((error: unknown) => {
      this.deps.output.appendLine(`Showing the run's result failed: ${errorMessage(error)}`);
    });
  }

  private async sweepDocument(resource: unknown): Promise<void> {
    const document = await this.workflowFile(resource);
    const grid = document !== undefined ? await this.askGrid(document) : undefined;
    if (document === undefined || grid === undefined || !(await this.saved(document))) {
      return;
    }
    const host = await this.runHost();
    if (host === undefined) {
      return;
    }
    const name = path.basename(document.uri.fsPath);
    this.deps.output.appendLine(`Sweep of ${document.uri.fsPath} over ${JSON.stringify(grid)}`);
    const result = await this.whileRunning(() =>
      runSweep(host, { uri: document.uri.toString(), grid, title: `dw: sweep of ${name}` }),
    );
    const summary = summarizeSweep(result);
    this.deps.output.appendLine(summary);
    for (const run of result.runs) {
      this.deps.output.appendLine(`  run ${String(run.index)} ${JSON.stringify(run.arguments)}: ${summarizeRun(run.result)}`);
    }
    if (result.runs.some((run) => run.result.outputs.length > 0)) {
      showGallery(result, summary);
    }
    const show = result.status === 'error' ? vscode.window.showErrorMessage : vscode.window.showInformationMessage;
    void show(`dw-lsp: ${summary}`, SHOW_LOG).then((choice) => {
      if (choice === SHOW_LOG) {
        this.deps.output.show(true);
      }
    });
  }

  /** Ask for the grid (`name=v1,v2; ...`); undefined when the user cancels. Remembered per file. */
  private async askGrid(document: vscode.TextDocument): Promise<Grid | undefined> {
    const key = `dwLsp.sweep:${document.uri.toString()}`;
    const text = await vscode.window.showInputBox({
      title: `Run sweep: ${path.basename(document.uri.fsPath)}`,
      prompt: 'name=v1,v2 for each variable to vary, separated by ";" (every combination runs once)',
      placeHolder: 'prompt=a fox,an owl; steps=4,8',
      value: this.deps.context.workspaceState.get<string>(key, ''),
      ignoreFocusOut: true,
      validateInput: (value) => {
        const parsed = parseGrid(value);
        return parsed.ok ? undefined : parsed.error;
      },
    });
    const parsed = text === undefined ? undefined : parseGrid(text);
    if (text === undefined || parsed === undefined || !parsed.ok) {
      return undefined;
    }
    await this.deps.context.workspaceState.update(key, text);
    return parsed.grid;
  }

  /** The editor and language client as a run needs them; starts the server. */
  private async runHost(): Promise<RunHost | undefined> {
    const client = await this.deps.server.start();
    if (client === undefined) {
      return undefined;
    }
    return {
      executeCommand: (command, argument) => this.deps.server.executeCommand(command, argument),
      onProgress: (token, handler) => this.deps.server.onProgress(client, token, handler),
      withProgress: (title, task) =>
        Promise.resolve(
          vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title, cancellable: true }, (progress, token) =>
            task(progress, token),
          ),
        ),
      log: (line) => {
        this.deps.output.appendLine(line);
      },
    };
  }

  /** `task` with the running context and the busy status bar set around it. */
  private async whileRunning<T>(task: () => Promise<T>): Promise<T> {
    await vscode.commands.executeCommand('setContext', RUNNING_CONTEXT, true);
    this.deps.statusBar.setRunInProgress(true);
    try {
      return await task();
    } finally {
      this.deps.statusBar.setRunInProgress(false);
      await vscode.commands.executeCommand('setContext', RUNNING_CONTEXT, false);
    }
  }

  private async cancel(): Promise<void> {
    if (!this.deps.server.running) {
      void vscode.window.showInformationMessage('dw-lsp: no run in progress (the server is not running).');
      return;
    }
    await this.call(DW.cancel, {});
    void this.deps.statusBar.refresh();
  }

  private async showMemory(): Promise<void> {
    const memory = parseMemory(await this.deps.server.executeCommand(DW.memory, {}));
    const line = memory !== undefined ? formatMemory(memory) : 'the server returned no memory report';
    this.deps.output.appendLine(`Memory: ${line}`);
    void vscode.window.showInformationMessage(`dw-lsp memory: ${line}`);
    void this.deps.statusBar.refresh();
  }

  private async showStatus(): Promise<void> {
    const status = parseStatus(await this.deps.server.executeCommand(DW.status, {}));
    let line = status !== undefined ? formatStatus(status) : 'the server returned no status';
    if (status?.state === 'ready' || status?.state === 'busy') {
      const memory = parseMemory(await this.deps.server.executeCommand(DW.memory, {}));
      if (memory !== undefined) {
        // The status already counts this workflow's runs; the worker's total would repeat it.
        line += `; ${formatMemory(memory, { runs: false })}`;
      }
    }
    this.deps.output.appendLine(`Status: ${line}`);
    void vscode.window.showInformationMessage(`dw-lsp: ${line}`, SHOW_LOG).then((choice) => {
      if (choice === SHOW_LOG) {
        this.deps.output.show(true);
      }
    });
    void this.deps.statusBar.refresh();
  }

  private async setArguments(resource: unknown): Promise<void> {
    const document = await this.workflowDocument(resource);
    if (document === undefined) {
      return;
    }
    const args = await this.askArguments(document, 'Set arguments for later runs');
    if (args === undefined || Object.keys(args).length === 0) {
      return;
    }
    await this.call(DW.setArguments, { uri: document.uri.toString(), arguments: args });
    void vscode.window.showInformationMessage(`dw-lsp: arguments set: ${Object.keys(args).join(', ')}.`);
  }

  private async clearArguments(resource: unknown): Promise<void> {
    const document = await this.workflowDocument(resource);
    if (document === undefined) {
      return;
    }
    await this.call(DW.clearArguments, { uri: document.uri.toString() });
    await this.deps.context.workspaceState.update(this.argumentsKey(document), undefined);
    void vscode.window.showInformationMessage('dw-lsp: arguments cleared.');
  }

  /** Send a server command; an answer of `{status: "error"}` becomes an exception. */
  private async call(command: string, argument: object): Promise<unknown> {
    const answer = await this.deps.server.executeCommand(command, argument);
    const failure = commandFailure(answer);
    if (failure !== undefined) {
      throw new Error(failure);
    }
    return answer;
  }

  private async simple(command: string, done: string): Promise<void> {
    await this.call(command, {});
    this.deps.output.appendLine(done);
    void vscode.window.showInformationMessage(`dw-lsp: ${done}`);
    void this.deps.statusBar.refresh();
  }

  private async restartServer(): Promise<void> {
    const client = await this.deps.server.restart();
    if (client !== undefined) {
      void vscode.window.showInformationMessage('dw-lsp: server restarted.');
    }
    void this.deps.statusBar.refresh();
  }

  /** The workflow a command is about: the resource a menu passed, else the active editor's. */
  private async workflowDocument(resource: unknown): Promise<vscode.TextDocument | undefined> {
    const document =
      resource instanceof vscode.Uri
        ? await vscode.workspace.openTextDocument(resource)
        : vscode.window.activeTextEditor?.document;
    if (document === undefined) {
      void vscode.window.showWarningMessage('dw-lsp: open a workflow file first.');
      return undefined;
    }
    if (!this.deps.workflows.isWorkflow(document)) {
      void vscode.window.showWarningMessage(
        `dw-lsp: ${path.basename(document.uri.fsPath)} is not a workflow (a JSON file with a top-level "steps" array).`,
      );
      return undefined;
    }
    return document;
  }

  private argumentsKey(document: vscode.TextDocument): string {
    return `dwLsp.arguments:${document.uri.toString()}`;
  }

  /** Ask for `name=value` pairs; undefined when the user cancels. Remembers the text per file. */
  private async askArguments(document: vscode.TextDocument, title: string): Promise<WorkflowArguments | undefined> {
    const key = this.argumentsKey(document);
    const text = await vscode.window.showInputBox({
      title: `${title}: ${path.basename(document.uri.fsPath)}`,
      prompt: 'name=value pairs separated by spaces; quote values that have spaces: prompt="a cat" seed=3',
      placeHolder: 'prompt="a cat" seed=3',
      value: this.deps.context.workspaceState.get<string>(key, ''),
      ignoreFocusOut: true,
      validateInput: (value) => {
        const parsed = parseArguments(value);
        return parsed.ok ? undefined : parsed.error;
      },
    });
    if (text === undefined) {
      return undefined;
    }
    const parsed = parseArguments(text);
    if (!parsed.ok) {
      return undefined;
    }
    await this.deps.context.workspaceState.update(key, text);
    return parsed.arguments;
  }

  private async showError(message: string): Promise<void> {
    if ((await vscode.window.showErrorMessage(message, SHOW_LOG)) === SHOW_LOG) {
      this.deps.output.show(true);
    }
  }

  private resultUi(): ResultUi {
    return {
      showInformation: (message, ...actions) => Promise.resolve(vscode.window.showInformationMessage(message, ...actions)),
      showError: (message, ...actions) => Promise.resolve(vscode.window.showErrorMessage(message, ...actions)),
      openBeside: async (file) => {
        await vscode.commands.executeCommand('vscode.open', vscode.Uri.file(file), vscode.ViewColumn.Beside);
      },
      showLog: () => {
        this.deps.output.show(true);
      },
      log: (line) => {
        this.deps.output.appendLine(line);
      },
    };
  }
}
