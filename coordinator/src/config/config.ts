/**
 * The coordinator's configuration: flags, then environment, then defaults,
 * parsed once at boot. Nothing else reads process.env or argv.
 */
import { parseArgs } from 'node:util';
import * as path from 'node:path';
import { z } from 'zod';

export const ConfigSchema = z.object({
  host: z.string().min(1).default('127.0.0.1'),
  port: z.coerce.number().int().min(0).max(65535).default(8080),
  dataDir: z.string().min(1).default('.data'),
  /** bearer token for the REST API; generated into the data directory when not given */
  adminToken: z.string().min(16, 'the admin token needs at least 16 characters').optional(),
  /** read-only bearer token: GET requests and the live view only; no viewer when not given */
  viewerToken: z.string().min(16, 'the viewer token needs at least 16 characters').optional(),
  /** largest Socket.IO message accepted, in bytes; sized on purpose (the library default is 1 MB) */
  maxFrameBytes: z.coerce.number().int().min(64 * 1024).default(64 * 1024 * 1024),
  /** largest message accepted in pieces (a model larger than a frame), in bytes */
  maxMessageBytes: z.coerce.number().int().min(64 * 1024).default(512 * 1024 * 1024),
  /** how far a handshake's signed timestamp may be from the coordinator's clock */
  handshakeWindowSeconds: z.coerce.number().positive().default(60),
  /** how many times a round that closed below the minimum is started before the job pauses */
  maxRoundAttempts: z.coerce.number().int().min(1).default(3),
  /** failed handshakes allowed per address and per key in a minute, before RATE_LIMITED */
  handshakeFailuresPerMinute: z.coerce.number().int().min(1).default(20),
  /** refused messages after which an agent's connection is closed */
  maxRefusalsPerConnection: z.coerce.number().int().min(1).default(100),
  /** round defaults for jobs that do not set them */
  defaultMinParticipants: z.coerce.number().int().min(1).default(2),
  defaultRoundDeadlineSeconds: z.coerce.number().positive().default(60),
  logLevel: z.enum(['error', 'warn', 'info', 'debug']).default('info'),
});
export type CoordinatorConfig = z.infer<typeof ConfigSchema>;
export type CoordinatorConfigInput = z.input<typeof ConfigSchema>;

export const COORDINATOR_CONFIG = Symbol('CoordinatorConfig');

const FLAGS = {
  host: { env: 'FL_HOST', help: 'address to listen on (0.0.0.0 for every interface)' },
  port: { env: 'FL_PORT', help: 'port for HTTP and Socket.IO' },
  'data-dir': { env: 'FL_DATA_DIR', help: 'directory of the SQLite store and the coordinator key' },
  'admin-token': { env: 'FL_ADMIN_TOKEN', help: 'bearer token of the REST API (default: generated)' },
  'viewer-token': { env: 'FL_VIEWER_TOKEN', help: 'read-only bearer token (default: none)' },
  'max-frame-bytes': { env: 'FL_MAX_FRAME_BYTES', help: 'largest message accepted, in bytes' },
  'max-message-bytes': { env: 'FL_MAX_MESSAGE_BYTES', help: 'largest message accepted in pieces, in bytes' },
  'handshake-window-seconds': { env: 'FL_HANDSHAKE_WINDOW_SECONDS', help: 'accepted clock skew of handshakes' },
  'max-round-attempts': { env: 'FL_MAX_ROUND_ATTEMPTS', help: 'starts of a round below the minimum before pausing' },
  'handshake-failures-per-minute': { env: 'FL_HANDSHAKE_FAILURES_PER_MINUTE', help: 'failed handshakes per address or key before rate limiting' },
  'max-refusals-per-connection': { env: 'FL_MAX_REFUSALS_PER_CONNECTION', help: 'refused messages before a connection is closed' },
  'default-min-participants': { env: 'FL_DEFAULT_MIN_PARTICIPANTS', help: 'minimum participants of jobs that set none' },
  'default-round-deadline-seconds': { env: 'FL_DEFAULT_ROUND_DEADLINE_SECONDS', help: 'round deadline of jobs that set none' },
  'log-level': { env: 'FL_LOG_LEVEL', help: 'error, warn, info or debug' },
} as const;

const camel = (flag: string) => flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

export function configHelp(): string {
  const lines = Object.entries(FLAGS).map(([flag, { env, help }]) => `  --${flag.padEnd(26)} ${help} [${env}]`);
  return `Usage: fl-coordinator [options]\n\nOptions:\n${lines.join('\n')}\n  --help                       this text`;
}

/** Parses flags and environment; throws one Error that names every wrong setting. */
export function loadConfig(argv: string[], env: NodeJS.ProcessEnv): CoordinatorConfig {
  const options = Object.fromEntries(Object.keys(FLAGS).map((flag) => [flag, { type: 'string' as const }]));
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: argv, options, strict: true, allowPositionals: false }));
  } catch (err) {
    throw new Error(`${(err as Error).message}\n\n${configHelp()}`);
  }
  const raw: Record<string, unknown> = {};
  for (const [flag, { env: name }] of Object.entries(FLAGS)) {
    const value = values[flag] ?? env[name];
    if (value !== undefined && value !== '') raw[camel(flag)] = value;
  }
  const parsed = ConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`).join('\n');
    throw new Error(`invalid configuration:\n${problems}`);
  }
  return { ...parsed.data, dataDir: path.resolve(parsed.data.dataDir) };
}
