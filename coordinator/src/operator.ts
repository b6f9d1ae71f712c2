/**
 * The operator's commands, run on the coordinator's machine against its data
 * directory and its store (the coordinator may be running: SQLite's WAL, or
 * PostgreSQL, lets both work). With --database-url (or FL_DATABASE_URL) the
 * store is that PostgreSQL database; the data directory still holds the
 * coordinator's key and the audit anchors.
 *
 *   fl-coordinator user add --data-dir DIR --name NAME --role admin|viewer [--password-stdin]
 *   fl-coordinator user list --data-dir DIR
 *   fl-coordinator audit verify --data-dir DIR
 *   fl-coordinator audit export --data-dir DIR --out BUNDLE [--participant NAME]
 *   fl-coordinator key generate FILE
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { AUDIT_ANCHORS_FILE, describeZodError, NewUserRequestSchema, writeBundle } from '@fl/shared';
import { addUser } from './users/users.service';
import { AuditAnchors } from './audit/audit-anchors';
import { AuditLog } from './audit/audit-log';
import { CoordinatorLogger } from './logger';
import { storeAuditSource, verifyStore } from './audit/store-source';
import { CoordinatorIdentity, generateCoordinatorKeyFile, KeyFileError } from './identity/identity';
import { STORE_FILE } from './storage/store.sqlite';
import { describeStore, isPostgresUrl, openStore, storeFile, type StoreLocation } from './storage/open';
import type { Store } from './storage/store';

export const OPERATOR_HELP = `Operator commands (on the coordinator's machine; each also takes
--database-url postgres://… (or FL_DATABASE_URL) when the store is in PostgreSQL):
  fl-coordinator user add --data-dir DIR --name NAME --role admin|viewer [--password-stdin] [--key-file FILE]
      Adds a user of the dashboard and the API. The password is asked for, or read
      from standard input with --password-stdin (at least 12 characters). The audit
      record is signed with the coordinator's key: give --key-file (or FL_KEY_FILE)
      when the coordinator runs with one.
  fl-coordinator user list --data-dir DIR
  fl-coordinator audit verify --data-dir DIR
      Recomputes the audit log's hash chain, checks every signature, checks that the
      log reaches the newest head anchored in DIR/audit-anchors.jsonl, and for each
      round whose updates are retained recomputes the job's strategy and compares
      it with the stored global model and strategy state. Exit status 1 at the
      first inconsistency, which it names.
  fl-coordinator audit export --data-dir DIR --out BUNDLE [--participant NAME]
      Writes the log, the retained updates, the global models and strategy states to the directory
      BUNDLE, which a participant verifies with \`fl-agent audit verify BUNDLE\`.
      --participant NAME includes only that participant's updates (others' updates
      can reveal something of their data).
  fl-coordinator key generate FILE
      Writes a new coordinator key to FILE (mode 0600) and shows its fingerprint, for
      --key-file (FL_KEY_FILE): every replica of one coordinator runs with the same
      key. Refuses to replace an existing file.
`;

/** A command given wrongly: exit status 64, with the commands' help. */
export class OperatorError extends Error {}

/** A command given rightly that cannot be done (a file exists already, a key file is missing): exit status 1. */
export class OperatorFailure extends Error {}

type Out = (line: string) => void;

/** Opens the existing store of a data directory or database URL. */
async function existingStore(location: StoreLocation, readonly: boolean): Promise<Store> {
  if (!location.databaseUrl && !fs.existsSync(storeFile(location.dataDir))) {
    throw new OperatorFailure(`${location.dataDir} holds no coordinator store (${STORE_FILE})`);
  }
  try {
    return await openStore(location, { readonly });
  } catch (err) {
    throw new OperatorError((err as Error).message);
  }
}

async function readPassword(fromStdin: boolean): Promise<string> {
  if (fromStdin || !process.stdin.isTTY) {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    const password = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
    // Two lines are two passwords pasted, or a file of another kind: which one was meant cannot be guessed.
    if (/[\r\n]/.test(password)) throw new OperatorError('the password given on standard input holds a line break: give it on one line');
    return password;
  }
  // Asked on the terminal without echo.
  process.stdout.write('password: ');
  process.stdin.setRawMode(true);
  let password = '';
  try {
    // Character by character: a pasted password arrives as one chunk, with its Enter.
    for await (const chunk of process.stdin) {
      for (const char of (chunk as Buffer).toString('utf8')) {
        if (char === '\u0003') throw new OperatorError('interrupted');
        if (char === '\r' || char === '\n') return password;
        password = char === '\u007f' ? password.slice(0, -1) : password + char;
      }
    }
    return password;
  } finally {
    process.stdin.setRawMode(false);
    process.stdin.pause();
    process.stdout.write('\n');
  }
}

/** The flags of the operator's commands, as parseArgs declares options. */
export const OPERATOR_OPTIONS = {
  'data-dir': { type: 'string' },
  'database-url': { type: 'string' },
  name: { type: 'string' },
  role: { type: 'string' },
  'password-stdin': { type: 'boolean' },
  out: { type: 'string' },
  participant: { type: 'string' },
  'key-file': { type: 'string' },
} as const;

/** Each command and the flags it takes (besides --data-dir and --database-url): a flag given to another would look taken and do nothing. */
const COMMANDS = new Map<string, string[]>([
  ['user add', ['name', 'role', 'password-stdin', 'key-file']],
  ['user list', []],
  ['audit verify', []],
  ['audit export', ['out', 'participant']],
  ['key generate', []],
]);

/** `key generate FILE`: a new key for --key-file, made once and given to every replica. */
function generateKey(args: string[], out: Out): number {
  let positionals: string[];
  try {
    ({ positionals } = parseArgs({ args, options: {}, strict: true, allowPositionals: true }));
  } catch (err) {
    throw new OperatorError((err as Error).message);
  }
  if (positionals.length !== 1) throw new OperatorError('key generate takes one argument: the file to write');
  const file = path.resolve(positionals[0]);
  let identity: CoordinatorIdentity;
  try {
    identity = generateCoordinatorKeyFile(file);
  } catch (err) {
    // Not a usage error: the command was right, the file was not.
    if (err instanceof KeyFileError) throw new OperatorFailure(err.message);
    throw err;
  }
  out(`wrote the coordinator key ${file}`);
  out(`  public key ${identity.publicKey}`);
  out(`  fingerprint ${identity.fingerprint}`);
  return 0;
}

export async function runOperatorCommand(argv: string[], out: Out): Promise<number> {
  const [group, command, ...rest] = argv;
  const takes = COMMANDS.get(`${group} ${command}`);
  if (!takes) throw new OperatorError(`unknown command ${[group, command].filter(Boolean).join(' ')}`);
  if (group === 'key') return generateKey(rest, out);
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: rest, options: OPERATOR_OPTIONS, strict: true }));
  } catch (err) {
    throw new OperatorError((err as Error).message);
  }
  const other = Object.keys(values).find((flag) => !['data-dir', 'database-url', ...takes].includes(flag));
  if (other) throw new OperatorError(`--${other} does not apply to ${group} ${command}`);
  const dataDir = values['data-dir'] as string | undefined;
  if (!dataDir) throw new OperatorError('--data-dir is required');
  const databaseUrl = (values['database-url'] as string | undefined) ?? (process.env.FL_DATABASE_URL || undefined);
  if (databaseUrl !== undefined && !isPostgresUrl(databaseUrl)) throw new OperatorError('--database-url must be postgres://user:password@host:port/database');
  const location: StoreLocation = { dataDir: path.resolve(dataDir), databaseUrl };

  if (group === 'user' && command === 'add') {
    // Name and role are checked before the password is asked for.
    if (!values.name) throw new OperatorError('--name is required');
    if (!values.role) throw new OperatorError('--role is required: admin or viewer');
    const named = NewUserRequestSchema.pick({ name: true, role: true }).safeParse({ name: values.name, role: values.role });
    if (!named.success) throw new OperatorError(describeZodError(named.error));
    const keyFile = (values['key-file'] as string | undefined) ?? (process.env.FL_KEY_FILE || undefined);
    const made = !fs.existsSync(dataDir);
    fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    let identity: CoordinatorIdentity;
    try {
      identity = CoordinatorIdentity.load({ keyFile: keyFile && path.resolve(keyFile), dataDir: path.resolve(dataDir) });
    } catch (err) {
      if (err instanceof KeyFileError) throw new OperatorFailure(err.message);
      throw err;
    }
    const password = await readPassword(values['password-stdin'] === true);
    const parsed = NewUserRequestSchema.safeParse({ ...named.data, password });
    if (!parsed.success) throw new OperatorError(describeZodError(parsed.error));
    const store = await openStore(location);
    try {
      const audit = await AuditLog.open(store, identity);
      const user = await addUser(store, audit, parsed.data, 'operator');
      await new AuditAnchors(store, path.join(path.resolve(dataDir), AUDIT_ANCHORS_FILE), new CoordinatorLogger('error')).anchor();
      // A new directory may be a mistyped one: said, with the key a coordinator started on it will show.
      if (made) out(`made the data directory ${path.resolve(dataDir)}, its coordinator key fingerprint ${identity.fingerprint}`);
      out(`added ${user.role} ${user.name}`);
      return 0;
    } finally {
      await store.close();
    }
  }
  if (group === 'user' && command === 'list') {
    const store = await existingStore(location, true);
    try {
      for (const user of await store.listUsers()) out(`${user.name}\t${user.role}\t${new Date(user.createdAt).toISOString()}`);
      return 0;
    } finally {
      await store.close();
    }
  }
  if (group === 'audit' && (command === 'verify' || command === 'export')) {
    const file = describeStore(location);
    const store = await existingStore(location, true);
    try {
      const source = storeAuditSource(store, file);
      if (command === 'verify') {
        const anchorsFile = path.join(path.resolve(dataDir), AUDIT_ANCHORS_FILE);
        // Named as the operator gave the directory: a report shows no path of the machine it was not asked for.
        const report = await verifyStore(store, file, { onLine: out, anchorsFile, anchorsName: path.join(dataDir, AUDIT_ANCHORS_FILE) });
        return report.ok ? 0 : 1;
      }
      const target = values.out as string | undefined;
      if (!target) throw new OperatorError('--out is required');
      const participant = values.participant as string | undefined;
      // A name mistyped would give the site a bundle without one of its updates, which its verification then misses.
      if (participant !== undefined && !(await store.getParticipant(participant))) throw new OperatorFailure(`--participant ${JSON.stringify(participant)}: no participant of that name in ${file}`);
      // One transaction, a snapshot: a running coordinator may write the store meanwhile.
      await store.transaction(() => writeBundle(source, target, { participant }), { snapshot: true });
      out(`wrote the audit bundle ${target}; verify it with: fl-agent audit verify ${target} --key KEY`);
      return 0;
    } finally {
      await store.close();
    }
  }
  throw new OperatorError(`unknown command ${[group, command].filter(Boolean).join(' ')}`);
}
