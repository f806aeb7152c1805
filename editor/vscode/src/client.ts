/**
 * Builds, starts, restarts and stops the LanguageClient for `python -m dw_lsp` (stdio).
 *
 * The interpreter comes from `interpreter.ts`; before each start a short probe (`startup.ts`)
 * checks that it exists and has dw-lsp, so the user gets a message that says how to fix it
 * instead of "server exited". Settings reach the server without the extension-only keys.
 *
 * Workspace trust: the interpreter and the execution settings (`settings.ts`) are read from the
 * user's own settings only and sent in `initializationOptions` with `trusted`; a change to them,
 * or trust being granted, restarts the server. In an untrusted workspace the server is told not
 * to pre-warm, and the server commands that run or start the worker are refused whoever invokes
 * them. Code lenses run the extension's commands (`lenses.ts`), so a lens behaves like the
 * palette. The server's stderr is logged at each record's own level (`serverLog.ts`).
 */

import * as os from 'node:os';
import * as readline from 'node:readline';
import * as vscode from 'vscode';
import {
  DidChangeConfigurationNotification,
  ExecuteCommandRequest,
  LanguageClient,
  ResponseError,
  WorkDoneProgress,
  type LanguageClientOptions,
  type ServerOptions,
} from 'vscode-languageclient/node';

import { describeInterpreter, pythonFromExtension, resolveInterpreter, SERVER_ARGS, type Interpreter, type PythonExtensionApi } from './interpreter';
import { throughExtension } from './lenses';
import { NEEDS_TRUST } from './serverCommands';
import { StderrReader } from './serverLog';
import {
  collectServerSettings,
  configurationForServer,
  executionSettingKeys,
  initializationOptions,
  SECTION,
  serverSettingKeys,
} from './settings';
import { diagnoseProbe, probeInterpreter, type StartProblem } from './startup';
import { trustedOrWarn } from './trust';

const PYTHON_EXTENSION_ID = 'ms-python.python';

/** ms-python.python's API, with the event this module listens to. */
interface PythonExtensionEvents extends PythonExtensionApi {
  readonly environments?: PythonExtensionApi['environments'] & {
    readonly onDidChangeActiveEnvironmentPath?: vscode.Event<unknown>;
  };
}

const COPY_COMMAND = 'Copy Install Command';
const SELECT_INTERPRETER = 'Select Interpreter';
const OPEN_SETTINGS = 'Open Settings';
const SHOW_LOG = 'Show Log';

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * A setting's value from the user's (or the remote machine's) settings, else its default; never
 * a workspace's or a folder's value.
 */
function userValue(config: vscode.WorkspaceConfiguration, key: string): unknown {
  const inspected = config.inspect(key);
  return inspected?.globalValue ?? inspected?.defaultValue;
}

export class ServerClient implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private interpreter: Interpreter | undefined;
  private starting: Promise<LanguageClient | undefined> | undefined;
  /** The last start problem shown, so that opening more files does not repeat it. */
  private shownProblem: string | undefined;
  /** Set when the last start failed; documents opening then do not retry, commands do. */
  private startFailed = false;
  private watchingPythonExtension = false;
  private readonly runningEmitter = new vscode.EventEmitter<boolean>();
  private readonly disposables: { dispose(): unknown }[] = [this.runningEmitter];

  /** Fires when the server starts or stops. */
  readonly onDidChangeRunning = this.runningEmitter.event;

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly output: vscode.LogOutputChannel,
  ) {
    this.disposables.push(
      vscode.workspace.onDidChangeConfiguration((event) => {
        this.onDidChangeConfiguration(event);
      }),
      // The server was told the workspace is untrusted (no runs, no worker): start it afresh.
      vscode.workspace.onDidGrantWorkspaceTrust(() => {
        if (this.client !== undefined || this.startFailed) {
          this.output.appendLine('The workspace is trusted now; restarting the server.');
          void this.restart();
        }
      }),
    );
  }

  get running(): boolean {
    return this.client?.isRunning() ?? false;
  }

  /** Start the server unless it runs; undefined when it cannot start (the user has been told). */
  start(): Promise<LanguageClient | undefined> {
    if (this.client?.isRunning() === true) {
      return Promise.resolve(this.client);
    }
    this.starting ??= this.startClient().finally(() => {
      this.starting = undefined;
    });
    return this.starting;
  }

  /** Start for a workflow that was opened, unless the last start failed (a command retries). */
  autoStart(): void {
    if (!this.startFailed) {
      void this.start();
    }
  }

  /** Stop the server and start it again, re-reading the interpreter; shows any start problem again. */
  async restart(): Promise<LanguageClient | undefined> {
    if (this.starting !== undefined) {
      await this.starting;
    }
    await this.stop();
    this.shownProblem = undefined;
    return this.start();
  }

  async stop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client === undefined) {
      return;
    }
    try {
      await client.stop(5000);
    } catch (error) {
      this.output.appendLine(`Stopping the server: ${errorMessage(error)}`);
    }
    this.runningEmitter.fire(false);
  }

  /** `workspace/executeCommand` with one argument object; starts the server when needed. */
  async executeCommand(command: string, argument: object): Promise<unknown> {
    const client = await this.start();
    if (client === undefined) {
      throw new Error('the dw-lsp language server is not running; see the dw-lsp log');
    }
    return client.sendRequest(ExecuteCommandRequest.type, { command, arguments: [argument] });
  }

  /** Listen to `$/progress` for a token this extension created. */
  onProgress(client: LanguageClient, token: string, handler: (value: unknown) => void): vscode.Disposable {
    return client.onProgress(WorkDoneProgress.type, token, handler);
  }

  dispose(): void {
    void this.stop();
    for (const disposable of this.disposables) {
      disposable.dispose();
    }
  }

  private async startClient(): Promise<LanguageClient | undefined> {
    if (this.client !== undefined) {
      // A client that stopped (the server crashed too often) is replaced, not revived.
      await this.stop();
    }
    const interpreter = await this.findInterpreter();
    this.interpreter = interpreter;
    this.output.appendLine(`Starting the dw-lsp server: ${describeInterpreter(interpreter)} ${SERVER_ARGS.join(' ')}`);
    const problem = diagnoseProbe(interpreter.command, await probeInterpreter(interpreter.command));
    if (problem !== undefined) {
      this.startFailed = true;
      this.output.appendLine(`Cannot start the server: ${problem.message}`);
      void this.showProblem(problem);
      return undefined;
    }
    const client = new LanguageClient('dwLsp', 'dw-lsp', this.serverOptions(interpreter), this.clientOptions());
    this.client = client;
    client.onDidChangeState(() => {
      this.runningEmitter.fire(client.isRunning());
    });
    try {
      await client.start();
    } catch (error) {
      // The client has already shown its own message with a way to the log.
      this.startFailed = true;
      this.output.appendLine(`The server failed to start: ${errorMessage(error)}`);
      return undefined;
    }
    this.startFailed = false;
    this.shownProblem = undefined;
    return client;
  }

  private serverOptions(interpreter: Interpreter): ServerOptions {
    // No `transport`: the client would append `--stdio`, which `python -m dw_lsp` does not need.
    return {
      command: interpreter.command,
      args: [...SERVER_ARGS],
      options: { env: { ...process.env, PYTHONUNBUFFERED: '1' } },
    };
  }

  private clientOptions(): LanguageClientOptions {
    return {
      documentSelector: [
        { scheme: 'file', language: 'json' },
        { scheme: 'untitled', language: 'json' },
      ],
      outputChannel: this.output,
      initializationOptions: initializationOptions(this.serverSettings(), vscode.workspace.isTrusted),
      stdioOptions: {
        // Used only by transports other than stdio, where stdout carries the LSP messages.
        stdout: (input, channel) => {
          readline.createInterface({ input, crlfDelay: Infinity, terminal: false }).on('line', (line) => {
            channel.info(line);
          });
        },
        stderr: (input, channel) => {
          const reader = new StderrReader();
          readline.createInterface({ input, crlfDelay: Infinity, terminal: false }).on('line', (line) => {
            const { level, text } = reader.read(line);
            channel[level](text);
          });
        },
      },
      middleware: {
        workspace: {
          configuration: async (params, token, next) => {
            const result = await next(params, token);
            if (result instanceof ResponseError || !Array.isArray(result)) {
              return result;
            }
            return result.map((value: unknown, index) =>
              params.items[index]?.section === SECTION
                ? configurationForServer(value, this.executionKeys(), vscode.workspace.isTrusted)
                : value,
            );
          },
        },
        provideCodeLenses: async (document, token, next) => {
          const lenses = await next(document, token);
          return lenses?.map((lens) => this.lensThroughExtension(lens, document.uri));
        },
        resolveCodeLens: async (lens, token, next) => {
          const resolved = await next(lens, token);
          return resolved === null || resolved === undefined ? resolved : this.lensThroughExtension(resolved, undefined);
        },
        // vscode-languageclient registers each server command as a VS Code command, which a
        // keybinding or another extension can invoke; those that run or start the worker need
        // trust. (The extension's own requests, `ServerClient.executeCommand`, bypass this:
        // its commands check trust themselves.)
        executeCommand: (command, args, next): vscode.ProviderResult<unknown> => {
          if (NEEDS_TRUST.includes(command) && !trustedOrWarn()) {
            return undefined;
          }
          return next(command, args) as vscode.ProviderResult<unknown>;
        },
      },
    };
  }

  private lensThroughExtension(lens: vscode.CodeLens, document: vscode.Uri | undefined): vscode.CodeLens {
    if (lens.command === undefined) {
      return lens;
    }
    const command = throughExtension(lens.command, document?.toString() ?? '', (uri) => vscode.Uri.parse(uri));
    return new vscode.CodeLens(lens.range, command);
  }

  private executionKeys(): string[] {
    return executionSettingKeys(this.context.extension.packageJSON);
  }

  /**
   * The server's settings from the `dwLsp` section, nested as VS Code gives a section; the
   * execution settings from the user's (or remote machine's) settings only.
   */
  private serverSettings(): Record<string, unknown> {
    const config = vscode.workspace.getConfiguration(SECTION);
    const execution = this.executionKeys();
    return collectServerSettings(serverSettingKeys(this.context.extension.packageJSON), (key) =>
      execution.includes(key) ? userValue(config, key) : config.get(key),
    );
  }

  private async findInterpreter(): Promise<Interpreter> {
    const folder = vscode.workspace.workspaceFolders?.[0];
    const setting = userValue(vscode.workspace.getConfiguration(SECTION, folder), 'interpreter');
    const pythonExtension =
      typeof setting !== 'string' || setting.trim() === '' ? await this.pythonExtensionInterpreter(folder?.uri) : undefined;
    return resolveInterpreter({
      setting: typeof setting === 'string' ? setting : '',
      pythonExtension,
      platform: process.platform,
      expand: { workspaceFolder: folder?.uri.fsPath, home: os.homedir() },
    });
  }

  private async pythonExtensionInterpreter(resource: vscode.Uri | undefined): Promise<string | undefined> {
    const extension = vscode.extensions.getExtension<PythonExtensionEvents>(PYTHON_EXTENSION_ID);
    if (extension === undefined) {
      return undefined;
    }
    try {
      const api = extension.isActive ? extension.exports : await extension.activate();
      this.watchPythonExtension(api);
      return await pythonFromExtension(api, resource);
    } catch (error) {
      this.output.appendLine(`The Python extension did not give an interpreter: ${errorMessage(error)}`);
      return undefined;
    }
  }

  private watchPythonExtension(api: PythonExtensionEvents): void {
    const event = api.environments?.onDidChangeActiveEnvironmentPath;
    if (this.watchingPythonExtension || event === undefined) {
      return;
    }
    this.watchingPythonExtension = true;
    this.disposables.push(
      event(() => {
        if (this.interpreter?.source === 'pythonExtension' && (this.client !== undefined || this.startFailed)) {
          this.output.appendLine('The Python extension changed its environment; restarting the server.');
          void this.restart();
        }
      }),
    );
  }

  private onDidChangeConfiguration(event: vscode.ConfigurationChangeEvent): void {
    // The interpreter and the execution settings reach the server only when it starts.
    const restartKeys = ['interpreter', ...this.executionKeys()];
    if (restartKeys.some((key) => event.affectsConfiguration(`${SECTION}.${key}`))) {
      if (this.client !== undefined || this.startFailed) {
        void this.restart();
      }
      return;
    }
    const client = this.client;
    if (event.affectsConfiguration(SECTION) && client?.isRunning() === true) {
      void client.sendNotification(DidChangeConfigurationNotification.type, {
        settings: {
          [SECTION]: configurationForServer(this.serverSettings(), this.executionKeys(), vscode.workspace.isTrusted),
        },
      });
    }
  }

  private async showProblem(problem: StartProblem): Promise<void> {
    if (this.shownProblem === problem.message) {
      return;
    }
    this.shownProblem = problem.message;
    const actions: string[] = [];
    if (problem.fix !== undefined) {
      actions.push(COPY_COMMAND);
    }
    if (vscode.extensions.getExtension(PYTHON_EXTENSION_ID) !== undefined) {
      actions.push(SELECT_INTERPRETER);
    }
    actions.push(OPEN_SETTINGS, SHOW_LOG);
    const choice = await vscode.window.showErrorMessage(`dw-lsp cannot start its language server. ${problem.message}`, ...actions);
    if (choice === COPY_COMMAND && problem.fix !== undefined) {
      await vscode.env.clipboard.writeText(problem.fix);
      void vscode.window.showInformationMessage(`Copied "${problem.fix}". Run it in a terminal, then run "dw-lsp: Restart Server".`);
    } else if (choice === SELECT_INTERPRETER) {
      await vscode.commands.executeCommand('python.setInterpreter');
    } else if (choice === OPEN_SETTINGS) {
      await vscode.commands.executeCommand('workbench.action.openSettings', `${SECTION}.interpreter`);
    } else if (choice === SHOW_LOG) {
      this.output.show(true);
    }
  }
}
