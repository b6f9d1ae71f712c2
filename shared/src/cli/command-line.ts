/**
 * What the three commands (fl-coordinator, fl-agent, fl-sim) share on their
 * command line: the exit statuses, help text with every flag's default, and
 * errors that name the flag and its value in words. Pure: parsing only, the
 * commands do their own reading and writing.
 */
import { parseArgs } from 'node:util';
import type { z } from 'zod';

/** The exit statuses of every command, documented in the operator and partner guides. */
export const EXIT = {
  /** done */
  DONE: 0,
  /** failed: the run or the check did not succeed */
  FAILED: 1,
  /** the agent refused the coordinator (its key differs from the pinned one) */
  REFUSED_COORDINATOR: 2,
  /** the coordinator revoked this participant */
  REVOKED: 3,
  /** another agent with this participant's key took the connection: a restart would take it back, and so on for ever */
  REPLACED: 4,
  /** another coordinator took the coordinator's data directory over: it stopped, and a restart is refused while the other runs */
  TAKEN_OVER: 5,
  /** a usage error: an unknown command or flag, a missing or invalid value */
  USAGE: 64,
} as const;

/** A mistake on the command line: reported with a pointer to --help, exit status 64. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface Flag {
  /** the placeholder of its value, e.g. FILE; none for a switch */
  value?: string;
  help: string;
  /** the default in words, shown in help; omit for a required flag or a switch */
  default?: string;
  /** the environment variable read when the flag is not given */
  env?: string;
}

export interface Command {
  /** e.g. 'fl-agent run' */
  name: string;
  /** what follows the name in the usage line, e.g. '--key key.json [options]' */
  usage: string;
  summary: string;
  flags: Record<string, Flag>;
  /** positional arguments allowed */
  positionals?: number;
}

/** A command's help: usage, summary, then each flag with its default and variable. */
export function commandHelp(command: Command): string {
  const rows = Object.entries({ ...command.flags, help: { help: 'this text' } as Flag }).map(([name, flag]) => {
    const left = `  --${name}${flag.value ? ` ${flag.value}` : ''}`.padEnd(28);
    const extra = [flag.default !== undefined ? `default: ${flag.default}` : '', flag.env ? `[${flag.env}]` : ''].filter(Boolean).join(' ');
    const [first, ...rest] = flag.help.split('\n');
    const lines = [left + first, ...rest.map((line) => ' '.repeat(28) + line)];
    if (extra) lines.push(' '.repeat(28) + `(${extra})`);
    return lines.join('\n');
  });
  return `Usage: ${command.name} ${command.usage}\n\n${command.summary}\n\nOptions:\n${rows.join('\n')}\n`;
}

/** node:util's parse errors suggest `--` tricks; these say what to change. */
function usageMessage(command: Command, err: Error & { code?: string }): string {
  const flag = /'(-[^' ]+)/.exec(err.message)?.[1];
  switch (err.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown flag ${flag ?? ''} (${command.name} --help lists them)`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return err.message.includes('ambiguous') ? `${flag} needs a value; one that starts with a dash is written ${flag}=-VALUE` : `${flag ?? 'a flag'} needs a value`;
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return `unexpected argument ${/'([^']*)'/.exec(err.message)?.[1] ?? ''}; every value follows its flag`;
    default:
      return err.message.split('\n')[0];
  }
}

export interface Parsed {
  /** --help or -h was given: print commandHelp and exit 0 */
  help: boolean;
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

/** Parses a command's arguments strictly; every mistake is a UsageError in words. */
export function parseCommand(command: Command, args: string[]): Parsed {
  const options = Object.fromEntries(Object.entries(command.flags).map(([name, flag]) => [name, { type: flag.value ? ('string' as const) : ('boolean' as const) }]));
  let parsed;
  try {
    parsed = parseArgs({ args, options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: (command.positionals ?? 0) > 0 });
  } catch (err) {
    // --help wins over any other mistake on the line.
    if (args.includes('--help') || args.includes('-h')) return { help: true, values: {}, positionals: [] };
    throw new UsageError(usageMessage(command, err as Error));
  }
  const { help, ...values } = parsed.values as Record<string, string | boolean | undefined>;
  if (!help && parsed.positionals.length > (command.positionals ?? 0)) throw new UsageError(`unexpected argument ${parsed.positionals[command.positionals ?? 0]}`);
  return { help: help === true, values, positionals: parsed.positionals };
}

/** A flag's value, or its variable's, or a UsageError saying it is required. */
export function requiredFlag(values: Parsed['values'], name: string, env?: Record<string, string | undefined>, variable?: string): string {
  const value = values[name] ?? (variable ? env?.[variable] : undefined);
  if (typeof value !== 'string' || value === '') throw new UsageError(`--${name} is required${variable ? ` (or ${variable})` : ''}`);
  return value;
}

/** An http:// or https:// address given to a flag, checked in words. */
export function urlFlag(name: string, value: string, schemes: readonly string[] = ['http:', 'https:']): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`--${name} ${JSON.stringify(value)} is not an address: expected ${schemes.map((s) => `${s}//HOST:PORT`).join(' or ')}`);
  }
  if (!schemes.includes(url.protocol)) {
    throw new UsageError(`--${name} ${JSON.stringify(value)} starts with ${url.protocol}//: expected ${schemes.map((s) => `${s}//`).join(' or ')}`);
  }
  return url;
}

/** One of a fixed set of words. */
export function choiceFlag<T extends string>(name: string, value: string, choices: readonly T[]): T {
  if (!choices.includes(value as T)) throw new UsageError(`--${name} ${JSON.stringify(value)} is not one of ${choices.join(', ')}`);
  return value as T;
}

/** What a zod issue expects, in words rather than zod's own phrasing; `value` is what was given, when known. */
export function expectedWords(issue: z.core.$ZodIssue, value?: unknown): string {
  const i = issue as z.core.$ZodIssue & { expected?: string; minimum?: number | bigint; maximum?: number | bigint; inclusive?: boolean; values?: unknown[]; keys?: string[]; origin?: string };
  const unit = i.origin === 'string' ? ' characters' : i.origin === 'array' ? ' items' : '';
  const given = value === undefined ? '' : `, not ${JSON.stringify(value)}`;
  // A message the schema's author wrote says it best; only zod's generic ones are reworded.
  if (!/^(Invalid|Too (small|big)|Unrecognized)/.test(issue.message)) return issue.message;
  switch (i.code) {
    case 'invalid_type':
      if (i.expected === 'int') return `expected a whole number${given}`;
      return `expected ${i.expected === 'array' ? 'a list' : i.expected === 'object' ? 'an object' : `a ${i.expected}`}${given}`;
    // A bound the value may not reach (`positive()`) is said so: "at least 0" would allow the 0 it refuses.
    case 'too_small':
      return `expected ${i.inclusive === false ? 'above' : 'at least'} ${i.minimum}${unit}${given}`;
    case 'too_big':
      return `expected ${i.inclusive === false ? 'below' : 'at most'} ${i.maximum}${unit}${given}`;
    case 'invalid_value':
      return `expected one of ${(i.values ?? []).join(', ')}${given}`;
    case 'unrecognized_keys':
      return `unknown field${(i.keys ?? []).length > 1 ? 's' : ''} ${(i.keys ?? []).join(', ')}`;
    default:
      return issue.message;
  }
}
