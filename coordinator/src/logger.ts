/** The coordinator's log: one line per event, to stderr, filtered by level. */
const LEVELS = { error: 0, warn: 1, info: 2, debug: 3 } as const;
export type LogLevel = keyof typeof LEVELS;

export class CoordinatorLogger {
  constructor(
    private readonly level: LogLevel = 'info',
    private readonly write: (line: string) => void = (line) => process.stderr.write(line + '\n'),
  ) {}

  log(level: LogLevel, message: string): void {
    if (LEVELS[level] <= LEVELS[this.level]) this.write(`${new Date().toISOString()} ${level.padEnd(5)} ${message}`);
  }

  error = (message: string) => this.log('error', message);
  warn = (message: string) => this.log('warn', message);
  info = (message: string) => this.log('info', message);
  debug = (message: string) => this.log('debug', message);
}
