/**
 * Checks, before starting the language server, that the interpreter exists and has dw-lsp, and
 * turns a failure into a message that says how to fix it.
 *
 * Starting `python -m dw_lsp` directly would only show "server exited" when Python is missing or
 * dw-lsp is not installed; a short probe (`python -c "import dw_lsp"`) tells the two apart.
 * Uses `node:child_process` (never a shell), imports nothing from `vscode`.
 */

import { execFile } from 'node:child_process';

export const MIN_PYTHON: readonly [number, number] = [3, 11];

const PROBE_SCRIPT =
  "import sys; sys.stdout.write('%d.%d\\n' % sys.version_info[:2]); sys.stdout.flush(); import dw_lsp";

export interface ProbeResult {
  /** The spawn error's code (`ENOENT`, `EACCES`, ...) when the program could not run. */
  readonly errorCode?: string;
  readonly exitCode: number | null;
  readonly timedOut: boolean;
  readonly stdout: string;
  readonly stderr: string;
}

export type StartProblemKind = 'pythonMissing' | 'notExecutable' | 'pythonTooOld' | 'dwLspMissing' | 'failed';

export interface StartProblem {
  readonly kind: StartProblemKind;
  /** One sentence that says what is wrong. */
  readonly message: string;
  /** A shell command that fixes it, when there is one. */
  readonly fix?: string;
}

/** Run the probe with `command`; never rejects. */
export function probeInterpreter(command: string, timeoutMs = 30_000): Promise<ProbeResult> {
  return new Promise((resolve) => {
    execFile(
      command,
      ['-c', PROBE_SCRIPT],
      { timeout: timeoutMs, windowsHide: true, encoding: 'utf8', env: { ...process.env, PYTHONIOENCODING: 'utf-8' } },
      (error, stdout, stderr) => {
        if (error === null) {
          resolve({ exitCode: 0, timedOut: false, stdout, stderr });
          return;
        }
        const code = typeof error.code === 'string' ? error.code : undefined;
        const exitCode = typeof error.code === 'number' ? error.code : null;
        resolve({ errorCode: code, exitCode, timedOut: error.killed === true && code === undefined, stdout, stderr });
      },
    );
  });
}

/** Quote a program path for a shell command line when it needs it. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./\\-]+$/.test(word) ? word : `"${word.replace(/(["\\$`])/g, '\\$1')}"`;
}

/** The command that installs dw-lsp for `command`. */
export function installCommand(command: string): string {
  return `${shellQuote(command)} -m pip install dw-lsp`;
}

function lastLine(text: string): string {
  const lines = text.split(/\r?\n/).map((line) => line.trim()).filter((line) => line !== '');
  return lines.length > 0 ? (lines[lines.length - 1] ?? '') : '';
}

/** What stops the server from starting with `command`, or undefined when the probe passed. */
export function diagnoseProbe(command: string, probe: ProbeResult): StartProblem | undefined {
  if (probe.errorCode === 'ENOENT') {
    return {
      kind: 'pythonMissing',
      message: `Python was not found: "${command}" is not a program on this machine. Install Python ${MIN_PYTHON.join('.')} or later, or set dwLsp.interpreter to a Python that has dw-lsp installed.`,
    };
  }
  if (probe.errorCode === 'EACCES') {
    return {
      kind: 'notExecutable',
      message: `"${command}" cannot be executed (permission denied). Set dwLsp.interpreter to a Python interpreter.`,
    };
  }
  if (probe.timedOut) {
    return { kind: 'failed', message: `"${command}" did not answer within the time allowed for "import dw_lsp".` };
  }
  const version = /^(\d+)\.(\d+)$/m.exec(probe.stdout);
  if (version !== null) {
    const major = Number(version[1]);
    const minor = Number(version[2]);
    if (major < MIN_PYTHON[0] || (major === MIN_PYTHON[0] && minor < MIN_PYTHON[1])) {
      return {
        kind: 'pythonTooOld',
        message: `"${command}" is Python ${major}.${minor}; dw-lsp needs Python ${MIN_PYTHON.join('.')} or later. Set dwLsp.interpreter to a newer Python.`,
      };
    }
  }
  if (probe.exitCode === 0 && probe.errorCode === undefined) {
    return undefined;
  }
  if (/No module named '?dw_lsp'?/.test(probe.stderr)) {
    return {
      kind: 'dwLspMissing',
      message: `dw-lsp is not installed for "${command}". Install it with \`${installCommand(command)}\` (or, in a dw-lsp checkout, \`python -m pip install -e .\`), or set dwLsp.interpreter to a Python that has it.`,
      fix: installCommand(command),
    };
  }
  if (version === null) {
    return {
      kind: 'failed',
      message: `"${command}" does not look like a Python interpreter (${lastLine(probe.stderr) || `exit code ${String(probe.exitCode)}`}). Set dwLsp.interpreter to one.`,
    };
  }
  return {
    kind: 'failed',
    message: `"import dw_lsp" failed with "${command}": ${lastLine(probe.stderr) || `exit code ${String(probe.exitCode)}`}. Reinstall it with \`${installCommand(command)}\`.`,
    fix: installCommand(command),
  };
}
