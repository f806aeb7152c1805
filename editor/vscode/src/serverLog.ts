/**
 * Reads the server's stderr for the output channel: each line is a Python log record
 * (`2026-01-02 03:04:05,678 INFO dw_lsp.server.app: message`, `dw_lsp.server.app.serve`'s
 * format) and is logged at its own level without its timestamp (the channel adds one), rather
 * than every line as an error. A line that is not a record (a traceback's) continues the one
 * before it; with none before, it is an error. Pure: imports nothing from `vscode`.
 */

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error';

export interface LogLine {
  readonly level: LogLevel;
  readonly text: string;
}

const RECORD = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) (.*)$/;

const LEVELS: Readonly<Record<string, LogLevel>> = {
  DEBUG: 'debug',
  INFO: 'info',
  WARNING: 'warn',
  ERROR: 'error',
  CRITICAL: 'error',
};

/** Reads lines one after another, remembering the last record's level. */
export class StderrReader {
  private level: LogLevel = 'error';

  read(line: string): LogLine {
    const match = RECORD.exec(line);
    if (match === null) {
      return { level: this.level, text: line };
    }
    this.level = LEVELS[match[1] ?? ''] ?? 'error';
    return { level: this.level, text: match[2] ?? line };
  }
}
