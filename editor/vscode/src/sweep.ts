/**
 * A sweep as the editor sees it: the grid typed as `name=v1,v2` assignments, one notification
 * progress for the whole sweep (runs done / total and the current run's step) with a Cancel
 * button, and the server's `dw.runSweep` answer read into a typed result for the gallery.
 *
 * The grid syntax is the REPL's and the CLI's (`--sweep prompt=a,b`): values are split at commas
 * and trimmed; a value that holds a comma is written in a JSON list (`prompt=["a cat, oil",
 * "a dog"]`). Assignments are separated by `;` or new lines, since a prompt may contain spaces.
 * Pure: VS Code is reached through `RunHost`; imports nothing from `vscode`.
 */

import { randomUUID } from 'node:crypto';

import { ProgressTracker } from './progress';
import { parseRunResult, type RunResult } from './results';
import type { RunHost } from './run';
import { DW } from './serverCommands';

/** The server's cap on the runs of one sweep (`dw_lsp.session.sweep.MAX_SWEEP_RUNS`). */
export const MAX_SWEEP_RUNS = 256;

export type Grid = Record<string, string[]>;

export type GridParse = { ok: true; grid: Grid; runs: number } | { ok: false; error: string };

const NAME = /^[A-Za-z_][A-Za-z0-9_-]*$/;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseValues(name: string, text: string): string[] | string {
  const trimmed = text.trim();
  if (trimmed.startsWith('[')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch {
      return `${name}: the list is not valid JSON`;
    }
    if (!Array.isArray(parsed) || parsed.some((value) => typeof value !== 'string' && typeof value !== 'number')) {
      return `${name}: expected a JSON list of strings or numbers`;
    }
    return parsed.map((value) => String(value));
  }
  const values = trimmed.split(',').map((value) => value.trim());
  if (trimmed === '' || values.includes('')) {
    return `${name}: empty value (write ${name}=v1,v2,...)`;
  }
  return values;
}

/** Read `prompt=a fox,an owl; steps=4,8` into a grid, or say what is wrong. */
export function parseGrid(text: string): GridParse {
  const grid: Grid = {};
  const parts = text
    .split(/[;\n]/)
    .map((part) => part.trim())
    .filter((part) => part !== '');
  if (parts.length === 0) {
    return { ok: false, error: 'Type at least one name=v1,v2 (for example prompt=a fox,an owl).' };
  }
  for (const part of parts) {
    const equals = part.indexOf('=');
    const name = equals < 0 ? part : part.slice(0, equals).trim();
    if (equals < 0 || !NAME.test(name)) {
      return { ok: false, error: `Expected name=v1,v2,..., got ${JSON.stringify(part)}.` };
    }
    if (name in grid) {
      return { ok: false, error: `${name} is given twice.` };
    }
    const values = parseValues(name, part.slice(equals + 1));
    if (typeof values === 'string') {
      return { ok: false, error: values };
    }
    grid[name] = values;
  }
  const runs = Object.values(grid).reduce((product, values) => product * values.length, 1);
  if (runs > MAX_SWEEP_RUNS) {
    return { ok: false, error: `${String(runs)} runs; a sweep may have at most ${String(MAX_SWEEP_RUNS)}.` };
  }
  return { ok: true, grid, runs };
}

export type SweepStatus = 'ok' | 'error' | 'cancelled';

/** One run of a sweep: its index (from 1), its grid values and its `dw.run`-shaped result. */
export interface SweepRun {
  readonly index: number;
  readonly arguments: Readonly<Record<string, unknown>>;
  readonly result: RunResult;
}

export interface SweepResult {
  readonly status: SweepStatus;
  readonly name: string;
  /** The sweep's own folder under the output directory (`OUTPUT/sweep-ID`). */
  readonly folder?: string;
  readonly total: number;
  readonly done: number;
  readonly seconds?: number;
  readonly error?: string;
  readonly runs: readonly SweepRun[];
}

function num(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

/** Read `dw.runSweep`'s answer; anything unreadable becomes an error result saying so. */
export function parseSweepResult(raw: unknown): SweepResult {
  if (!isRecord(raw)) {
    return { status: 'error', name: '', total: 0, done: 0, runs: [], error: 'the server returned no sweep result' };
  }
  const status: SweepStatus = raw.status === 'ok' || raw.status === 'cancelled' ? raw.status : 'error';
  const runs: SweepRun[] = [];
  for (const entry of Array.isArray(raw.runs) ? raw.runs : []) {
    if (isRecord(entry)) {
      runs.push({
        index: num(entry.index) ?? runs.length + 1,
        arguments: isRecord(entry.arguments) ? entry.arguments : {},
        result: parseRunResult(entry),
      });
    }
  }
  const error = isRecord(raw.error) && typeof raw.error.message === 'string' ? raw.error.message : undefined;
  return {
    status,
    name: typeof raw.name === 'string' ? raw.name : '',
    folder: typeof raw.folder === 'string' && raw.folder !== '' ? raw.folder : undefined,
    total: num(raw.total) ?? runs.length,
    done: num(raw.done) ?? 0,
    seconds: num(raw.seconds),
    error: error ?? (status === 'error' ? 'the sweep failed without a message' : undefined),
    runs,
  };
}

/** One line about a finished sweep: `Sweep finished: 4/4 runs ok in 3.2 s.` */
export function summarizeSweep(result: SweepResult): string {
  const time = result.seconds !== undefined ? ` in ${result.seconds.toFixed(1)} s` : '';
  if (result.status === 'cancelled') {
    return `Sweep cancelled: ${String(result.done)}/${String(result.total)} runs done${time}.`;
  }
  if (result.status === 'error') {
    return `Sweep failed: ${result.error ?? 'unknown error'}`;
  }
  return `Sweep finished: ${String(result.done)}/${String(result.total)} runs ok${time}.`;
}

export interface SweepRequest {
  readonly uri: string;
  readonly grid: Grid;
  /** The notification's title, e.g. `dw: sweep of portrait.json`. */
  readonly title: string;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Send `dw.runSweep` under one cancellable notification progress; never rejects. */
export async function runSweep(host: RunHost, request: SweepRequest, newToken: () => string = randomUUID): Promise<SweepResult> {
  const progressToken = `dw-sweep-${newToken()}`;
  return host.withProgress(request.title, async (sink, cancellation) => {
    const tracker = new ProgressTracker(sink);
    const subscription = host.onProgress(progressToken, (value) => {
      tracker.handle(value);
    });
    cancellation.onCancellationRequested(() => {
      host.log('Cancel requested; sending dw.cancel (the sweep starts no further run).');
      host.executeCommand(DW.cancel, {}).catch((error: unknown) => {
        host.log(`Cancel failed: ${errorMessage(error)}`);
      });
    });
    try {
      return parseSweepResult(await host.executeCommand(DW.runSweep, { uri: request.uri, grid: request.grid, progressToken }));
    } catch (error) {
      return { status: 'error', name: '', total: 0, done: 0, runs: [], error: errorMessage(error) };
    } finally {
      subscription.dispose();
    }
  });
}
