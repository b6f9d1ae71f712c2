/**
 * Helpers for end-to-end tests and the demo: a coordinator on a temporary data
 * directory, its REST API, real agents with registered keys, data split into
 * one file per party, and evaluation of a global model on held-out rows.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { Client } from 'pg';
import { SqliteStore, startCoordinator, STORE_FILE, verifyStore, type Clock, type CoordinatorConfigInput, type RunningCoordinator } from '@fl/coordinator';
import {
  encodeKey,
  generateKeyPair,
  seededRandom,
  signHeader,
  type JobSpec,
  type JobSpecInput,
  type AuditPage,
  type JobView,
  type KeyPair,
  type ModelShape,
  type Preprocessing,
  type RoundView,
  type ParticipantView,
} from '@fl/shared';
import { isMissing, parseCsv, prepare, ParticipantAgent, requestJson, toLocalTable, type Mapping, type SecureParty, type SitePolicy } from '@fl/participant-agent';
import { testMetrics } from './sim/evaluate';
import { shuffle } from './sim/partition';

export const DATA_DIR = path.resolve(__dirname, '..', '..', 'data');
export const REPO_ROOT = path.resolve(__dirname, '..', '..');

/** One statement on a connection of its own (PostgreSQL): creating and dropping a test's database, reading or changing its rows. */
export async function query<R extends Record<string, unknown>>(url: string, text: string, values: unknown[] = []): Promise<R[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<R>(text, values)).rows;
  } finally {
    await client.end();
  }
}

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `fl-${prefix}-`));
}

export async function testCoordinator(options: Partial<CoordinatorConfigInput> = {}, clock?: Clock) {
  return startCoordinator(
    {
      port: 0,
      dataDir: tempDir('coordinator'),
      logLevel: 'error',
      adminToken: 'test-admin-token-0123456789',
      ...options,
    },
    clock,
  );
}

/** The REST API as the dashboard or a script uses it; with a CA, over the agent's client, since fetch cannot take one. */
export class AdminApi {
  constructor(
    readonly url: string,
    private readonly token: string,
    private readonly ca?: string | Buffer,
  ) {}

  static of(coordinator: RunningCoordinator, ca?: string | Buffer): AdminApi {
    if (!coordinator.adminToken) throw new Error('the coordinator was started without an admin token');
    return new AdminApi(coordinator.url, coordinator.adminToken, ca);
  }

  async request<T>(method: string, route: string, body?: unknown): Promise<{ status: number; body: T }> {
    if (this.ca) {
      const headers = { authorization: `Bearer ${this.token}` };
      const response = await requestJson(`${this.url}${route}`, { method, body, headers, ca: this.ca });
      return response as { status: number; body: T };
    }
    const response = await fetch(`${this.url}${route}`, {
      method,
      headers: { authorization: `Bearer ${this.token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: response.status, body: (await response.json()) as T };
  }

  private async ok<T>(method: string, route: string, body?: unknown): Promise<T> {
    const { status, body: result } = await this.request<T>(method, route, body);
    if (status >= 300) throw new Error(`${method} ${route}: ${status} ${JSON.stringify(result)}`);
    return result;
  }

  registerParticipant(name: string, organisation: string, publicKey: Uint8Array) {
    return this.ok('POST', '/api/participants', { name, organisation, publicKey: encodeKey(publicKey) });
  }

  createJob(spec: JobSpecInput): Promise<JobView> {
    return this.ok('POST', '/api/jobs', spec);
  }

  job(id: string): Promise<JobView> {
    return this.ok('GET', `/api/jobs/${id}`);
  }

  participants(): Promise<ParticipantView[]> {
    return this.ok('GET', '/api/participants');
  }

  rounds(id: string): Promise<RoundView[]> {
    return this.ok('GET', `/api/jobs/${id}/rounds`);
  }

  /** The first page of the audit log. */
  audit(): Promise<AuditPage> {
    return this.ok('GET', '/api/audit?limit=1000');
  }

  model(id: string): Promise<GlobalModel> {
    return this.ok('GET', `/api/jobs/${id}/model`);
  }
}

export interface GlobalModel {
  job: string;
  round: number;
  sha256: string;
  shape: ModelShape;
  target: string;
  preprocessing: Preprocessing;
  weights: number[];
}

/** A registered participant with its own key. */
export async function registerParticipant(api: AdminApi, name: string, organisation = `${name} Ltd`): Promise<KeyPair> {
  const keys = generateKeyPair();
  await api.registerParticipant(name, organisation, keys.publicKey);
  return keys;
}

export async function startAgent(
  coordinator: RunningCoordinator,
  name: string,
  dataFile: string,
  options: { keys?: KeyPair; log?: (message: string) => void; timeoutMs?: number; ca?: string | Buffer; query?: string; mapping?: Mapping; journalFile?: string; policy?: SitePolicy } = {},
): Promise<ParticipantAgent> {
  const pair = options.keys ?? (await registerParticipant(AdminApi.of(coordinator, options.ca), name));
  const agent = new ParticipantAgent({
    coordinatorUrl: coordinator.url,
    keys: pair,
    dataFile,
    query: options.query,
    mapping: options.mapping,
    journalFile: options.journalFile,
    policy: options.policy,
    coordinatorKey: coordinator.identity.publicKey,
    ca: options.ca,
    log: options.log ?? (() => undefined),
    reconnectDelayMs: 100,
    reconnectDelayMaxMs: 1000,
  });
  const welcomed = agent.start();
  if (options.timeoutMs === undefined) await welcomed;
  else {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), options.timeoutMs)));
    const outcome = await Promise.race([welcomed, late]);
    clearTimeout(timer);
    if (outcome === 'late') {
      // Stopped, or it would go on reconnecting and keep the process alive.
      agent.stop();
      throw new Error(`${name} was not welcomed by the coordinator within ${options.timeoutMs} ms`);
    }
  }
  return agent;
}

/**
 * Makes a real agent a dishonest dealer of secure-aggregation shares: in the
 * rounds named, the share it seals for `to` is random bytes of the right
 * length, which do not open, and its share reply is signed again with its key.
 * Returns what makes it honest again.
 */
export function dealingBadShares(agent: ParticipantAgent, to: string, rounds: readonly number[]): () => void {
  const party = (agent as unknown as { secure: SecureParty }).secure;
  const { secretKey } = party as unknown as { secretKey: Uint8Array };
  const answer = party.answer.bind(party);
  let dishonest = true;
  party.answer = async (request, ...rest) => {
    const reply = await answer(request, ...rest);
    if (!dishonest || request.step !== 'share' || !rounds.includes(request.round)) return reply;
    const garbage = (ciphertext: string) => randomBytes(Buffer.from(ciphertext, 'base64').length).toString('base64');
    const header = { ...reply.header, shares: reply.header.shares!.map((s) => (s.destination === to ? { ...s, ciphertext: garbage(s.ciphertext) } : s)) };
    return { header, signature: signHeader('secagg', header, secretKey) };
  };
  return () => (dishonest = false);
}

const csvField = (value: string) => (/[",\n\r]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value);

export interface Split {
  /** one CSV file per party */
  parties: string[];
  /** the held-out rows, as a CSV file */
  holdout: string;
  header: string[];
  rows: string[][];
}

/** Writes a header and rows as a CSV file, quoting where needed; returns the file. */
export function writeCsv(file: string, header: readonly string[], rows: readonly (readonly string[])[]): string {
  const lines = [header, ...rows].map((r) => r.map(csvField).join(','));
  fs.writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

/** Shuffles a CSV with a seed, holds out a fraction, and deals the rest into one file per party. */
export function splitCsv(file: string, parties: number, options: { seed: number; holdout: number; dir: string }): Split {
  const table = parseCsv(fs.readFileSync(file, 'utf8'));
  const rows = shuffle(
    table.rows.map((r) => r.fields),
    seededRandom(options.seed),
  );
  const held = Math.round(rows.length * options.holdout);
  const write = (name: string, part: string[][]) => writeCsv(path.join(options.dir, name), table.header, part);
  const training = rows.slice(held);
  const files = Array.from({ length: parties }, (_, p) =>
    write(`party-${p + 1}.csv`, training.filter((_, i) => i % parties === p)),
  );
  return { parties: files, holdout: write('holdout.csv', rows.slice(0, held)), header: table.header, rows };
}

/** Evaluates a downloaded global model on a CSV file, with the model's own preprocessing. */
export function evaluateModel(model: GlobalModel, spec: JobSpec, file: string): { accuracy?: number; rmse?: number; inertia?: number; n: number } {
  const { table } = toLocalTable(parseCsv(fs.readFileSync(file)), spec);
  const data = prepare(table, model.preprocessing);
  const metrics = testMetrics(model.shape, new Float32Array(model.weights), data, model.preprocessing.target);
  const known = (value: number | null) => value ?? undefined;
  if ('inertia' in metrics) return { inertia: known(metrics.inertia), n: data.n };
  return 'rmse' in metrics ? { rmse: known(metrics.rmse), n: data.n } : { accuracy: known(metrics.accuracy), n: data.n };
}

/** Polls until the predicate holds; for events that are not exposed as promises. */
export async function eventually<T>(probe: () => Promise<T> | T, accept: (value: T) => boolean, timeoutMs = 60_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (accept(value)) return value;
    if (Date.now() > end) throw new Error(`condition not met within ${timeoutMs} ms; last value ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * A FedAvg job on the bundled breast-cancer data as secure jobs declare it (its
 * features' bounds and classes, summed securely), in rounds of at least 4 (t = 3
 * needs them: each party's shares go to at most the n − 1 others), and the
 * secure-aggregation options that go with it.
 */
export function breastCancerJob() {
  const file = path.join(DATA_DIR, 'breast_cancer.csv');
  const spec = { model: 'logistic', ...declaredFeatures(file, 'diagnosis'), target: 'diagnosis', minParticipants: 4, evaluateEvery: 0, strategy: { name: 'fedavg' } };
  return { file, spec, secure: { range: 4, neighbours: 4, threshold: 3 } };
}

/**
 * A file's features with what a secure job declares of them (docs/privacy.md),
 * as a consortium agrees on them beforehand: each numeric column's range, each
 * categorical column's values; and the target's classes.
 */
export function declaredFeatures(file: string, target: string, categorical: string[] = []): { features: JobSpec['features']; classes: string[] } {
  const { header, rows } = parseCsv(fs.readFileSync(file, 'utf8'));
  const values = (name: string) => {
    const i = header.indexOf(name);
    return rows.map((r) => r.fields[i]).filter((v) => !isMissing(v));
  };
  const features = featuresOf(file, target, categorical).map((f) => {
    if (f.type === 'categorical') return { ...f, categories: [...new Set(values(f.name))].sort() };
    const numbers = values(f.name).map(Number);
    return { ...f, bounds: [Math.min(...numbers), Math.max(...numbers)] as [number, number] };
  });
  return { features, classes: [...new Set(values(target))].sort() };
}

/** The bytes a coordinator's store retains of a job's updates or masked inputs, those of the rounds `rounds` selects. */
export function retainedInputs(dataDir: string, job: string, rounds: 'statistics' | 'training'): Buffer[] {
  const db = new Database(path.join(dataDir, STORE_FILE), { readonly: true });
  try {
    const sql = `SELECT weights FROM updates WHERE job = ? AND round ${rounds === 'statistics' ? '<= 0' : '> 0'}`;
    return (db.prepare(sql).all(job) as { weights: Buffer }[]).map((r) => r.weights);
  } finally {
    db.close();
  }
}

/** Pearson's chi-square of bytes against uniform ones: 255 degrees of freedom, whose 99.9th percentile is about 330. */
export function byteChiSquare(bytes: Uint8Array): number {
  const counts = new Array<number>(256).fill(0);
  for (const b of bytes) counts[b]++;
  const expected = bytes.length / 256;
  return counts.reduce((s, c) => s + (c - expected) ** 2 / expected, 0);
}

/**
 * `audit verify` on a copy of a coordinator's store, and again once one bit of
 * one retained update (or masked input) of the copy is flipped.
 */
export async function verifyAndTamper(dataDir: string, update: { job: string; round: number; participant: string }) {
  const copy = path.join(tempDir('tamper'), STORE_FILE);
  fs.copyFileSync(path.join(dataDir, STORE_FILE), copy);
  const copied = await SqliteStore.open(copy, { readonly: true });
  const db = new Database(copy);
  try {
    const report = await verifyStore(copied, copy);
    const where = 'job = ? AND round = ? AND participant = ?';
    const row = db.prepare(`SELECT weights FROM updates WHERE ${where}`).get(update.job, update.round, update.participant) as { weights: Buffer };
    const changed = Buffer.from(row.weights);
    changed[5] ^= 0x01;
    db.prepare(`UPDATE updates SET weights = ? WHERE ${where}`).run(changed, update.job, update.round, update.participant);
    return { report, tampered: await verifyStore(copied, copy) };
  } finally {
    await copied.close();
    db.close();
  }
}

export function featuresOf(file: string, target: string, categorical: string[] = []): JobSpec['features'] {
  const { header } = parseCsv(fs.readFileSync(file, 'utf8').split('\n')[0] + '\n');
  return header
    .filter((c) => c !== target)
    .map((name) => ({ name, type: categorical.includes(name) ? ('categorical' as const) : ('numeric' as const) }));
}
