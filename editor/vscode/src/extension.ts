/**
 * Entry point: wires the output channel, the language client, the workflow tracker, the status
 * bar and the commands together. Behaviour lives in the modules it wires.
 */

import * as vscode from 'vscode';

import { ServerClient } from './client';
import { Commands } from './commands';
import { WorkerStatusBar } from './statusBar';
import { WorkflowContext } from './workflowContext';

// `deactivate` must return the server's stop promise, so the client is kept here.
let server: ServerClient | undefined;

export function activate(context: vscode.ExtensionContext): void {
  const output = vscode.window.createOutputChannel('dw-lsp', { log: true });
  server = new ServerClient(context, output);
  const workflows = new WorkflowContext();
  const statusBar = new WorkerStatusBar(server);
  const commands = new Commands({ context, server, output, statusBar, workflows });
  const client = server;
  context.subscriptions.push(
    output,
    workflows,
    statusBar,
    ...commands.register(),
    // The server starts once a workflow is open, not for every JSON file VS Code shows.
    workflows.onDidOpenWorkflow(() => {
      client.autoStart();
    }),
    client.onDidChangeRunning(() => {
      void statusBar.refresh();
    }),
  );
  workflows.scanOpenDocuments();
}

export async function deactivate(): Promise<void> {
  const stopping = server;
  server = undefined;
  if (stopping !== undefined) {
    await stopping.stop();
    stopping.dispose();
  }
}
