import type { Log } from '../../../functions/app/deps';

/** A log that prints nothing but keeps every line, so a test can assert what was logged at which level. */
export class RecordingLog implements Log {
  readonly lines: {
    readonly level: 'info' | 'warn' | 'error';
    readonly message: string;
    readonly data: unknown[];
  }[] = [];

  info(message: unknown, ...data: unknown[]): void {
    this.lines.push({ level: 'info', message: String(message), data });
  }

  warn(message: unknown, ...data: unknown[]): void {
    this.lines.push({ level: 'warn', message: String(message), data });
  }

  error(message: unknown, ...data: unknown[]): void {
    this.lines.push({ level: 'error', message: String(message), data });
  }

  messages(level: 'info' | 'warn' | 'error'): string[] {
    return this.lines.filter((line) => line.level === level).map((line) => line.message);
  }
}
