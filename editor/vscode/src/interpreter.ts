/**
 * Chooses the Python interpreter that runs the language server (`python -m dw_lsp`).
 *
 * Order: the `dwLsp.interpreter` setting; else the Python extension's active environment
 * (ms-python.python's `environments.getActiveEnvironmentPath()`); else `python3` (`python` on
 * Windows, where `python3` is often the Store shim). Pure: the Python extension is reached through
 * the small `PythonExtensionApi` interface, so tests pass a stub; imports nothing from `vscode`.
 */

import * as path from 'node:path';

export type InterpreterSource = 'setting' | 'pythonExtension' | 'default';

export interface Interpreter {
  readonly command: string;
  readonly source: InterpreterSource;
}

/** The part of ms-python.python's exported API this extension uses. */
export interface PythonExtensionApi {
  readonly environments?: {
    getActiveEnvironmentPath(resource?: unknown): { readonly id: string; readonly path: string } | undefined;
    resolveEnvironment?(
      environment: { readonly id: string; readonly path: string } | string,
    ): Promise<{ readonly executable?: { readonly uri?: { readonly fsPath: string } } } | undefined>;
  };
}

/** The arguments after the interpreter that start the server over stdio. */
export const SERVER_ARGS: readonly string[] = ['-m', 'dw_lsp'];

export interface ExpandContext {
  readonly workspaceFolder?: string;
  readonly home?: string;
}

/** Expand `${workspaceFolder}`, `${userHome}` and a leading `~` in a setting value. */
export function expandPath(value: string, context: ExpandContext): string {
  let result = value.trim();
  if (context.workspaceFolder !== undefined) {
    result = result.split('${workspaceFolder}').join(context.workspaceFolder);
  }
  if (context.home !== undefined) {
    result = result.split('${userHome}').join(context.home);
    if (result === '~' || result.startsWith('~/') || result.startsWith('~\\')) {
      result = path.join(context.home, result.slice(1));
    }
  }
  return result;
}

/** The interpreter named by the Python extension's active environment, if it has one. */
export async function pythonFromExtension(
  api: PythonExtensionApi | undefined,
  resource?: unknown,
): Promise<string | undefined> {
  const environments = api?.environments;
  if (environments === undefined) {
    return undefined;
  }
  const active = environments.getActiveEnvironmentPath(resource);
  if (active === undefined || active.path === '') {
    return undefined;
  }
  // For conda and some virtual environments the path is the environment's folder, so ask the
  // extension for the executable when it can tell.
  if (environments.resolveEnvironment !== undefined) {
    const resolved = await environments.resolveEnvironment(active);
    const executable = resolved?.executable?.uri?.fsPath;
    if (executable !== undefined && executable !== '') {
      return executable;
    }
  }
  return active.path;
}

/** The interpreter to use when nothing names one. */
export function defaultPython(platform: string): string {
  return platform === 'win32' ? 'python' : 'python3';
}

export interface ResolveOptions {
  /** The `dwLsp.interpreter` setting, as the user wrote it. */
  readonly setting?: string;
  /** The Python extension's interpreter, from `pythonFromExtension`. */
  readonly pythonExtension?: string;
  readonly platform: string;
  readonly expand?: ExpandContext;
}

/** Apply the order setting > Python extension > default. */
export function resolveInterpreter(options: ResolveOptions): Interpreter {
  const setting = expandPath(options.setting ?? '', options.expand ?? {});
  if (setting !== '') {
    return { command: setting, source: 'setting' };
  }
  if (options.pythonExtension !== undefined && options.pythonExtension.trim() !== '') {
    return { command: options.pythonExtension, source: 'pythonExtension' };
  }
  return { command: defaultPython(options.platform), source: 'default' };
}

/** Describe where the interpreter came from, for the log and error messages. */
export function describeInterpreter(interpreter: Interpreter): string {
  switch (interpreter.source) {
    case 'setting':
      return `${interpreter.command} (from the dwLsp.interpreter setting)`;
    case 'pythonExtension':
      return `${interpreter.command} (the Python extension's active environment)`;
    case 'default':
      return `${interpreter.command} (the default; set dwLsp.interpreter to choose another)`;
  }
}
