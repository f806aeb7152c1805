/**
 * The gallery of a sweep's results: one card per run with its images and the arguments that made
 * them, as the HTML of a plain webview beside the workflow.
 *
 * The page is static: no script at all (`enableScripts` stays off), a Content Security Policy
 * that allows nothing but the webview's own images and one inline style block (by nonce), and
 * every text from the server (arguments, errors, file names) HTML-escaped, so a prompt such as
 * `<img src=x onerror=...>` is shown, never run. Only images inside the sweep's own folder are
 * shown: that folder is the webview's only local resource root. Pure: the webview's URIs come
 * through `GalleryContext`; imports nothing from `vscode`.
 */

import * as path from 'node:path';

import type { SweepResult, SweepRun } from './sweep';

const IMAGE = /\.(png|jpe?g|webp|gif|bmp)$/i;

/** What the page needs from its webview. */
export interface GalleryContext {
  /** The webview's `cspSource` (where its resources may come from). */
  readonly cspSource: string;
  /** A nonce for the page's one style block. */
  readonly nonce: string;
  /** The webview URI of a local file (`webview.asWebviewUri`). */
  toUri(file: string): string;
}

/** `&`, `<`, `>`, `"` and `'` as entities: safe in text and in quoted attributes. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${String(c.charCodeAt(0))};`);
}

/** Whether `file` lies inside `folder` (after resolving `.` and `..`). */
export function isInside(file: string, folder: string): boolean {
  const relative = path.relative(path.resolve(folder), path.resolve(file));
  return relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative);
}

/** The images of a run that the gallery may show: image files inside the sweep's folder. */
export function galleryImages(run: SweepRun, folder: string): string[] {
  return run.result.outputs.filter((output) => IMAGE.test(output) && isInside(output, folder));
}

/** The Content Security Policy of the page: images and the nonce'd style, nothing else. */
export function contentSecurityPolicy(context: GalleryContext): string {
  return [`default-src 'none'`, `img-src ${context.cspSource}`, `style-src 'nonce-${context.nonce}'`].join('; ');
}

function formatValue(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function card(run: SweepRun, folder: string, context: GalleryContext): string {
  const images = galleryImages(run, folder)
    .map((file) => {
      const name = escapeHtml(path.basename(file));
      return `<img src="${escapeHtml(context.toUri(file))}" alt="${name}" title="${name}">`;
    })
    .join('');
  const rows = Object.entries(run.arguments)
    .map(([name, value]) => `<tr><th>${escapeHtml(name)}</th><td>${escapeHtml(formatValue(value))}</td></tr>`)
    .join('');
  const status = run.result.status;
  const problem =
    status === 'ok'
      ? images === ''
        ? '<p class="note">no image</p>'
        : ''
      : `<p class="problem">${escapeHtml(status === 'cancelled' ? 'cancelled' : (run.result.error?.message ?? 'failed'))}</p>`;
  return `<figure class="run ${escapeHtml(status)}" data-run="${String(run.index)}">${images}${problem}<figcaption><span class="index">run ${String(run.index)}</span><table>${rows}</table></figcaption></figure>`;
}

const STYLE = `
body { font-family: var(--vscode-font-family); color: var(--vscode-foreground); padding: 0 12px; }
h1 { font-size: 1.1em; font-weight: 600; }
.summary { color: var(--vscode-descriptionForeground); }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(180px, 1fr)); gap: 12px; }
.run { margin: 0; padding: 8px; border: 1px solid var(--vscode-panel-border); border-radius: 4px; }
.run img { width: 100%; height: auto; image-rendering: pixelated; display: block; margin-bottom: 4px; }
.run.error, .run.cancelled { opacity: 0.8; }
.problem { color: var(--vscode-errorForeground); white-space: pre-wrap; }
.note { color: var(--vscode-descriptionForeground); }
.index { font-weight: 600; }
table { border-collapse: collapse; font-size: 0.9em; }
th { text-align: left; padding-right: 6px; color: var(--vscode-descriptionForeground); font-weight: normal; }
td { word-break: break-word; }
`;

/** The whole page for a finished sweep. */
export function galleryHtml(result: SweepResult, summary: string, context: GalleryContext): string {
  const folder = result.folder ?? '';
  const cards =
    folder === ''
      ? '<p class="note">The sweep has no output folder.</p>'
      : [...result.runs]
          .sort((a, b) => a.index - b.index)
          .map((run) => card(run, folder, context))
          .join('\n');
  const title = `Sweep of ${result.name || 'a workflow'}`;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${escapeHtml(contentSecurityPolicy(context))}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>${escapeHtml(title)}</title>
<style nonce="${escapeHtml(context.nonce)}">${STYLE}</style>
</head>
<body>
<h1>${escapeHtml(title)}</h1>
<p class="summary">${escapeHtml(summary)}${folder !== '' ? ` &middot; ${escapeHtml(folder)}` : ''}</p>
<div class="grid">
${cards}
</div>
</body>
</html>
`;
}
