/**
 * The status bar item for the worker: its state (stopped, starting, ready, busy, errored) and
 * memory, from `dw.status` and `dw.memory`. Refreshed after runs and commands, and every few
 * seconds only while the worker is starting or busy, or a run is in progress. A run this editor
 * started shows as busy from its first moment (`statusBarView`), not after the next poll.
 */

import * as vscode from 'vscode';

import { parseMemory, parseStatus, statusBarView, type MemoryReport, type StatusReport } from './results';
import { DW } from './serverCommands';

const POLL_MS = 3000;

/** What the status bar needs from the server. */
export interface StatusSource {
  readonly running: boolean;
  executeCommand(command: string, argument: object): Promise<unknown>;
}

export class WorkerStatusBar implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private inFlight: Promise<void> | undefined;
  private again = false;
  private disposed = false;
  private runInProgress = false;

  constructor(private readonly source: StatusSource) {
    this.item = vscode.window.createStatusBarItem('dwLsp.worker', vscode.StatusBarAlignment.Left, 10);
    this.item.name = 'dw-lsp worker';
    this.item.command = 'dwLsp.showStatus';
    this.show(undefined, undefined);
  }

  /** Poll while this extension's run is in progress, whatever state the last answer said. */
  setRunInProgress(running: boolean): void {
    this.runInProgress = running;
    void this.refresh();
  }

  /** Ask the server for status and memory and show them; overlapping calls are merged. */
  refresh(): Promise<void> {
    if (this.inFlight !== undefined) {
      this.again = true;
      return this.inFlight;
    }
    this.inFlight = this.update().finally(() => {
      this.inFlight = undefined;
      if (this.again) {
        this.again = false;
        void this.refresh();
      }
    });
    return this.inFlight;
  }

  dispose(): void {
    this.disposed = true;
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
    }
    this.item.dispose();
  }

  private async update(): Promise<void> {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (!this.source.running) {
      this.show(undefined, undefined);
      return;
    }
    let status: StatusReport | undefined;
    let memory: MemoryReport | undefined;
    try {
      status = parseStatus(await this.source.executeCommand(DW.status, {}));
      if (status?.state === 'ready' || status?.state === 'busy') {
        memory = parseMemory(await this.source.executeCommand(DW.memory, {}));
      }
    } catch {
      // The server is restarting or does not answer yet; the next refresh will tell.
    }
    if (this.disposed) {
      return;
    }
    this.show(status, memory);
    if (this.runInProgress || status?.state === 'starting' || status?.state === 'busy') {
      this.timer = setTimeout(() => {
        void this.refresh();
      }, POLL_MS);
    }
  }

  private show(status: StatusReport | undefined, memory: MemoryReport | undefined): void {
    const view = statusBarView(status, memory, this.runInProgress);
    this.item.text = view.text;
    this.item.tooltip = view.tooltip;
    this.item.backgroundColor =
      status?.state === 'errored' ? new vscode.ThemeColor('statusBarItem.errorBackground') : undefined;
    if (this.source.running) {
      this.item.show();
    }
  }
}
