/**
 * Workspace trust for commands: in Restricted Mode the commands that run a workflow or start the
 * worker (`COMMANDS_NEEDING_TRUST`, and the server commands behind them however they are
 * invoked: palette, lens, keybinding, another extension) are refused with a message that offers
 * to manage trust. Checking workflows needs no trust.
 */

import * as vscode from 'vscode';

export const MANAGE_TRUST = 'Manage Workspace Trust';
export const UNTRUSTED_MESSAGE = 'dw-lsp runs workflows only in a trusted workspace; checking them works without trust.';

/** True when the workspace is trusted; otherwise tells the user (not awaited) and returns false. */
export function trustedOrWarn(): boolean {
  if (vscode.workspace.isTrusted) {
    return true;
  }
  void vscode.window.showWarningMessage(UNTRUSTED_MESSAGE, MANAGE_TRUST).then(async (choice) => {
    if (choice === MANAGE_TRUST) {
      await vscode.commands.executeCommand('workbench.trust.manage');
    }
  });
  return false;
}
