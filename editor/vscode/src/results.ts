/**
 * Reads the JSON that the server's commands return (`dw.run`, `dw.memory`, `dw.status`) into
 * typed values, and formats them for messages, the log and the status bar.
 *
 * The server is another process, possibly of another version, so every field is checked and a
 * missing one gets a neutral value rather than throwing. Pure: imports nothing from `vscode`.
 */

export type RunStatus = 'ok' | 'error' | 'cancelled';

export interface RunError {
  readonly message: string;
  readonly traceback?: string;
}

export interface Timings {
  readonly load?: number;
  readonly inference?: number;
  readonly total?: number;
}

export interface CacheReport {
  readonly reused: readonly string[];
  readonly loaded: readonly string[];
  readonly released: readonly string[];
}

export interface MemoryReport {
  readonly device?: string;
  readonly cuda: boolean;
  readonly allocatedMb?: number;
  readonly reservedMb?: number;
  readonly freeMb?: number;
  readonly totalMb?: number;
  readonly runs?: number;
  readonly processRssMb?: number;
  readonly hostTotalMb?: number;
  readonly hostAvailableMb?: number;
}

export interface RunResult {
  readonly status: RunStatus;
  readonly outputs: readonly string[];
  readonly error?: RunError;
  readonly timings: Timings;
  readonly cache?: CacheReport;
  readonly runs?: number;
  readonly memory?: MemoryReport;
}

export type WorkerState = 'stopped' | 'starting' | 'ready' | 'busy' | 'errored';

export interface StatusReport {
  readonly state: WorkerState;
  readonly workflow?: string;
  readonly runs?: number;
  readonly arguments: Readonly<Record<string, unknown>>;
}

const WORKER_STATES: readonly string[] = ['stopped', 'starting', 'ready', 'busy', 'errored'];

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function num(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : [];
}

export function parseMemory(raw: unknown): MemoryReport | undefined {
  if (!isRecord(raw)) {
    return undefined;
  }
  return {
    device: str(raw.device),
    cuda: raw.cuda === true,
    allocatedMb: num(raw.allocatedMb),
    reservedMb: num(raw.reservedMb),
    freeMb: num(raw.freeMb),
    totalMb: num(raw.totalMb),
    runs: num(raw.runs),
    processRssMb: num(raw.processRssMb),
    hostTotalMb: num(raw.hostTotalMb),
    hostAvailableMb: num(raw.hostAvailableMb),
  };
}

function parseError(raw: unknown): RunError | undefined {
  if (typeof raw === 'string') {
    return { message: raw };
  }
  if (!isRecord(raw)) {
    return undefined;
  }
  return { message: str(raw.message) ?? 'the run failed without a message', traceback: str(raw.traceback) };
}

/** Read `dw.run`'s result; anything unreadable becomes an error result saying so. */
export function parseRunResult(raw: unknown): RunResult {
  if (!isRecord(raw)) {
    return {
      status: 'error',
      outputs: [],
      timings: {},
      error: { message: `the server returned no run result (${raw === null ? 'null' : typeof raw})` },
    };
  }
  const status: RunStatus = raw.status === 'ok' || raw.status === 'cancelled' ? raw.status : 'error';
  const timings = isRecord(raw.timings)
    ? { load: num(raw.timings.load), inference: num(raw.timings.inference), total: num(raw.timings.total) }
    : {};
  const cache = isRecord(raw.cache)
    ? { reused: strings(raw.cache.reused), loaded: strings(raw.cache.loaded), released: strings(raw.cache.released) }
    : undefined;
  let error = parseError(raw.error);
  if (status === 'error' && error === undefined) {
    error = { message: `the run ended with status ${JSON.stringify(raw.status ?? null)} and no error message` };
  }
  return { status, outputs: strings(raw.outputs), error, timings, cache, runs: num(raw.runs), memory: parseMemory(raw.memory) };
}

/** The error message of a command that answered `{status: "error", error}`; undefined otherwise. */
export function commandFailure(raw: unknown): string | undefined {
  if (!isRecord(raw) || raw.status !== 'error') {
    return undefined;
  }
  return parseError(raw.error)?.message ?? 'the server reported an error without a message';
}

export function parseStatus(raw: unknown): StatusReport | undefined {
  if (!isRecord(raw) || typeof raw.state !== 'string' || !WORKER_STATES.includes(raw.state)) {
    return undefined;
  }
  const workflow = str(raw.workflow);
  // The server counts runs per workflow file: {"/path/a.json": 2}; older answers: a number.
  const runs = isRecord(raw.runs) && workflow !== undefined ? num(raw.runs[workflow]) : num(raw.runs);
  return {
    state: raw.state as WorkerState,
    workflow,
    runs,
    arguments: isRecord(raw.arguments) ? raw.arguments : {},
  };
}

/** `1.2 s`, `850 ms`. */
export function formatSeconds(seconds: number): string {
  return seconds < 1 ? `${Math.round(seconds * 1000)} ms` : `${seconds.toFixed(1)} s`;
}

/** `850 MB`, `2.1 GB`. */
export function formatMb(mb: number): string {
  return mb >= 1024 ? `${(mb / 1024).toFixed(1)} GB` : `${Math.round(mb)} MB`;
}

function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? '' : 's'}`;
}

/**
 * One line about a finished run: `Run finished in 3.2 s (load 1.0 s, inference 2.2 s): 1 output.`,
 * ending `; models reused.` when every pipeline the run used was already loaded.
 */
export function summarizeRun(result: RunResult): string {
  if (result.status === 'cancelled') {
    return 'Run cancelled; the loaded pipelines stay in memory.';
  }
  if (result.status === 'error') {
    return `Run failed: ${result.error?.message ?? 'unknown error'}`;
  }
  const { load, inference, total } = result.timings;
  const parts: string[] = [];
  if (load !== undefined) {
    parts.push(`load ${formatSeconds(load)}`);
  }
  if (inference !== undefined) {
    parts.push(`inference ${formatSeconds(inference)}`);
  }
  const time = total !== undefined ? ` in ${formatSeconds(total)}` : '';
  const detail = parts.length > 0 ? ` (${parts.join(', ')})` : '';
  const cache = result.cache;
  const reused = cache !== undefined && cache.reused.length > 0 && cache.loaded.length === 0 ? '; models reused' : '';
  return `Run finished${time}${detail}: ${plural(result.outputs.length, 'output')}${reused}.`;
}

/** The lines a run adds to the log: summary, cache, outputs, error and traceback. */
export function runLogLines(result: RunResult): string[] {
  const lines = [summarizeRun(result)];
  if (result.cache !== undefined) {
    const { reused, loaded, released } = result.cache;
    lines.push(
      `  pipelines reused: ${reused.join(', ') || '-'}; loaded: ${loaded.join(', ') || '-'}; released: ${released.join(', ') || '-'}`,
    );
  }
  if (result.runs !== undefined) {
    lines.push(`  runs of this workflow in this worker: ${result.runs}`);
  }
  for (const output of result.outputs) {
    lines.push(`  output: ${output}`);
  }
  if (result.memory !== undefined) {
    lines.push(`  memory: ${formatMemory(result.memory)}`);
  }
  if (result.error?.traceback !== undefined) {
    lines.push(result.error.traceback.trimEnd());
  }
  return lines;
}

/**
 * One line about memory; on a machine without CUDA it reports host memory. `runs: false` leaves
 * out the worker's run count (for a line that already counts runs).
 */
export function formatMemory(memory: MemoryReport, options: { runs?: boolean } = {}): string {
  const parts: string[] = [];
  if (memory.cuda) {
    const device = memory.device ?? 'cuda';
    if (memory.allocatedMb !== undefined) {
      parts.push(`${device}: allocated ${formatMb(memory.allocatedMb)}`);
    } else {
      parts.push(device);
    }
    if (memory.reservedMb !== undefined) {
      parts.push(`reserved ${formatMb(memory.reservedMb)}`);
    }
    if (memory.freeMb !== undefined && memory.totalMb !== undefined) {
      parts.push(`free ${formatMb(memory.freeMb)} of ${formatMb(memory.totalMb)}`);
    }
  } else {
    parts.push(`no CUDA device (${memory.device ?? 'cpu'})`);
    if (memory.hostAvailableMb !== undefined && memory.hostTotalMb !== undefined) {
      parts.push(`host memory available ${formatMb(memory.hostAvailableMb)} of ${formatMb(memory.hostTotalMb)}`);
    }
  }
  if (memory.processRssMb !== undefined) {
    parts.push(`worker RSS ${formatMb(memory.processRssMb)}`);
  }
  if (memory.runs !== undefined && options.runs !== false) {
    parts.push(plural(memory.runs, 'run'));
  }
  return parts.join(', ');
}

/** One line about the worker: state, workflow, runs, arguments. */
export function formatStatus(status: StatusReport): string {
  const parts = [`Worker ${status.state}`];
  if (status.workflow !== undefined && status.workflow !== '') {
    parts.push(`workflow ${status.workflow}`);
  }
  if (status.runs !== undefined) {
    parts.push(plural(status.runs, 'run'));
  }
  const names = Object.keys(status.arguments);
  if (names.length > 0) {
    parts.push(`arguments ${names.join(', ')}`);
  }
  return parts.join(', ');
}

const STATE_ICONS: Readonly<Record<WorkerState, string>> = {
  stopped: '$(circle-slash)',
  starting: '$(loading~spin)',
  ready: '$(check)',
  busy: '$(sync~spin)',
  errored: '$(error)',
};

export interface StatusBarView {
  readonly text: string;
  readonly tooltip: string;
}

/**
 * What the status bar item shows for the worker's state and memory. While this editor's own run
 * is in progress the worker counts as busy even when the last answer said ready or stopped: that
 * answer may predate the run (it is asked for before `dw.run` is sent, then every few seconds).
 */
export function statusBarView(
  status: StatusReport | undefined,
  memory: MemoryReport | undefined,
  runInProgress = false,
): StatusBarView {
  if (status === undefined) {
    return { text: '$(circle-outline) dw', tooltip: 'dw-lsp: the language server is not running. Click for status.' };
  }
  const state: WorkerState = runInProgress && (status.state === 'ready' || status.state === 'stopped') ? 'busy' : status.state;
  let text = `${STATE_ICONS[state]} dw: ${state}`;
  if (memory !== undefined) {
    if (memory.cuda && memory.allocatedMb !== undefined && memory.totalMb !== undefined) {
      text += ` ${formatMb(memory.allocatedMb)}/${formatMb(memory.totalMb)}`;
    } else if (memory.processRssMb !== undefined) {
      text += ` ${formatMb(memory.processRssMb)}`;
    }
  }
  const tooltip = [formatStatus(status), memory !== undefined ? formatMemory(memory) : undefined, 'Click for status.']
    .filter((line): line is string => line !== undefined)
    .join('\n');
  return { text, tooltip };
}
