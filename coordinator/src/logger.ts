/**
 * The coordinator's log: one line per event, to stderr, filtered by level; as
 * text or, with `--log-format json`, one JSON object a line. Either way every
 * control character and bidirectional control is escaped, so that nothing a
 * client sends (a name, a header key, an error message quoting it) can start a
 * line of its own or make a line read otherwise than it is.
 */
import type { LoggerService } from '@nestjs/common';
import { UNSAFE_TEXT_PATTERN } from '@fl/shared';

const LEVELS = { error: 0, warn: 1, info: 2, debug: 3 } as const;
export type LogLevel = keyof typeof LEVELS;
export type LogFormat = 'text' | 'json';

/** What text fields refuse (control characters, bidirectional controls), here escaped instead. */
const UNSAFE = new RegExp(UNSAFE_TEXT_PATTERN.source, 'gu');
const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** The text with each unsafe character written as an escape (\n, \r, \t, \uXXXX). */
export function escapeForLog(text: string): string {
  return text.replace(UNSAFE, (c) => NAMED[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** What a line is about (the round engine's lines): separate fields of a JSON line; the text line names them in its words. */
export interface LogFields {
  job?: string;
  round?: number;
  participant?: string;
}

export class CoordinatorLogger {
  constructor(
    private readonly level: LogLevel = 'info',
    private readonly write: (line: string) => void = (line) => process.stderr.write(line + '\n'),
    private readonly format: LogFormat = 'text',
  ) {}

  log(level: LogLevel, message: string, fields?: LogFields): void {
    if (LEVELS[level] > LEVELS[this.level]) return;
    const time = new Date().toISOString();
    const text = escapeForLog(message);
    if (this.format === 'text') return this.write(`${time} ${level.padEnd(5)} ${text}`);
    const about: Record<string, string | number> = {};
    if (fields?.job !== undefined) about.job = escapeForLog(fields.job);
    if (fields?.round !== undefined) about.round = fields.round;
    if (fields?.participant !== undefined) about.participant = escapeForLog(fields.participant);
    this.write(JSON.stringify({ time, level, message: text, ...about }));
  }

  error = (message: string, fields?: LogFields) => this.log('error', message, fields);
  warn = (message: string, fields?: LogFields) => this.log('warn', message, fields);
  info = (message: string, fields?: LogFields) => this.log('info', message, fields);
  debug = (message: string, fields?: LogFields) => this.log('debug', message, fields);

  /** The same log for Nest's own messages, which may quote a request. */
  forNest(): LoggerService {
    const text = (message: unknown, context: unknown[]) => [...context.filter((c) => typeof c === 'string'), String(message)].join(': ');
    return {
      log: (message: unknown, ...context: unknown[]) => this.debug(text(message, context)),
      error: (message: unknown, ...context: unknown[]) => this.error(text(message, context)),
      warn: (message: unknown, ...context: unknown[]) => this.warn(text(message, context)),
      debug: (message: unknown, ...context: unknown[]) => this.debug(text(message, context)),
      verbose: (message: unknown, ...context: unknown[]) => this.debug(text(message, context)),
    };
  }
}
