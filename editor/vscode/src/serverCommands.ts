/**
 * The language server's `workspace/executeCommand` names, and which VS Code command calls each.
 *
 * The mapping lives in `serverCommands.json` so that `tests/test_extension_manifest.py` can
 * check it against `dw_lsp.server.names.COMMANDS` without a TypeScript toolchain. Every server
 * command name the extension sends comes from here (a unit test forbids `dw.*` literals elsewhere).
 * Pure: imports nothing from `vscode`.
 */

import mapping from './serverCommands.json';

/** VS Code command id (`dwLsp.run`) -> server command (`dw.run`). */
export const SERVER_COMMANDS: Readonly<Record<string, string>> = mapping;

/** The server commands by role, as the extension's modules call them. */
export const DW = {
  run: mapping['dwLsp.run'],
  runSweep: mapping['dwLsp.runSweep'],
  cancel: mapping['dwLsp.cancel'],
  memory: mapping['dwLsp.showMemory'],
  clear: mapping['dwLsp.clearMemory'],
  status: mapping['dwLsp.showStatus'],
  setArguments: mapping['dwLsp.setArguments'],
  clearArguments: mapping['dwLsp.clearArguments'],
  restartWorker: mapping['dwLsp.restartWorker'],
} as const;

/** Server commands that run a workflow or start the worker: refused in an untrusted workspace. */
export const NEEDS_TRUST: readonly string[] = [DW.run, DW.runSweep, DW.memory, DW.restartWorker];

/** The VS Code commands that call those. */
export const COMMANDS_NEEDING_TRUST: readonly string[] = Object.keys(SERVER_COMMANDS).filter((id) =>
  NEEDS_TRUST.includes(SERVER_COMMANDS[id] ?? ''),
);

/** The VS Code command of a smoke run: `dw.run` with `standIn: true` (stand-in models). */
export const SMOKE_RUN = 'dwLsp.smokeRun';

/**
 * The VS Code command that stands for a server command called with `argument` (a lens's argument
 * object): the Smoke run for `dw.run` with `standIn: true`, else the first in the mapping that
 * calls it.
 */
export function extensionCommandFor(serverCommand: string, argument?: unknown): string | undefined {
  const standIn = typeof argument === 'object' && argument !== null && (argument as Record<string, unknown>).standIn === true;
  if (serverCommand === DW.run && standIn) {
    return SMOKE_RUN;
  }
  return Object.keys(SERVER_COMMANDS).find((id) => SERVER_COMMANDS[id] === serverCommand && id !== SMOKE_RUN);
}
