/**
 * A secure job's statistics phase through a running coordinator and five real
 * agents, on credit data with missing values and categorical columns: the
 * preprocessing the coordinator builds from the masked statistics vectors is
 * the plain job's within the fixed-point step; it stores and records no site's
 * statistics; a site that drops during the phase is recovered; vocabularies
 * gathered keep the categories held by two sites or more, and the coordinator
 * never learns one held by a single site; `audit verify` recomputes the sums
 * and fails when a stored masked input changes.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SqliteStore, STORE_FILE, toArray, type RunningCoordinator } from '@fl/coordinator';
import type { ParticipantAgent } from '@fl/participant-agent';
import { SITE_FAILURE_CODES, type JobSpecInput, type Preprocessing } from '@fl/shared';
import {
  AdminApi,
  byteChiSquare,
  DATA_DIR,
  declaredFeatures,
  featuresOf,
  registerParticipant,
  retainedInputs,
  splitCsv,
  startAgent,
  tempDir,
  testCoordinator,
  verifyAndTamper,
} from './harness';

jest.setTimeout(600_000);

const file = path.join(DATA_DIR, 'credit_data.csv');
const categorical = ['Home', 'Marital', 'Records', 'Job'];
const declared = declaredFeatures(file, 'Status', categorical);
const base = { model: 'logistic', target: 'Status', minParticipants: 3, evaluateEvery: 0, rounds: 2, strategy: { name: 'fedavg' } };
const plainSpec = { ...base, features: featuresOf(file, 'Status', categorical) };
// t = 3 needs rounds of at least 4: each party's shares go to at most the n − 1 others
const secureSpec = { ...base, ...declared, minParticipants: 4, secureAggregation: { range: 4, neighbours: 4, threshold: 3 } };
const GATHERED = ['Home', 'Marital'];
const gatheredSpec = {
  ...secureSpec,
  features: declared.features.map((f) => (GATHERED.includes(f.name) ? { name: f.name, type: f.type } : f)),
  // buckets enough that two values of a column share one with probability below 10^-3
  secureAggregation: { ...secureSpec.secureAggregation, vocabulary: { minSites: 2, buckets: 65_536 } },
};
/** a Home value one site holds: never to reach the coordinator */
const RARE = 'castle';
const SITES = ['site-0', 'site-1', 'site-2', 'site-3', 'site-4'];

const maxDifference = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

describe('secure statistics in a running federation', () => {
  let coordinator: RunningCoordinator;
  let store: SqliteStore;
  const jobs = { plain: '', secure: '', dropout: '', gathered: '', declined: '' };
  /** per gathered feature, the values held by at least two of the sites that take part in the gathered job */
  let expected: string[][] = [];
  const logs: string[] = [];
  let refusal: { status: number; body: unknown };
  let thresholdRefusal: { status: number; body: unknown };
  /** round 0 steps site-4 answered in the dropout job before it went away */
  const dropperSteps: string[] = [];

  beforeAll(async () => {
    coordinator = await testCoordinator();
    const split = splitCsv(file, SITES.length, { seed: 11, holdout: 0, dir: tempDir('secstats-data') });
    const api = AdminApi.of(coordinator);
    const keys = await Promise.all(SITES.map((site) => registerParticipant(api, site)));
    const agents: ParticipantAgent[] = await Promise.all(SITES.map((site, i) => startAgent(coordinator, site, split.parties[i], { keys: keys[i], log: (m) => logs.push(`${site} ${m}`) })));
    const run = async (spec: Record<string, unknown>) => {
      const job = await api.createJob(spec as JobSpecInput);
      await coordinator.engine.whenFinished(job.id);
      return job.id;
    };
    try {
      refusal = await api.request('POST', '/api/jobs', { ...plainSpec, minParticipants: 4, secureAggregation: secureSpec.secureAggregation });
      thresholdRefusal = await api.request('POST', '/api/jobs', { ...secureSpec, minParticipants: 3 });
      jobs.plain = await run(plainSpec);
      jobs.secure = await run(secureSpec);
      // site-4 goes away once it has shared its keys in the statistics phase: the others' shares remove its masks.
      const dropping = agents[4];
      dropping.on('secagg', ({ job, round, step, ack }: { job: string; round: number; step: string; ack: { ok: boolean } }) => {
        if (round !== 0 || !ack.ok) return;
        dropperSteps.push(`${job}:${step}`);
        if (step === 'share') dropping.stop();
      });
      jobs.dropout = await run(secureSpec);
      // site-0 now holds a Home value no other site has (its agent reads its file afresh for the next job).
      const site0 = fs.readFileSync(split.parties[0], 'utf8').trimEnd().split('\n');
      const home = site0[0].split(',').indexOf('Home');
      const rare = site0.slice(1, 4).map((line) => line.split(',').map((v, i) => (i === home ? RARE : v)).join(','));
      fs.writeFileSync(split.parties[0], [...site0, ...rare].join('\n') + '\n');
      expected = GATHERED.map((name) => {
        const held = new Map<string, number>();
        for (const file of split.parties.slice(0, 4)) {
          const lines = fs.readFileSync(file, 'utf8').trimEnd().split('\n');
          const column = lines[0].split(',').indexOf(name);
          for (const value of new Set(lines.slice(1).map((l) => l.split(',')[column]).filter((v) => v !== 'NA'))) held.set(value, (held.get(value) ?? 0) + 1);
        }
        return [...held].filter(([, sites]) => sites >= 2).map(([value]) => value).sort();
      });
      jobs.gathered = await run(gatheredSpec);
      // site-1 now has a row of a class the job does not declare: it says so instead of joining the statistics.
      const site1 = fs.readFileSync(split.parties[1], 'utf8').trimEnd().split('\n');
      const status = site1[0].split(',').indexOf('Status');
      const stray = site1[1].split(',').map((v, i) => (i === status ? 'maybe' : v)).join(',');
      fs.writeFileSync(split.parties[1], [...site1, stray].join('\n') + '\n');
      // Four sites are online: with one out, each keeps two live neighbours, so the threshold is two.
      jobs.declined = await run({ ...secureSpec, minParticipants: 3, secureAggregation: { ...secureSpec.secureAggregation, threshold: 2 } });
    } finally {
      agents.forEach((a) => a.stop());
      await coordinator.close();
    }
    store = await SqliteStore.open(path.join(coordinator.config.dataDir, STORE_FILE), { readonly: true });
  });

  afterAll(() => store?.close());

  it('refuses a secure job whose statistics cannot be sized, naming what to declare', async () => {
    expect(refusal.status).toBe(400);
    // the API names the first of what is missing, with its path
    expect(refusal.body).toEqual({
      error: {
        code: 'VALIDATION_FAILED',
        message: 'features.0.bounds: secure aggregation sums the statistics as fixed-point numbers: declare bounds [min, max] for the numeric feature Seniority',
      },
    });
  });

  it('refuses a secure job whose threshold a round of minParticipants cannot reach, naming the numbers', () => {
    expect(thresholdRefusal.status).toBe(400);
    expect(thresholdRefusal.body).toEqual({
      error: {
        code: 'VALIDATION_FAILED',
        message: "secureAggregation.threshold: a threshold of 3 needs at least 4 parties a round, each party's shares going to at most the n − 1 others; minParticipants is 3: raise it to 4 or lower the threshold",
      },
    });
  });

  it('completes every job', async () => {
    for (const [name, id] of Object.entries(jobs)) expect({ name, status: (await store.getJob(id))!.status }).toEqual({ name, status: 'completed' });
    expect(logs.filter((line) => /ignored|error:|refused the|cannot answer/.test(line) && !line.includes(jobs.declined))).toEqual([]);
  });

  it('builds the plain job’s preprocessing from the secure sum, within the fixed-point step', async () => {
    const plain = (await store.getJob(jobs.plain))!.preprocessing!;
    const secure = (await store.getJob(jobs.secure))!.preprocessing!;
    expect(secure.rows).toBe(plain.rows);
    expect(secure.inputDim).toBe(plain.inputDim);
    expect(secure.target).toEqual(plain.target);
    let numeric = 0;
    secure.features.forEach((f, i) => {
      const p = plain.features[i];
      if (f.type === 'categorical') return expect(f).toEqual(p);
      if (p.type !== 'numeric') throw new Error(`feature ${f.name} is numeric in one job only`);
      numeric++;
      const [lo, hi] = (declared.features[i] as { bounds: [number, number] }).bounds;
      const step = (hi - lo) / 2 ** 20;
      expect({ name: f.name, mean: Math.abs(f.mean - p.mean) <= step, std: Math.abs(f.std - p.std) <= step }).toEqual({ name: f.name, mean: true, std: true });
    });
    expect(numeric).toBe(9);
    // Income has missing values: their count is summed too, so the mean is over present values only.
    const vocabulary = (pp: Preprocessing, name: string) => pp.features.find((f) => f.name === name);
    expect(vocabulary(secure, 'Home')).toEqual({ name: 'Home', type: 'categorical', vocabulary: ['ignore', 'other', 'owner', 'parents', 'priv', 'rent'] });
  });

  it('trains from it to plain FedAvg’s model within the quantization error', async () => {
    const plain = (await store.getModel(jobs.plain, 2))!.weights;
    const secure = (await store.getModel(jobs.secure, 2))!.weights;
    expect(maxDifference(plain, secure)).toBeLessThan(1e-3);
  });

  it('keeps no site’s statistics, in the store or the audit log', async () => {
    expect(Object.keys((await store.getJob(jobs.plain))!.admission.reportedRows).sort()).toEqual(SITES);
    expect((await store.getJob(jobs.secure))!.admission).toEqual({ reportedRows: {}, excluded: [] });
    const records = (await toArray(store.auditRecords())).map(({ text }) => JSON.parse(text) as { kind: string; data: Record<string, unknown> & { job?: string; round?: number } });
    const ofJob = records.filter((r) => r.data.job === jobs.secure);
    expect([...new Set(ofJob.map((r) => r.kind))].sort()).toEqual(['job.created', 'model.committed', 'model.initial', 'secagg.input', 'secagg.unmasked', 'statistics.secure']);
    const statistics = ofJob.filter((r) => r.kind === 'statistics.secure');
    expect(statistics).toHaveLength(1);
    expect(Object.keys(statistics[0].data).sort()).toEqual(['contributors', 'job', 'preprocessingSha256', 'sumSha256']);
    const inputs = ofJob.filter((r) => r.kind === 'secagg.input' && r.data.round === 0);
    expect(inputs.map((r) => r.data.participant).sort()).toEqual(SITES);
    // what the coordinator holds of each site's statistics is a masked vector: its bytes look uniform (chi-square below its 99.9th percentile)
    const rows = retainedInputs(coordinator.config.dataDir, jobs.secure, 'statistics');
    expect(rows).toHaveLength(5);
    expect(byteChiSquare(Buffer.concat(rows))).toBeLessThan(330);
  });

  it('recovers a site that dropped during the statistics phase: the statistics are those of the others', async () => {
    expect(dropperSteps).toEqual([`${jobs.dropout}:advertise`, `${jobs.dropout}:share`]);
    const [record] = (await toArray(store.auditRecords()))
      .map(({ text }) => JSON.parse(text) as { kind: string; data: { job?: string; contributors?: { participant: string }[] } })
      .filter((r) => r.kind === 'statistics.secure' && r.data.job === jobs.dropout);
    expect(record.data.contributors!.map((c) => c.participant).sort()).toEqual(SITES.slice(0, 4));
    const reported = (await store.getJob(jobs.plain))!.admission.reportedRows;
    const dropout = (await store.getJob(jobs.dropout))!.preprocessing!;
    expect(dropout.rows).toBe(SITES.slice(0, 4).reduce((n, site) => n + reported[site], 0));
    expect(dropout.rows).toBeLessThan((await store.getJob(jobs.plain))!.preprocessing!.rows);
    for (const round of await store.listRounds(jobs.dropout)) expect(round.contributors.map((c) => c.participant).sort()).toEqual(SITES.slice(0, 4));
  });

  it('gathers the vocabularies held by at least two sites; the one held by one site never reaches the coordinator', async () => {
    expect(expected[0]).not.toContain(RARE);
    expect(expected[0].length).toBeGreaterThan(3);
    const preprocessing = (await store.getJob(jobs.gathered))!.preprocessing!;
    const vocabularies = GATHERED.map((name) => preprocessing.features.find((f) => f.name === name));
    expect(vocabularies).toEqual(GATHERED.map((name, g) => ({ name, type: 'categorical', vocabulary: expected[g] })));
    // the store (models, masked inputs, audit log) holds the rare value nowhere
    const files = fs.readdirSync(coordinator.config.dataDir).filter((f) => f.startsWith(STORE_FILE));
    expect(files.length).toBeGreaterThan(0);
    for (const file of files) expect(fs.readFileSync(path.join(coordinator.config.dataDir, file)).includes(RARE)).toBe(false);
    expect((await store.getJob(jobs.gathered))!.status).toBe('completed');
  });

  it('goes on without a site whose data the secure statistics cannot hold, which says why', async () => {
    // it says so for the statistics, then for each round, which goes on without it
    expect(logs.filter((line) => line.includes(jobs.declined) && /cannot answer/.test(line))).toEqual(
      ['statistics', 'round 1: cannot answer the train', 'round 2: cannot answer the train'].map((what) =>
        expect.stringMatching(new RegExp(`^site-1 .*${what}.* \\[DATA_TARGET_UNKNOWN_CLASS\\]: 1 rows have a target value outside the job's classes`)),
      ),
    );
    expect((await store.getJob(jobs.declined))!.status).toBe('completed');
    const [record] = (await toArray(store.auditRecords()))
      .map(({ text }) => JSON.parse(text) as { kind: string; data: { job?: string; contributors?: { participant: string }[] } })
      .filter((r) => r.kind === 'statistics.secure' && r.data.job === jobs.declined);
    expect(record.data.contributors!.map((c) => c.participant).sort()).toEqual(['site-0', 'site-2', 'site-3']);
    // The count of its rows stays in its log: a secure job's coordinator learns none.
    for (const round of await store.listRounds(jobs.declined)) {
      expect(round.failures).toContainEqual({ participant: 'site-1', code: 'DATA_TARGET_UNKNOWN_CLASS', reason: `failed: ${SITE_FAILURE_CODES.DATA_TARGET_UNKNOWN_CLASS}` });
    }
  });

  it('audit verify recomputes the statistics sums, and fails when a stored masked statistics input changes', async () => {
    const { report, tampered } = await verifyAndTamper(coordinator.config.dataDir, { job: jobs.secure, round: 0, participant: 'site-1' });
    expect(report.failure).toBeUndefined();
    expect(report.lines).toContain(`job ${jobs.secure}: 2 rounds, 2 recomputed from 10 retained updates, models match; statistics recomputed from 5 masked inputs`);
    expect(report.lines).toContain(`job ${jobs.dropout}: 2 rounds, 2 recomputed from 8 retained updates, models match; statistics recomputed from 4 masked inputs`);
    expect(report.lines).toContain(`job ${jobs.gathered}: 2 rounds, 2 recomputed from 8 retained updates, models match; vocabularies recomputed; statistics recomputed from 4 masked inputs`);
    expect(tampered.failure?.where).toContain(`update of site-1, round 0 of job ${jobs.secure}`);
    // a masked input of the vocabulary's values round
    const values = await verifyAndTamper(coordinator.config.dataDir, { job: jobs.gathered, round: -1, participant: 'site-2' });
    expect(values.tampered.failure?.where).toContain(`update of site-2, round -1 of job ${jobs.gathered}`);
  });
});
