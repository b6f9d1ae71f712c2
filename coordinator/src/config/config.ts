/**
 * The coordinator's configuration: flags, then environment, then defaults,
 * parsed once at boot. Nothing else reads process.env or argv.
 */
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import * as fs from 'node:fs';
import { parseArgs } from 'node:util';
import * as path from 'node:path';
import proxyaddr from 'proxy-addr';
import { z } from 'zod';
import { expectedWords, UsageError } from '@fl/shared';
import { KeyFileError, readCoordinatorKeyFile } from '../identity/identity';

export const ConfigSchema = z.object({
  host: z.string().min(1).default('127.0.0.1'),
  port: z.coerce.number().int().min(0).max(65535).default(8080),
  dataDir: z.string().min(1).default('.data'),
  /** the coordinator's key, made beforehand (fl-coordinator key generate): replicas share it; default: the data directory's */
  keyFile: z.string().min(1).optional(),
  /** postgres://user:password@host:port/database: the store on PostgreSQL; without it, the SQLite file in dataDir */
  databaseUrl: z
    .string()
    .regex(/^postgres(ql)?:\/\/[^\s]+$/, 'the database URL must be postgres://user:password@host:port/database')
    .optional(),
  /** a bearer token with the admin role, for automation; users sign in with passwords instead */
  adminToken: z.string().min(16, 'the admin token needs at least 16 characters').optional(),
  /** read-only bearer token: GET requests and the live view only; no viewer when not given */
  viewerToken: z.string().min(16, 'the viewer token needs at least 16 characters').optional(),
  /** bearer token that may read GET /metrics and nothing else, for a Prometheus scraper; admins may read it too */
  metricsToken: z.string().min(16, 'the metrics token needs at least 16 characters').optional(),
  /** PEM certificate (or chain) and private key files: with both, HTTPS and WSS on the same port; plain HTTP with neither */
  tlsCert: z.string().min(1).optional(),
  tlsKey: z.string().min(1).optional(),
  /** largest Socket.IO message accepted, in bytes; sized on purpose (the library default is 1 MB) */
  maxFrameBytes: z.coerce.number().int().min(64 * 1024).default(64 * 1024 * 1024),
  /** largest message accepted in pieces (a model larger than a frame), in bytes */
  maxMessageBytes: z.coerce.number().int().min(64 * 1024).default(512 * 1024 * 1024),
  /** bytes a Socket.IO connection may send before it authenticates (the frame limit applies only after) */
  maxUnauthenticatedBytes: z.coerce.number().int().min(4 * 1024).default(16 * 1024),
  /** how long a Socket.IO connection may take to authenticate before it is closed */
  handshakeTimeoutSeconds: z.coerce.number().positive().max(86_400).default(10),
  /** Socket.IO connections not yet authenticated, per remote address and in all */
  maxPendingConnectionsPerAddress: z.coerce.number().int().min(1).default(64),
  maxPendingConnections: z.coerce.number().int().min(1).default(256),
  /** bytes of unfinished binary packets (attachments announced, not all arrived) held for all connections together */
  maxUnfinishedBytes: z.coerce.number().int().min(64 * 1024).default(256 * 1024 * 1024),
  /** password checks (scrypt, 32 MiB each) running at once; more sign-ins wait their turn */
  maxConcurrentPasswordChecks: z.coerce.number().int().min(1).default(2),
  /** how far a handshake's signed timestamp may be from the coordinator's clock */
  handshakeWindowSeconds: z.coerce.number().positive().default(60),
  /** how many times a round that closed below the minimum is started before the job pauses */
  maxRoundAttempts: z.coerce.number().int().min(1).default(3),
  /** how long a round, before it selects its participants, waits for those the previous attempt or round asked that are offline now */
  reconnectWaitSeconds: z.coerce.number().min(0).max(86_400).default(0),
  /** failed handshakes allowed per address, and per key for those its holder signed, in a minute, before RATE_LIMITED */
  handshakeFailuresPerMinute: z.coerce.number().int().min(1).default(20),
  /**
   * reverse proxies whose X-Forwarded-For names the client (comma-separated addresses or CIDRs, or loopback,
   * linklocal, uniquelocal): the per-address limits count clients, not the proxy; none believed by default
   */
  trustProxy: z
    .string()
    .min(1)
    .refine((value) => trusts(value) !== undefined, 'expected addresses, CIDRs, loopback, linklocal or uniquelocal, separated by commas')
    .optional(),
  /** failed sign-ins allowed per address in a minute, before RATE_LIMITED */
  loginFailuresPerMinute: z.coerce.number().int().min(1).default(10),
  /** how long a sign-in session lasts */
  sessionHours: z.coerce.number().positive().default(12),
  /** rounds whose updates are kept for the audit, per job (default: all); 0 keeps none */
  retainUpdateRounds: z.coerce.number().int().min(0).optional(),
  /** updates of models larger than this are not kept (the audit still records their hashes and signatures) */
  retainMaxModelBytes: z.coerce.number().int().min(0).default(1024 * 1024),
  /** where each new audit head is also sent (POST, JSON), besides the anchors' file beside the store */
  auditAnchorUrl: z.url({ protocol: /^https?$/ }).optional(),
  /** refused messages of one participant within a minute, over all its connections, after which its connection is closed and its handshakes refused until the minute is over */
  maxRefusalsPerConnection: z.coerce.number().int().min(1).default(100),
  /** round defaults for jobs that do not set them */
  defaultMinParticipants: z.coerce.number().int().min(1).default(2),
  defaultRoundDeadlineSeconds: z.coerce.number().positive().max(86_400).default(60),
  /** Redis shared by coordinator replicas (nonces, failure limits, revocations, Socket.IO rooms); none: all in this process */
  redisUrl: z.url({ protocol: /^rediss?$/ }).optional(),
  /** every Redis key and channel of this coordinator starts with it, so that several can share one Redis */
  redisPrefix: z.string().min(1).max(64).default('fl:'),
  logLevel: z.enum(['error', 'warn', 'info', 'debug']).default('info'),
  /** text lines, or one JSON object a line for a log collector; control characters are escaped either way */
  logFormat: z.enum(['text', 'json']).default('text'),
}).superRefine(
  (config, ctx) => {
    for (const problem of tlsProblems(config)) ctx.addIssue({ code: 'custom', ...problem });
    const problem = keyFileProblem(config);
    if (problem) ctx.addIssue({ code: 'custom', path: ['keyFile'], message: problem });
  },
  // Checked even when another setting is wrong, so that one message names every problem.
  { when: (payload) => typeof payload.value === 'object' && payload.value !== null },
);
export type CoordinatorConfig = z.infer<typeof ConfigSchema>;
export type CoordinatorConfigInput = z.input<typeof ConfigSchema>;

export const COORDINATOR_CONFIG = Symbol('CoordinatorConfig');

/** The trusted proxies' test, as Express and proxy-addr read the setting; undefined when it does not parse. */
export function trusts(value: string): ((address: string, hop: number) => boolean) | undefined {
  try {
    return proxyaddr.compile(value.split(',').map((part) => part.trim()));
  } catch {
    return undefined;
  }
}


const FLAGS = {
  host: { env: 'FL_HOST', help: 'address to listen on (0.0.0.0 for every interface)' },
  port: { env: 'FL_PORT', help: 'port for HTTP and Socket.IO' },
  'data-dir': { env: 'FL_DATA_DIR', help: 'directory of the SQLite store and the coordinator key' },
  'key-file': { env: 'FL_KEY_FILE', help: "the coordinator's key file, shared by replicas (default: none; coordinator-key.json made in --data-dir)" },
  'database-url': { env: 'FL_DATABASE_URL', help: 'postgres://… : keep the store in PostgreSQL (default: none; SQLite in --data-dir)' },
  'admin-token': { env: 'FL_ADMIN_TOKEN', help: 'admin bearer token for automation (default: none; users sign in)' },
  'viewer-token': { env: 'FL_VIEWER_TOKEN', help: 'read-only bearer token (default: none)' },
  'metrics-token': { env: 'FL_METRICS_TOKEN', help: 'bearer token for GET /metrics only (default: none; admins may read it)' },
  'tls-cert': { env: 'FL_TLS_CERT', help: 'PEM certificate file: serve HTTPS and WSS (with --tls-key) (default: none; plain HTTP)' },
  'tls-key': { env: 'FL_TLS_KEY', help: 'PEM private key file of --tls-cert (default: none)' },
  'max-frame-bytes': { env: 'FL_MAX_FRAME_BYTES', help: 'largest message accepted whole, in bytes (larger ones travel in pieces)' },
  'max-message-bytes': { env: 'FL_MAX_MESSAGE_BYTES', help: 'largest message accepted in pieces, in bytes' },
  'max-unauthenticated-bytes': { env: 'FL_MAX_UNAUTHENTICATED_BYTES', help: 'bytes a connection may send before it authenticates' },
  'handshake-timeout-seconds': { env: 'FL_HANDSHAKE_TIMEOUT_SECONDS', help: 'time a connection has to authenticate' },
  'max-pending-connections-per-address': { env: 'FL_MAX_PENDING_CONNECTIONS_PER_ADDRESS', help: 'unauthenticated connections per address' },
  'max-pending-connections': { env: 'FL_MAX_PENDING_CONNECTIONS', help: 'unauthenticated connections in all' },
  'max-unfinished-bytes': { env: 'FL_MAX_UNFINISHED_BYTES', help: 'bytes of unfinished binary packets, all connections' },
  'max-concurrent-password-checks': { env: 'FL_MAX_CONCURRENT_PASSWORD_CHECKS', help: 'password hashes computed at once' },
  'handshake-window-seconds': { env: 'FL_HANDSHAKE_WINDOW_SECONDS', help: 'accepted clock skew of handshakes' },
  'max-round-attempts': { env: 'FL_MAX_ROUND_ATTEMPTS', help: 'starts of a round below the minimum before pausing' },
  'reconnect-wait-seconds': { env: 'FL_RECONNECT_WAIT_SECONDS', help: 'seconds a round waits for those the previous one asked to reconnect' },
  'handshake-failures-per-minute': { env: 'FL_HANDSHAKE_FAILURES_PER_MINUTE', help: 'failed handshakes per address or key before rate limiting' },
  'login-failures-per-minute': { env: 'FL_LOGIN_FAILURES_PER_MINUTE', help: 'failed sign-ins per address in a minute before rate limiting' },
  'session-hours': { env: 'FL_SESSION_HOURS', help: 'lifetime of a sign-in session' },
  'retain-update-rounds': { env: 'FL_RETAIN_UPDATE_ROUNDS', help: 'rounds of updates kept for the audit, per job (default: all)' },
  'retain-max-model-bytes': { env: 'FL_RETAIN_MAX_MODEL_BYTES', help: 'updates of larger models are not kept, in bytes' },
  'audit-anchor-url': { env: 'FL_AUDIT_ANCHOR_URL', help: 'also POST each audit head to this URL (default: none; audit-anchors.jsonl only)' },
  'max-refusals-per-connection': { env: 'FL_MAX_REFUSALS_PER_CONNECTION', help: "refused messages of a participant in a minute (each counts once more per MiB of JSON), over its connections, before its connection is closed and its handshakes refused for the minute's rest" },
  'default-min-participants': { env: 'FL_DEFAULT_MIN_PARTICIPANTS', help: 'minimum participants of jobs that set none' },
  'default-round-deadline-seconds': { env: 'FL_DEFAULT_ROUND_DEADLINE_SECONDS', help: 'round deadline of jobs that set none' },
  'redis-url': { env: 'FL_REDIS_URL', help: 'redis:// URL shared by replicas (default: none; one process)' },
  'redis-prefix': { env: 'FL_REDIS_PREFIX', help: 'prefix of every Redis key and channel' },
  'trust-proxy': { env: 'FL_TRUST_PROXY', help: 'reverse proxies whose X-Forwarded-For is believed: addresses, CIDRs or loopback (default: none)' },
  'log-level': { env: 'FL_LOG_LEVEL', help: 'error, warn, info or debug' },
  'log-format': { env: 'FL_LOG_FORMAT', help: 'text or json (one object a line)' },
} as const;

export interface TlsFiles {
  cert: Buffer;
  key: Buffer;
  certificate: X509Certificate;
}

class TlsFileError extends Error {
  constructor(
    readonly setting: 'tlsCert' | 'tlsKey',
    message: string,
  ) {
    super(message);
  }
}

function readTlsFile(setting: 'tlsCert' | 'tlsKey', file: string): Buffer {
  const what = setting === 'tlsCert' ? 'TLS certificate' : 'TLS key';
  try {
    return fs.readFileSync(file);
  } catch (err) {
    const { code, message } = err as NodeJS.ErrnoException;
    const why = { ENOENT: 'no such file', EACCES: 'permission denied', EISDIR: 'it is a directory' }[code ?? ''] ?? message;
    throw new TlsFileError(setting, `cannot read the ${what} file ${file}: ${why}`);
  }
}

/**
 * Reads the certificate and its key and checks that they belong together: a wrong
 * file stops the boot with its name, instead of failing every agent's handshake.
 */
export function readTls(certFile: string, keyFile: string): TlsFiles {
  const cert = readTlsFile('tlsCert', certFile);
  const key = readTlsFile('tlsKey', keyFile);
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(cert);
  } catch {
    throw new TlsFileError('tlsCert', `${certFile} is not a PEM certificate`);
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(key);
  } catch {
    throw new TlsFileError('tlsKey', `${keyFile} is not an unencrypted PEM private key`);
  }
  if (!certificate.checkPrivateKey(privateKey)) {
    throw new TlsFileError('tlsKey', `${keyFile} is not the private key of the certificate in ${certFile}`);
  }
  return { cert, key, certificate };
}

/** Both TLS files or neither, each readable and matching the other. */
function tlsProblems(config: { tlsCert?: string; tlsKey?: string }): { path: string[]; message: string }[] {
  // Either may be of any type here: this runs even when the fields did not parse.
  const tlsCert = typeof config.tlsCert === 'string' ? config.tlsCert : undefined;
  const tlsKey = typeof config.tlsKey === 'string' ? config.tlsKey : undefined;
  if (!tlsCert && !tlsKey) return [];
  if (!tlsCert || !tlsKey) {
    return [{ path: [tlsCert ? 'tlsKey' : 'tlsCert'], message: 'TLS needs both --tls-cert and --tls-key (neither for plain HTTP)' }];
  }
  try {
    readTls(tlsCert, tlsKey);
    return [];
  } catch (err) {
    if (err instanceof TlsFileError) return [{ path: [err.setting], message: err.message }];
    throw err;
  }
}

/** A key file given must be there and be one: checked at boot, with the others, rather than when the first job signs. */
function keyFileProblem(config: { keyFile?: unknown }): string | undefined {
  if (typeof config.keyFile !== 'string' || config.keyFile === '') return undefined;
  try {
    readCoordinatorKeyFile(config.keyFile);
    return undefined;
  } catch (err) {
    if (err instanceof KeyFileError) return err.message;
    throw err;
  }
}

const camel = (flag: string) => flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** Each setting's default as help shows it: the schema's own, so the two cannot disagree. */
function defaults(): Record<string, unknown> {
  const parsed = ConfigSchema.safeParse({});
  return parsed.success ? parsed.data : {};
}

export function configHelp(): string {
  const given = defaults();
  const lines = Object.entries(FLAGS).map(([flag, { env, help }]) => {
    const value = given[camel(flag)];
    const shown = value === undefined || /\(default/.test(help) ? '' : ` (default: ${String(value)})`;
    return `  --${flag.padEnd(36)} ${help}${shown} [${env}]`;
  });
  return (
    `Usage: fl-coordinator [options]\n       fl-coordinator user|audit|key ... (below)\n       fl-coordinator --version\n\n` +
    `Runs the coordinator until SIGINT or SIGTERM; on SIGTERM it tells its agents it is restarting,\n` +
    `and running jobs resume from the store at the next start.\n\nOptions:\n${lines.join('\n')}\n  --help                                 this text\n\n` +
    `Exit status: 0 done, 1 failed, 5 another coordinator took its data directory over, 64 usage error (an unknown flag or an invalid value).`
  );
}

/** A setting's problem in words: the flag, the value given, what is expected; never zod's own phrasing. */
function describeIssue(issue: z.core.$ZodIssue, raw: Record<string, unknown>): string {
  const key = String(issue.path[0] ?? '');
  // A secret is never repeated back, even a wrong one.
  const value = /token|redisUrl|databaseUrl/i.test(key) ? undefined : raw[key];
  // A number given as text fails as "not a number" after coercion: say so of the text itself.
  const words = issue.code === 'invalid_type' && issue.expected === 'number' ? 'expected a number' : expectedWords(issue);
  return `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}${value === undefined ? '' : ` ${JSON.stringify(value)}`}: ${words}`;
}

/** Every serving flag takes a value, as parseArgs declares options. */
export const CONFIG_OPTIONS = Object.fromEntries(Object.keys(FLAGS).map((flag) => [flag, { type: 'string' as const }]));

/** Parses flags and environment; throws one Error that names every wrong setting. */
export function loadConfig(argv: string[], env: NodeJS.ProcessEnv): CoordinatorConfig {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: argv, options: CONFIG_OPTIONS, strict: true, allowPositionals: false }));
  } catch (err) {
    const flag = /'(-[^' ]+)/.exec((err as Error).message)?.[1];
    throw new UsageError(
      (err as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ? `unknown flag ${flag} (fl-coordinator --help lists them)` : (err as Error).message.split('\n')[0],
    );
  }
  const raw: Record<string, unknown> = {};
  // Blank is unset, as empty is: coerced, " " would be the number 0 (no update retained, a random port); a blank flag leaves the variable to be read.
  const set = (value: string | boolean | undefined) => value !== undefined && !(typeof value === 'string' && value.trim() === '');
  for (const [flag, { env: name }] of Object.entries(FLAGS)) {
    const value = [values[flag], env[name]].find(set);
    if (value !== undefined) raw[camel(flag)] = value;
  }
  const parsed = ConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `  ${describeIssue(i, raw)}`).join('\n');
    throw new UsageError(`invalid configuration (fl-coordinator --help lists every flag and its default):\n${problems}`);
  }
  return { ...parsed.data, dataDir: path.resolve(parsed.data.dataDir), ...(parsed.data.keyFile && { keyFile: path.resolve(parsed.data.keyFile) }) };
}
