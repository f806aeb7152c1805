/**
 * Turns the server's work-done progress for a run (`$/progress` begin/report/end with a
 * percentage) into the increments a VS Code notification progress expects.
 *
 * VS Code's `Progress.report` takes an increment that adds up to 100, while LSP reports absolute
 * percentages; the tracker keeps the last one. A percentage that goes back (a new step starting
 * from zero) cannot shrink the bar, so only the message changes then. Pure: the notification is
 * reached through `ProgressSink`; imports nothing from `vscode`.
 */

/** What a VS Code `Progress<{message, increment}>` accepts. */
export interface ProgressSink {
  report(value: { message?: string; increment?: number }): void;
}

export type WorkDoneProgressValue =
  | { kind: 'begin'; title: string; message?: string; percentage?: number; cancellable?: boolean }
  | { kind: 'report'; message?: string; percentage?: number; cancellable?: boolean }
  | { kind: 'end'; message?: string };

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Read a `$/progress` value; undefined when it is not a work-done progress value. */
export function readWorkDoneProgress(value: unknown): WorkDoneProgressValue | undefined {
  if (!isRecord(value)) {
    return undefined;
  }
  const message = typeof value.message === 'string' ? value.message : undefined;
  const percentage =
    typeof value.percentage === 'number' && Number.isFinite(value.percentage) ? value.percentage : undefined;
  switch (value.kind) {
    case 'begin':
      return { kind: 'begin', title: typeof value.title === 'string' ? value.title : '', message, percentage };
    case 'report':
      return { kind: 'report', message, percentage };
    case 'end':
      return { kind: 'end', message };
    default:
      return undefined;
  }
}

export class ProgressTracker {
  private reported = 0;
  private ended = false;

  constructor(private readonly sink: ProgressSink) {}

  /** True once the server sent `end`. */
  get done(): boolean {
    return this.ended;
  }

  /** Feed one `$/progress` value; unknown shapes are ignored. */
  handle(raw: unknown): void {
    const value = readWorkDoneProgress(raw);
    if (value === undefined || this.ended) {
      return;
    }
    if (value.kind === 'end') {
      this.ended = true;
      if (value.message !== undefined) {
        this.sink.report({ message: value.message });
      }
      return;
    }
    const message = value.kind === 'begin' ? (value.message ?? (value.title || undefined)) : value.message;
    const increment = this.incrementTo(value.percentage);
    if (message === undefined && increment === undefined) {
      return;
    }
    const update: { message?: string; increment?: number } = {};
    if (message !== undefined) {
      update.message = message;
    }
    if (increment !== undefined) {
      update.increment = increment;
    }
    this.sink.report(update);
  }

  private incrementTo(percentage: number | undefined): number | undefined {
    if (percentage === undefined) {
      return undefined;
    }
    const target = Math.min(100, Math.max(0, percentage));
    if (target <= this.reported) {
      return undefined;
    }
    const increment = target - this.reported;
    this.reported = target;
    return increment;
  }
}
