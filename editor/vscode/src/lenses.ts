/**
 * The server's code lenses (▶ Run, Smoke run, Memory, Clear) name its own commands (`dw.run` with
 * `[{uri}]`, Smoke run adding `standIn: true`), which vscode-languageclient would send straight to
 * the server: no trust check, no save, no progress notification, no result shown. In VS Code each
 * lens runs the extension's command for that server command instead (`dwLsp.run` with the
 * document's URI, `dwLsp.smokeRun` for the Smoke run); other clients (Neovim) keep the server's
 * commands. Pure: imports nothing from `vscode`.
 */

import { extensionCommandFor } from './serverCommands';

/** A lens command as VS Code and the language client represent it. */
export interface LensCommand {
  readonly title: string;
  readonly command: string;
  readonly tooltip?: string;
  readonly arguments?: unknown[];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The `uri` of a server command's one argument object, if it has one. */
export function argumentUri(args: readonly unknown[] | undefined): string | undefined {
  const first = args?.[0];
  return isRecord(first) && typeof first.uri === 'string' ? first.uri : undefined;
}

/**
 * The command a lens should run: the extension's command for the server's, given the document
 * (`toResource` turns the URI string into what the extension's command takes); the lens's own
 * command when the extension has none for it.
 */
export function throughExtension<R>(
  command: LensCommand,
  documentUri: string,
  toResource: (uri: string) => R,
): LensCommand | (Omit<LensCommand, 'arguments'> & { arguments: R[] }) {
  const id = extensionCommandFor(command.command, command.arguments?.[0]);
  if (id === undefined) {
    return command;
  }
  const uri = argumentUri(command.arguments) ?? documentUri;
  return { title: command.title, command: id, tooltip: command.tooltip, arguments: [toResource(uri)] };
}
