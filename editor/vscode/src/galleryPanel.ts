/**
 * Shows a sweep's gallery (`gallery.ts`) in a webview panel beside the workflow: scripts off,
 * the sweep's own folder as the only local resource root, a fresh nonce per page. One panel per
 * sweep; closing it loses nothing (the images and `sweep.json` stay in the output folder).
 */

import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import * as vscode from 'vscode';

import { galleryHtml } from './gallery';
import type { SweepResult } from './sweep';

export const GALLERY_VIEW_TYPE = 'dwLsp.gallery';

/** Open the gallery of `result` beside the active editor; undefined when it has no folder. */
export function showGallery(result: SweepResult, summary: string): vscode.WebviewPanel | undefined {
  if (result.folder === undefined) {
    return undefined;
  }
  const folder = vscode.Uri.file(result.folder);
  const panel = vscode.window.createWebviewPanel(
    GALLERY_VIEW_TYPE,
    `Sweep: ${result.name || path.basename(result.folder)}`,
    { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true },
    { enableScripts: false, enableForms: false, localResourceRoots: [folder] },
  );
  const webview = panel.webview;
  webview.html = galleryHtml(result, summary, {
    cspSource: webview.cspSource,
    nonce: randomBytes(16).toString('base64'),
    toUri: (file) => webview.asWebviewUri(vscode.Uri.file(file)).toString(),
  });
  return panel;
}
