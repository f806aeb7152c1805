/**
 * Tells whether a JSON text is a diffusers-workflow file: a top-level object with a `steps`
 * array, or whose `$schema` names the workflow schema. (Files matching `dwLsp.workflowFiles`
 * count too; that glob test is the editor's, in `workflowContext.ts`.)
 *
 * A small scanner rather than `JSON.parse`, so a file being edited (briefly invalid JSON) keeps
 * its menus. Pure: imports nothing from `vscode`.
 */

/** `$schema` values that mark a workflow: our schema file, and dw's schema `$id`. */
const SCHEMA_MARKERS: readonly RegExp[] = [/workflow\.schema\.json/, /diffusers-helper\/workflow/];

/** Texts longer than this are not scanned (the server reports oversized documents itself). */
export const MAX_SCAN_LENGTH = 8 * 1024 * 1024;

function skipWhitespace(text: string, from: number): number {
  let i = from;
  while (i < text.length && /\s/.test(text.charAt(i))) {
    i += 1;
  }
  return i;
}

/** Read the JSON string starting at the quote at `start`; returns its content and the index after it. */
function readString(text: string, start: number): { value: string; end: number } {
  let i = start + 1;
  let value = '';
  while (i < text.length) {
    const c = text.charAt(i);
    if (c === '"') {
      return { value, end: i + 1 };
    }
    if (c === '\\') {
      value += text.charAt(i + 1);
      i += 2;
      continue;
    }
    value += c;
    i += 1;
  }
  return { value, end: i };
}

/** True when `text` is a workflow by its content. */
export function looksLikeWorkflow(text: string): boolean {
  if (text.length > MAX_SCAN_LENGTH) {
    return false;
  }
  let i = skipWhitespace(text, 0);
  if (text.charAt(i) !== '{') {
    return false;
  }
  let depth = 0;
  while (i < text.length) {
    const c = text.charAt(i);
    if (c === '"') {
      const { value, end } = readString(text, i);
      i = end;
      if (depth !== 1) {
        continue;
      }
      const colon = skipWhitespace(text, i);
      if (text.charAt(colon) !== ':') {
        continue;
      }
      const next = skipWhitespace(text, colon + 1);
      if (value === 'steps' && text.charAt(next) === '[') {
        return true;
      }
      if (value === '$schema' && text.charAt(next) === '"') {
        const schema = readString(text, next).value;
        if (SCHEMA_MARKERS.some((marker) => marker.test(schema))) {
          return true;
        }
      }
      continue;
    }
    if (c === '{' || c === '[') {
      depth += 1;
    } else if (c === '}' || c === ']') {
      depth -= 1;
      if (depth === 0) {
        return false;
      }
    }
    i += 1;
  }
  return false;
}
