#!/usr/bin/env node
/**
 * `fl-agent`: the command a partner runs on its own premises: keygen, enroll,
 * run, check, predict, report, audit verify (`fl-agent --help`). Exit statuses are shared with
 * the other commands (EXIT in @fl/shared).
 */
import { X509Certificate } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  choiceFlag,
  commandHelp,
  decodePublicKey,
  encodeKey,
  EXIT,
  fingerprint,
  parseCommand,
  readKeyFile,
  requiredFlag,
  urlFlag,
  UsageError,
  writeKeyFile,
  type Command,
  type Parsed,
} from '@fl/shared';
import { buildReport, reportMarkdown } from './audit/report';
import { verifyBundle } from './audit/verify-bundle';
import { ParticipantAgent, type StopReason } from './client/agent';
import { enroll, EnrollmentError } from './client/enroll';
import { readJournalLines } from './client/journal';
import { CoordinatorPins } from './client/pins';
import { loadPolicy } from './client/policy';
import { proxyAgent, proxyFor } from './client/proxy';
import { checkData, loadJobSpec } from './check';
import { loadModel, predictRows, toCsv } from './predict';
import { checkSource, DataError, loadMapping, type DataSource } from './data';

const JOURNAL_HELP = 'journal of sent messages';

const COMMANDS: Record<string, Command> = {
  keygen: {
    name: 'fl-agent keygen',
    usage: '--out key.json',
    summary: 'Makes an Ed25519 key pair (file mode 0600) and prints the public key to register.',
    flags: { out: { value: 'FILE', help: 'where to write the key pair (required)' } },
  },
  enroll: {
    name: 'fl-agent enroll',
    usage: '--coordinator URL --token TOKEN --key key.json --name NAME [options]',
    summary:
      "Registers this site's key with an invitation's one-time token (the key is made if key.json\n" +
      "does not exist) and pins the coordinator's key; shows both fingerprints to compare out of\n" +
      "band. A consortium admin then approves the enrollment.",
    flags: {
      coordinator: { value: 'URL', help: "the coordinator's address, http:// or https:// (required)" },
      token: { value: 'TOKEN', help: "the invitation's one-time token (required)" },
      key: { value: 'FILE', help: "this site's key pair (required; made when missing)" },
      name: { value: 'NAME', help: 'the participant name to enroll as (required)' },
      ca: { value: 'FILE', help: "PEM certificate of the CA that signed an https:// coordinator's certificate", default: "Node's built-in public CAs (not the operating system's store)", env: 'FL_CA_FILE' },
      'coordinator-key': { value: 'KEY', help: "the coordinator's public key, compared out of band", default: 'pinned at first contact' },
      proxy: { value: 'URL', help: 'outbound HTTP proxy (CONNECT) to reach the coordinator through', default: 'HTTPS_PROXY, or HTTP_PROXY for http://; NO_PROXY honoured' },
    },
  },
  run: {
    name: 'fl-agent run',
    usage: '--coordinator URL --key key.json --data SOURCE [options]',
    summary:
      'Connects to the coordinator and takes part in its jobs until stopped (SIGINT, SIGTERM) or\n' +
      'revoked; reconnects with backoff after any disconnect, a coordinator restart included.\n' +
      'SOURCE is a CSV file, a .parquet file, or a postgres:// URL with --query; it is read afresh\n' +
      'for each job, and again when the file changes.\n' +
      'Every message sent is appended to journal.jsonl beside the key (fl-agent report, audit verify).',
    flags: {
      coordinator: { value: 'URL', help: "the coordinator's address, http:// or https:// (required)" },
      key: { value: 'FILE', help: "this site's key pair (required)" },
      data: { value: 'SOURCE', help: 'the local data: a CSV file with a header line, a .parquet file, or a postgres:// URL (required)' },
      query: { value: 'SQL', help: 'the query whose rows to use, for a postgres:// SOURCE', default: 'none' },
      map: { value: 'FILE', help: "renames local columns and category spellings to the job's", default: 'none' },
      policy: { value: 'FILE', help: "this site's policy: jobs outside it are declined with a signed reason", default: 'every job accepted' },
      'coordinator-key': { value: 'KEY', help: "the coordinator's public key, compared out of band", default: 'pinned at first contact in known-coordinators.json beside the key' },
      ca: { value: 'FILE', help: "PEM certificate of the CA that signed an https:// coordinator's certificate", default: "Node's built-in public CAs (not the operating system's store)", env: 'FL_CA_FILE' },
      proxy: { value: 'URL', help: 'outbound HTTP proxy (CONNECT) carrying the socket and the REST calls', default: 'HTTPS_PROXY, or HTTP_PROXY for http://; NO_PROXY honoured' },
      backend: { value: 'NAME', help: 'ignored: training no longer has TF.js backends (accepted so that older service files still start)', default: 'none', env: 'FL_BACKEND' },
    },
  },
  check: {
    name: 'fl-agent check',
    usage: '--data SOURCE --job job.json [--map mapping.json] [--query SQL]',
    summary:
      'Checks the data against a job spec (the JSON POSTed to /api/jobs) before joining: prints the\n' +
      'rows it would train on, the problems by line and column, and the time and memory the check\n' +
      'took. Exit status 0 when the data is usable, 1 when not.',
    flags: {
      data: { value: 'SOURCE', help: 'a CSV file, a .parquet file, or a postgres:// URL (required)' },
      job: { value: 'FILE', help: 'the job spec, as POSTed to /api/jobs (required)' },
      map: { value: 'FILE', help: "renames local columns and category spellings to the job's", default: 'none' },
      query: { value: 'SQL', help: 'the query whose rows to use, for a postgres:// SOURCE', default: 'none' },
    },
  },
  predict: {
    name: 'fl-agent predict',
    usage: '--model FILE --data SOURCE --out FILE [--map mapping.json] [--query SQL]',
    summary:
      "Scores this site's rows with a global model, prepared with the model's own preprocessing,\n" +
      'here where the data is: one CSV line per row, in order: the predicted class, value or\n' +
      'cluster, then the scores (probabilities, margins, or the squared distance to the centre).',
    flags: {
      model: { value: 'FILE', help: 'the model: the JSON of GET /api/jobs/{id}/model, or model.fl.json from fl-sim --export (required)' },
      data: { value: 'SOURCE', help: 'a CSV file, a .parquet file, or a postgres:// URL (required)' },
      out: { value: 'FILE', help: 'where to write the predictions as CSV (required)' },
      map: { value: 'FILE', help: "renames local columns and category spellings to the job's", default: 'none' },
      query: { value: 'SQL', help: 'the query whose rows to use, for a postgres:// SOURCE', default: 'none' },
    },
  },
  report: {
    name: 'fl-agent report',
    usage: '--key key.json [--since DATE] [--format json|md] [--journal FILE]',
    summary:
      'What left this site, per job, from its journal: the aggregates of each statistics message,\n' +
      "each update's size and hash, each evaluation's metrics, each failure report's code and counts.",
    flags: {
      key: { value: 'FILE', help: "this site's key pair: the journal is beside it (required unless --journal)" },
      journal: { value: 'FILE', help: JOURNAL_HELP, default: 'journal.jsonl beside the key' },
      since: { value: 'DATE', help: 'only messages sent from this date or time on (ISO 8601, e.g. 2026-01-31)', default: 'all' },
      format: { value: 'FORMAT', help: 'md (Markdown) or json', default: 'md' },
    },
  },
  audit: {
    name: 'fl-agent audit verify',
    usage: 'BUNDLE --key key.json [options]',
    summary:
      'Verifies an audit bundle exported by the coordinator: its chain, signatures and models\n' +
      '(recomputed where the updates are in it), then that every update and masked input\n' +
      'the coordinator acknowledged to this site is in it as sent. Exit status 0 when all is\n' +
      'consistent, 1 at the first inconsistency, which it names.',
    positionals: 2,
    flags: {
      key: { value: 'FILE', help: "this site's key pair (required)" },
      journal: { value: 'FILE', help: 'the journal of what this site sent', default: 'journal.jsonl beside the key' },
      'coordinator-key': { value: 'KEY', help: "the coordinator's public key, compared out of band", default: 'one pinned in known-coordinators.json beside the key' },
      coordinator: { value: 'URL', help: 'whose journal entries to check', default: "the addresses pinned to the bundle's key, else every entry" },
    },
  },
};

function programHelp(): string {
  const lines = Object.values(COMMANDS).map((c) => `  ${c.name} ${c.usage}`);
  return (
    `Usage:\n${lines.join('\n')}\n  fl-agent --version\n\n` +
    `Each command takes --help. Exit status: ${EXIT.DONE} done, ${EXIT.FAILED} failed, ${EXIT.REFUSED_COORDINATOR} refused coordinator ` +
    `(its key differs from the pinned one), ${EXIT.REVOKED} revoked, ${EXIT.REPLACED} replaced (another agent with this key connected), ` +
    `${EXIT.USAGE} usage error.\n`
  );
}

function version(): string {
  const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as { version: string };
  return `fl-agent ${pkg.version}`;
}

/** A command's arguments, or its help printed: null then. */
function parsed(name: string, args: string[]): Parsed | null {
  const command = COMMANDS[name];
  const result = parseCommand(command, args);
  if (!result.help) return result;
  process.stdout.write(commandHelp(command));
  return null;
}

const string = (values: Parsed['values'], name: string) => values[name] as string | undefined;
/** --coordinator-key, when given: a usage error when it is not a public key, as any other malformed flag. */
const coordinatorKeyFlag = (values: Parsed['values']): string | undefined => {
  const key = string(values, 'coordinator-key');
  if (key !== undefined && !decodePublicKey(key)) throw new UsageError(`--coordinator-key ${JSON.stringify(key)} is not a public key: expected the base64 Ed25519 key the consortium gives you (44 characters)`);
  return key;
};

/** The outbound proxy's agent for a coordinator, when one is given or set in the environment. */
function proxyOf(coordinatorUrl: string, given: string | undefined): ReturnType<typeof proxyAgent> | undefined {
  const proxy = proxyFor(coordinatorUrl, given);
  if (!proxy) return undefined;
  urlFlag('proxy', proxy);
  process.stderr.write(`fl-agent: through the proxy ${new URL(proxy).host}\n`);
  return proxyAgent(proxy);
}

/** The CA file, checked here so that a wrong file is named at start, not as a failed handshake on every attempt. */
function readCa(file: string): Buffer {
  let pem: Buffer;
  try {
    pem = fs.readFileSync(file);
  } catch (err) {
    throw new Error(`cannot read the CA file ${file}: ${(err as Error).message}`);
  }
  try {
    new X509Certificate(pem);
  } catch {
    throw new Error(`the CA file ${file} is not a PEM certificate`);
  }
  return pem;
}

/** `fl-agent audit verify BUNDLE ...`: its own arguments, as it takes a positional one. */
async function audit(args: string[]): Promise<void> {
  const result = parsed('audit', args);
  if (!result) return;
  const { values, positionals } = result;
  const [subcommand, bundle] = positionals;
  if (subcommand !== 'verify' || !bundle) throw new UsageError('expected: fl-agent audit verify BUNDLE --key key.json');
  const keyFile = requiredFlag(values, 'key');
  const besideKey = path.dirname(path.resolve(keyFile));
  const journalFlag = string(values, 'journal');
  const journal = journalFlag ?? path.join(besideKey, 'journal.jsonl');
  if (journalFlag && !fs.existsSync(journal)) throw new UsageError(`--journal ${journal}: no such file`);
  const outcome = await verifyBundle({
    bundle,
    publicKey: readKeyFile(keyFile).publicKey,
    journalFile: fs.existsSync(journal) ? journal : undefined,
    coordinatorKey: coordinatorKeyFlag(values),
    coordinator: string(values, 'coordinator'),
    pins: new CoordinatorPins(path.join(besideKey, 'known-coordinators.json')),
    onLine: (line) => process.stdout.write(`${line}\n`),
  });
  process.exitCode = outcome.exitCode;
}

/** --data and --query, checked together before anything is read. */
function dataSource(values: Parsed['values']): DataSource {
  const source = { location: requiredFlag(values, 'data'), query: string(values, 'query') };
  try {
    checkSource(source);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  return source;
}

async function check(args: string[]): Promise<void> {
  const result = parsed('check', args);
  if (!result) return;
  const { values } = result;
  const source = dataSource(values);
  const spec = loadJobSpec(requiredFlag(values, 'job'));
  const mapping = values.map ? loadMapping(string(values, 'map')!) : undefined;
  const started = performance.now();
  const outcome = await checkData(source, spec, mapping);
  const seconds = (performance.now() - started) / 1000;
  const memory = process.resourceUsage().maxRSS / 1024;
  process.stdout.write(`${outcome.lines.join('\n')}\nchecked in ${seconds.toFixed(1)} s; peak memory ${memory.toFixed(0)} MiB\n`);
  process.exitCode = outcome.usable ? EXIT.DONE : EXIT.FAILED;
}

async function predictCommand(args: string[]): Promise<void> {
  const result = parsed('predict', args);
  if (!result) return;
  const { values } = result;
  const model = loadModel(requiredFlag(values, 'model'));
  const source = dataSource(values);
  const out = requiredFlag(values, 'out');
  const mapping = values.map ? loadMapping(string(values, 'map')!) : undefined;
  const { header, rows } = await predictRows(model, source, mapping);
  fs.writeFileSync(out, toCsv(header, rows));
  process.stdout.write(`${rows.length} rows scored with the ${model.shape.kind} model of job ${model.job}, round ${model.round}: ${out}\n`);
}

/** Whether the date a text starts with exists: Date rolls an impossible one over (30 February becomes 2 March). */
function realDay(text: string): boolean {
  const [, y, m, d] = text.match(/^(\d{4})-(\d{2})-(\d{2})/)?.map(Number) ?? [];
  if (y === undefined) return true;
  const day = new Date(Date.UTC(y, m - 1, d));
  return day.getUTCFullYear() === y && day.getUTCMonth() === m - 1 && day.getUTCDate() === d;
}

function report(args: string[]): void {
  const result = parsed('report', args);
  if (!result) return;
  const { values } = result;
  const journalFlag = string(values, 'journal');
  const journal = journalFlag ?? path.join(path.dirname(path.resolve(requiredFlag(values, 'key'))), 'journal.jsonl');
  const format = choiceFlag('format', string(values, 'format') ?? 'md', ['md', 'json'] as const);
  const sinceText = string(values, 'since');
  const since = sinceText === undefined ? undefined : new Date(sinceText);
  if (since && (Number.isNaN(since.getTime()) || !realDay(sinceText!))) throw new UsageError(`--since ${JSON.stringify(sinceText)} is not a date: expected ISO 8601, e.g. 2026-01-31 or 2026-01-31T12:00:00Z`);
  // A journal named, or a key, that is not there is a typo, not a site that has sent nothing; a key without a journal beside it has sent nothing yet.
  if (journalFlag !== undefined && !fs.existsSync(journal)) throw new UsageError(`--journal ${journal}: no such file`);
  if (journalFlag === undefined && !fs.existsSync(requiredFlag(values, 'key'))) throw new UsageError(`--key ${requiredFlag(values, 'key')}: no such file`);
  const lines = fs.existsSync(journal) ? readJournalLines(journal) : [];
  const built = buildReport(lines, since);
  process.stdout.write(format === 'json' ? `${JSON.stringify(built, null, 2)}\n` : reportMarkdown(built));
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command === '--version' || command === '-v') {
    process.stdout.write(`${version()}\n`);
    return;
  }
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(programHelp());
    return;
  }
  if (command === 'audit') return audit(rest);
  if (command === 'report') return report(rest);
  if (command === 'check') return check(rest);
  if (command === 'predict') return predictCommand(rest);
  if (!(command in COMMANDS)) throw new UsageError(`unknown command ${command} (fl-agent --help lists them)`);
  const result = parsed(command, rest);
  if (!result) return;
  const { values } = result;

  if (command === 'keygen') {
    const pair = writeKeyFile(requiredFlag(values, 'out'));
    process.stdout.write(`public key ${encodeKey(pair.publicKey)}\nfingerprint ${fingerprint(pair.publicKey)}\n`);
    return;
  }
  const coordinatorUrl = urlFlag('coordinator', requiredFlag(values, 'coordinator')).toString().replace(/\/$/, '');
  const keyFile = requiredFlag(values, 'key');
  if (command === 'run' && (string(values, 'backend') ?? process.env.FL_BACKEND)) {
    process.stderr.write('fl-agent: --backend (FL_BACKEND) is ignored: training is plain TypeScript, with no TF.js backend to choose\n');
  }
  const caFile = string(values, 'ca') || process.env.FL_CA_FILE || undefined;
  const ca = caFile ? readCa(caFile) : undefined;
  const agent = proxyOf(coordinatorUrl, string(values, 'proxy'));
  const pins = new CoordinatorPins(path.join(path.dirname(path.resolve(keyFile)), 'known-coordinators.json'));
  // Read before connecting: a broken file is said plainly here, not found in the middle of a handshake.
  pins.read();
  if (command === 'enroll') {
    const token = requiredFlag(values, 'token');
    const name = requiredFlag(values, 'name');
    const created = !fs.existsSync(keyFile);
    const keys = created ? writeKeyFile(keyFile) : readKeyFile(keyFile);
    if (created) process.stdout.write(`made a new key pair in ${keyFile} (mode 0600)\n`);
    let enrolledAs;
    try {
      enrolledAs = await enroll({ coordinatorUrl, token, name, keys, ca, agent, coordinatorKey: coordinatorKeyFlag(values), pins });
    } catch (err) {
      // A coordinator presenting another key than the pinned one is refused, as `run` refuses it.
      if (err instanceof EnrollmentError && err.code === 'BAD_SIGNATURE') process.exitCode = EXIT.REFUSED_COORDINATOR;
      throw err;
    }
    const { enrolled, fingerprint: shown, pinned } = enrolledAs;
    const where = [enrolled.organisation, enrolled.country].filter(Boolean).join(', ');
    process.stdout.write(
      `enrolled as ${enrolled.participant} (${where}): ${enrolled.status === 'pending' ? "waiting for a consortium admin's approval" : enrolled.status}\n` +
        `your key fingerprint        ${fingerprint(keys.publicKey)}\n` +
        `coordinator key fingerprint ${shown} (${{ new: 'now pinned', same: 'as pinned', replaced: 'now pinned in place of the key pinned before' }[pinned]}): compare it with the one the consortium gives you out of band\n` +
        `then: fl-agent run --coordinator ${coordinatorUrl} --key ${keyFile} --data FILE.csv${caFile ? ` --ca ${caFile}` : ''}\n`,
    );
    return;
  }

  const source = dataSource(values);
  const mapping = values.map ? loadMapping(string(values, 'map')!) : undefined;
  const policyFile = string(values, 'policy');
  const policy = policyFile ? loadPolicy(policyFile) : undefined;
  if (policy) process.stderr.write(`fl-agent: jobs are checked against the policy ${policyFile}\n`);
  if (ca && !coordinatorUrl.startsWith('https:')) process.stderr.write(`fl-agent: --ca has no effect on ${coordinatorUrl}, which is not https://\n`);
  const participant = new ParticipantAgent({
    coordinatorUrl,
    keys: readKeyFile(keyFile),
    dataFile: source.location,
    query: source.query,
    mapping,
    policy,
    agent,
    coordinatorKey: coordinatorKeyFlag(values),
    ca,
    pins,
    journalFile: path.join(path.dirname(path.resolve(keyFile)), 'journal.jsonl'),
  });
  // The agent stays up until stopped or revoked; a refused coordinator ends it too, each with its own status.
  const statuses: Record<StopReason, number> = { stopped: EXIT.DONE, revoked: EXIT.REVOKED, 'refused-coordinator': EXIT.REFUSED_COORDINATOR, replaced: EXIT.REPLACED };
  participant.on('stopped', (why: StopReason) => process.exit(statuses[why]));
  const stop = () => participant.stop();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  await participant.start();
}

main(process.argv.slice(2)).catch((err: Error) => {
  const usage = err instanceof UsageError;
  // A data problem says its code, as the site's failure reports and the partner guide's table name it.
  const code = err instanceof DataError ? `${err.code}: ` : '';
  process.stderr.write(`fl-agent: ${code}${err.message}\n${usage ? 'fl-agent --help lists the commands; fl-agent COMMAND --help their flags\n' : ''}`);
  process.exit(usage ? EXIT.USAGE : process.exitCode || EXIT.FAILED);
});
