/**
 * Knows which open documents are workflow files and keeps the `dwLsp.isWorkflow` context key
 * (menus, command palette) in step with the active editor.
 *
 * A workflow is a JSON file that matches a `dwLsp.workflowFiles` glob (by default anything under
 * `workflows/`), or whose content says so (`workflowDetect.ts`). Fires `onDidOpenWorkflow` so the
 * extension starts the server only once a workflow is seen, not for every JSON file.
 */

import * as vscode from 'vscode';

import { SECTION } from './settings';
import { looksLikeWorkflow } from './workflowDetect';

export const IS_WORKFLOW_CONTEXT = 'dwLsp.isWorkflow';

const RECHECK_DELAY_MS = 300;

export class WorkflowContext implements vscode.Disposable {
  private readonly openedEmitter = new vscode.EventEmitter<vscode.TextDocument>();
  private readonly disposables: { dispose(): unknown }[] = [this.openedEmitter];
  private recheck: ReturnType<typeof setTimeout> | undefined;
  private activeIsWorkflow: boolean | undefined;

  /** Fires for each workflow document that is opened or becomes one. */
  readonly onDidOpenWorkflow = this.openedEmitter.event;

  constructor() {
    this.disposables.push(
      vscode.window.onDidChangeActiveTextEditor(() => {
        this.updateActive();
      }),
      vscode.workspace.onDidOpenTextDocument((document) => {
        this.announce(document);
      }),
      vscode.workspace.onDidChangeTextDocument((event) => {
        if (event.document === vscode.window.activeTextEditor?.document) {
          this.scheduleRecheck();
        }
      }),
      vscode.workspace.onDidChangeConfiguration((event) => {
        if (event.affectsConfiguration(`${SECTION}.workflowFiles`)) {
          this.updateActive();
        }
      }),
    );
  }

  /** Announce the workflows already open and set the context key for the active editor. */
  scanOpenDocuments(): void {
    for (const document of vscode.workspace.textDocuments) {
      this.announce(document);
    }
    this.updateActive();
  }

  /** True when `document` is a workflow file. */
  isWorkflow(document: vscode.TextDocument): boolean {
    if (document.languageId !== 'json') {
      return false;
    }
    const globs = vscode.workspace.getConfiguration(SECTION, document.uri).get<string[]>('workflowFiles', []);
    if (globs.some((pattern) => typeof pattern === 'string' && vscode.languages.match({ pattern }, document) > 0)) {
      return true;
    }
    return looksLikeWorkflow(document.getText());
  }

  dispose(): void {
    if (this.recheck !== undefined) {
      clearTimeout(this.recheck);
    }
    for (const disposable of this.disposables) {
      disposable.dispose();
    }
  }

  private announce(document: vscode.TextDocument): void {
    if (this.isWorkflow(document)) {
      this.openedEmitter.fire(document);
    }
  }

  private scheduleRecheck(): void {
    if (this.recheck !== undefined) {
      clearTimeout(this.recheck);
    }
    this.recheck = setTimeout(() => {
      this.recheck = undefined;
      this.updateActive();
    }, RECHECK_DELAY_MS);
  }

  private updateActive(): void {
    const document = vscode.window.activeTextEditor?.document;
    const isWorkflow = document !== undefined && this.isWorkflow(document);
    if (isWorkflow && this.activeIsWorkflow === false) {
      // A JSON file that just became a workflow (a `steps` array was typed).
      this.openedEmitter.fire(document);
    }
    if (isWorkflow !== this.activeIsWorkflow) {
      this.activeIsWorkflow = isWorkflow;
      void vscode.commands.executeCommand('setContext', IS_WORKFLOW_CONTEXT, isWorkflow);
    }
  }
}
