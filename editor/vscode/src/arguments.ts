/**
 * Parses the `name=value ...` text of "Run with arguments..." into workflow arguments.
 *
 * Values may be quoted with `"` or `'` to hold spaces (`prompt="a cat" steps=3`); inside double
 * quotes `\"` and `\\` are escapes. Values stay strings: the server converts them to each
 * variable's declared type and reports values that do not convert. Names follow the server's
 * rule `^[A-Za-z_][A-Za-z0-9_-]*$` (at most 100 characters). Pure: imports nothing from `vscode`.
 */

export type WorkflowArguments = Record<string, string>;

export type ParseResult =
  | { readonly ok: true; readonly arguments: WorkflowArguments }
  | { readonly ok: false; readonly error: string };

const NAME = /^[A-Za-z_][A-Za-z0-9_-]*$/;
const MAX_NAME_LENGTH = 100;
const WHITESPACE = /\s/;

/** Why `name` is not a valid argument name, or undefined when it is. */
export function checkArgumentName(name: string): string | undefined {
  if (name.length === 0) {
    return 'an argument needs a name before "="';
  }
  if (name.length > MAX_NAME_LENGTH) {
    return `argument name "${name.slice(0, 20)}..." is longer than ${MAX_NAME_LENGTH} characters`;
  }
  if (!NAME.test(name)) {
    return `"${name}" is not a valid argument name: use letters, digits, "_" and "-", not starting with a digit or "-"`;
  }
  return undefined;
}

/** Parse `name=value` pairs separated by whitespace; empty text gives no arguments. */
export function parseArguments(text: string): ParseResult {
  const args: WorkflowArguments = {};
  const n = text.length;
  let i = 0;
  for (;;) {
    while (i < n && WHITESPACE.test(text.charAt(i))) {
      i += 1;
    }
    if (i >= n) {
      return { ok: true, arguments: args };
    }
    const start = i;
    while (i < n && text.charAt(i) !== '=' && !WHITESPACE.test(text.charAt(i))) {
      i += 1;
    }
    const name = text.slice(start, i);
    if (i >= n || text.charAt(i) !== '=') {
      return { ok: false, error: `"${name}" is not of the form name=value` };
    }
    const nameError = checkArgumentName(name);
    if (nameError !== undefined) {
      return { ok: false, error: nameError };
    }
    i += 1;
    let value = '';
    while (i < n && !WHITESPACE.test(text.charAt(i))) {
      const c = text.charAt(i);
      if (c !== '"' && c !== "'") {
        value += c;
        i += 1;
        continue;
      }
      i += 1;
      let closed = false;
      while (i < n) {
        const q = text.charAt(i);
        if (q === c) {
          closed = true;
          i += 1;
          break;
        }
        const next = text.charAt(i + 1);
        if (q === '\\' && c === '"' && (next === '"' || next === '\\')) {
          value += next;
          i += 2;
          continue;
        }
        value += q;
        i += 1;
      }
      if (!closed) {
        return { ok: false, error: `the value of "${name}" has an unclosed ${c} quote` };
      }
    }
    if (Object.prototype.hasOwnProperty.call(args, name)) {
      return { ok: false, error: `"${name}" is given twice` };
    }
    args[name] = value;
  }
}

/** Write arguments back as text that `parseArguments` reads to the same values. */
export function formatArguments(args: Readonly<Record<string, unknown>>): string {
  return Object.entries(args)
    .map(([name, raw]) => {
      const value = typeof raw === 'string' ? raw : JSON.stringify(raw);
      if (value !== '' && !/[\s"'\\]/.test(value)) {
        return `${name}=${value}`;
      }
      return `${name}="${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
    })
    .join(' ');
}
