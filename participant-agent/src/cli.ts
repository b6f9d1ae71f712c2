#!/usr/bin/env node
/**
 * `fl-agent`: the command a partner runs on its own premises.
 *   fl-agent keygen --out key.json
 *   fl-agent enroll --coordinator URL --token TOKEN --key key.json --name NAME
 *   fl-agent run --coordinator URL --key key.json --data file.csv [--map mapping.json] [--coordinator-key KEY] [--ca ca.pem]
 *   fl-agent check --data file.csv --job job.json [--map mapping.json] [--query SQL]
 *   fl-agent check --data SOURCE --job job.json [--map mapping.json] [--query SQL]
      Checks the data against a job spec (the JSON POSTed to /api/jobs) before joining:
      prints the rows it would train on, the problems by line and column, and the time
      and memory the check took. Exit status 0 when the data is usable, 1 when not.
  fl-agent audit verify BUNDLE --key key.json [--journal FILE] [--coordinator-key KEY]
 */
import { X509Certificate } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import * as v8 from 'node:v8';
import { encodeKey, fingerprint, readKeyFile, writeKeyFile } from '@fl/shared';
import { verifyBundle } from './audit/verify-bundle';
import { ParticipantAgent } from './client/agent';
import { enroll } from './client/enroll';
import { CoordinatorPins } from './client/pins';
import { checkData, loadJobSpec } from './check';
import { checkSource, loadMapping, type DataSource } from './data';
import { BACKEND_NAMES, selectBackend, type BackendName } from './train';

const HELP = `Usage:
  fl-agent keygen --out key.json
      Makes an Ed25519 key pair (file mode 0600) and prints the public key to register.
  fl-agent enroll --coordinator URL --token TOKEN --key key.json --name NAME [--ca FILE] [--coordinator-key KEY]
      Registers this site's key with an invitation's one-time token (the key is made if
      key.json does not exist) and pins the coordinator's key; shows both fingerprints to
      compare out of band. A consortium admin then approves the enrollment.
  fl-agent run --coordinator URL --key key.json --data SOURCE [options]
      Connects to the coordinator and takes part in its jobs until stopped. SOURCE is a CSV
      file, a .parquet file, or a postgres:// URL with --query; it is read afresh for each
      job, and again when the file changes.
      --query SQL              the query whose rows to use, for a postgres:// SOURCE
      --map mapping.json       renames local columns and category spellings to the job's
      --coordinator-key KEY    the coordinator's public key, compared out of band
                               (default: pinned at first contact in known-coordinators.json beside the key)
      --ca FILE                PEM certificate of the CA that signed an https:// coordinator's
                               certificate (default: the system's CAs) [FL_CA_FILE]
      --backend NAME           tensorflow, wasm or cpu (default: the first that loads) [FL_BACKEND]
      Each update sent is appended, with its signature and whether it was acknowledged,
      to journal.jsonl beside the key: the evidence that audit verify checks a bundle against.
  fl-agent check --data SOURCE --job job.json [--map mapping.json] [--query SQL]
      Checks the data against a job spec (the JSON POSTed to /api/jobs) before joining:
      prints the rows it would train on, the problems by line and column, and the time
      and memory the check took. Exit status 0 when the data is usable, 1 when not.
  fl-agent audit verify BUNDLE --key key.json [--journal FILE] [--coordinator-key KEY] [--coordinator URL]
      Verifies an audit bundle exported by the coordinator: its chain, signatures and models
      (recomputed where the updates are in it), then that every update the coordinator
      acknowledged to this site is in it as sent. Exit status 0 when all is consistent, 1
      at the first inconsistency, which it names.
      --journal FILE           the journal of sent updates (default: journal.jsonl beside the key)
      --coordinator-key KEY    the coordinator's public key, compared out of band
                               (default: one pinned in known-coordinators.json beside the key)
      --coordinator URL        whose journal entries to check (default: the addresses pinned to the bundle's key)
`;

class UsageError extends Error {}

function required(values: Record<string, unknown>, name: string): string {
  const value = values[name];
  if (typeof value !== 'string' || value === '') throw new UsageError(`--${name} is required`);
  return value;
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
function audit(args: string[]): void {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: { key: { type: 'string' }, journal: { type: 'string' }, 'coordinator-key': { type: 'string' }, coordinator: { type: 'string' } },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  const [subcommand, bundle, ...extra] = positionals;
  if (subcommand !== 'verify' || !bundle || extra.length) throw new UsageError('expected: fl-agent audit verify BUNDLE --key key.json');
  const keyFile = required(values, 'key');
  const besideKey = path.dirname(path.resolve(keyFile));
  const journal = values.journal ?? path.join(besideKey, 'journal.jsonl');
  if (values.journal && !fs.existsSync(journal)) throw new Error(`there is no journal ${journal}`);
  const result = verifyBundle({
    bundle,
    publicKey: readKeyFile(keyFile).publicKey,
    journalFile: fs.existsSync(journal) ? journal : undefined,
    coordinatorKey: values['coordinator-key'],
    coordinator: values.coordinator,
    pins: new CoordinatorPins(path.join(besideKey, 'known-coordinators.json')),
    onLine: (line) => process.stdout.write(`${line}\n`),
  });
  process.exitCode = result.exitCode;
}

/** --data and --query, checked together before anything is read. */
function dataSource(values: Record<string, unknown>): DataSource {
  const source = { location: required(values, 'data'), query: values.query as string | undefined };
  try {
    checkSource(source);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  return source;
}

/** `fl-agent check --data SOURCE --job job.json [--map M] [--query SQL]` */
async function check(args: string[]): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      options: { data: { type: 'string' }, job: { type: 'string' }, map: { type: 'string' }, query: { type: 'string' } },
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const source = dataSource(values);
  const spec = loadJobSpec(required(values, 'job'));
  const mapping = values.map ? loadMapping(values.map) : undefined;
  const started = performance.now();
  const result = await checkData(source, spec, mapping);
  const seconds = (performance.now() - started) / 1000;
  const memory = process.resourceUsage().maxRSS / 1024;
  process.stdout.write(`${result.lines.join('\n')}\nchecked in ${seconds.toFixed(1)} s; peak memory ${memory.toFixed(0)} MiB\n`);
  process.exitCode = result.usable ? 0 : 1;
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(HELP);
    return;
  }
  if (command === 'audit') return audit(rest);
  if (command === 'check') return check(rest);
  const options = {
    out: { type: 'string' },
    coordinator: { type: 'string' },
    key: { type: 'string' },
    data: { type: 'string' },
    map: { type: 'string' },
    'coordinator-key': { type: 'string' },
    ca: { type: 'string' },
    token: { type: 'string' },
    name: { type: 'string' },
    backend: { type: 'string' },
    query: { type: 'string' },
  } as const;
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: rest, options, strict: true }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }

  if (command === 'keygen') {
    const pair = writeKeyFile(required(values, 'out'));
    process.stdout.write(`public key ${encodeKey(pair.publicKey)}\nfingerprint ${fingerprint(pair.publicKey)}\n`);
    return;
  }
  if (command === 'enroll') {
    const keyFile = required(values, 'key');
    const created = !fs.existsSync(keyFile);
    const keys = created ? writeKeyFile(keyFile) : readKeyFile(keyFile);
    if (created) process.stdout.write(`made a new key pair in ${keyFile} (mode 0600)\n`);
    const caFile = (values.ca as string | undefined) || process.env.FL_CA_FILE || undefined;
    const coordinatorUrl = required(values, 'coordinator');
    const { enrolled, fingerprint: shown, pinned } = await enroll({
      coordinatorUrl,
      token: required(values, 'token'),
      name: required(values, 'name'),
      keys,
      ca: caFile ? readCa(caFile) : undefined,
      coordinatorKey: values['coordinator-key'] as string | undefined,
      pins: new CoordinatorPins(path.join(path.dirname(path.resolve(keyFile)), 'known-coordinators.json')),
    });
    const where = [enrolled.organisation, enrolled.country].filter(Boolean).join(', ');
    process.stdout.write(
      `enrolled as ${enrolled.participant} (${where}): ${enrolled.status === 'pending' ? "waiting for a consortium admin's approval" : enrolled.status}\n` +
        `your key fingerprint        ${fingerprint(keys.publicKey)}\n` +
        `coordinator key fingerprint ${shown} (${pinned === 'new' ? 'now pinned' : 'as pinned'}): compare it with the one the consortium gives you out of band\n` +
        `then: fl-agent run --coordinator ${coordinatorUrl} --key ${keyFile} --data FILE.csv${caFile ? ` --ca ${caFile}` : ''}\n`,
    );
    return;
  }
  if (command !== 'run') throw new UsageError(`unknown command ${command}`);

  const keyFile = required(values, 'key');
  const source = dataSource(values);
  const backendName = (values.backend as string | undefined) ?? process.env.FL_BACKEND;
  if (backendName && !BACKEND_NAMES.includes(backendName as BackendName)) {
    throw new UsageError(`--backend must be one of ${BACKEND_NAMES.join(', ')}`);
  }
  const coordinatorUrl = required(values, 'coordinator');
  const caFile = (values.ca as string | undefined) || process.env.FL_CA_FILE || undefined;
  const ca = caFile ? readCa(caFile) : undefined;
  if (ca && !coordinatorUrl.startsWith('https:')) process.stderr.write(`fl-agent: --ca has no effect on ${coordinatorUrl}, which is not https://\n`);
  const backend = await selectBackend(backendName as BackendName | undefined);
  process.stderr.write(`fl-agent: training on TF.js ${backend}\n`);
  const agent = new ParticipantAgent({
    coordinatorUrl,
    keys: readKeyFile(keyFile),
    dataFile: source.location,
    query: source.query,
    mapping: values.map ? loadMapping(values.map as string) : undefined,
    coordinatorKey: values['coordinator-key'] as string | undefined,
    ca,
    pins: new CoordinatorPins(path.join(path.dirname(path.resolve(keyFile)), 'known-coordinators.json')),
    journalFile: path.join(path.dirname(path.resolve(keyFile)), 'journal.jsonl'),
  });
  agent.on('refused', (error: { code: string }) => {
    if (error.code === 'BAD_SIGNATURE' && !agent.socket.active) process.exitCode = 2;
    // Revocation is final: there is nothing to retry.
    if (error.code === 'REVOKED') process.exit(3);
  });
  const stop = () => {
    agent.stop();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  // Models of megabytes come and go every round outside the heap, and V8 counts them against the heap's limit:
  // letting it grow to 4x what the last full collection kept spares a full collection about every round.
  if (!process.execArgv.some((arg) => arg.startsWith('--heap-growing-percent'))) v8.setFlagsFromString('--heap-growing-percent=300');
  await agent.start();
}

main(process.argv.slice(2)).catch((err: Error) => {
  process.stderr.write(`fl-agent: ${err.message}\n${err instanceof UsageError ? `\n${HELP}` : ''}`);
  process.exit(err instanceof UsageError ? 64 : 1);
});
