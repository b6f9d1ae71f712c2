/**
 * A secure job that gathers vocabularies, its coordinator restarted once the
 * vocabularies are recorded and before round 0's statistics sum, with a site
 * gone meanwhile. Each site helps unmask one sum of a statistics round, so a
 * second gathering over the sites left would be refused by every one of them:
 * the coordinator takes the categories its log holds instead. Five real agents
 * over real sockets, the coordinator stopped and started again on the same
 * data directory and port, on SQLite, and on PostgreSQL as a replica taking the
 * job over would (a database made for the run on 127.0.0.1:5432, dropped
 * after): the job completes on the categories first gathered, with one
 * vocabulary.secure record, and `audit verify` passes.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { promisify } from 'node:util';
import type { RunningCoordinator } from '@fl/coordinator';
import type { ParticipantAgent } from '@fl/participant-agent';
import type { AuditPage, JobSpecInput } from '@fl/shared';
import { AdminApi, DATA_DIR, declaredFeatures, eventually, query, registerParticipant, splitCsv, startAgent, tempDir, testCoordinator } from './harness';
import { COORDINATOR_CLI, PY_VERIFIER, PYTHON, runToEnd } from './processes';

jest.setTimeout(600_000);

const file = path.join(DATA_DIR, 'credit_data.csv');
const declared = declaredFeatures(file, 'Status', ['Home', 'Marital', 'Records', 'Job']);
const GATHERED = ['Home', 'Marital'];
const spec = {
  model: 'logistic',
  target: 'Status',
  classes: declared.classes,
  features: declared.features.map((f) => (GATHERED.includes(f.name) ? { name: f.name, type: f.type } : f)),
  rounds: 1,
  evaluateEvery: 0,
  // four sites a round at least: a threshold of 3 holds with one of the five gone
  minParticipants: 4,
  strategy: { name: 'fedavg' },
  secureAggregation: { range: 4, neighbours: 4, threshold: 3, vocabulary: { minSites: 2, buckets: 65_536 } },
} as JobSpecInput;
const SITES = ['site-0', 'site-1', 'site-2', 'site-3', 'site-4'];
const ENDED = ['completed', 'failed', 'paused', 'stopped'];
const ADMIN_URL = process.env.FL_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

describe.each([{ store: 'SQLite' }, { store: 'PostgreSQL' }])('a secure job whose coordinator restarts after gathering its vocabularies, a site gone meanwhile, on $store', ({ store }) => {
  const dir = tempDir('vocabulary-restart');
  const database = store === 'PostgreSQL' ? `fl_vocabulary_${randomBytes(6).toString('hex')}` : undefined;
  const databaseUrl = database && Object.assign(new URL(ADMIN_URL), { pathname: `/${database}` }).toString();
  /** the store's options to the coordinator and to its commands */
  const storeArgs = databaseUrl ? ['--database-url', databaseUrl] : [];
  const agents: ParticipantAgent[] = [];
  let first: RunningCoordinator;
  let second: RunningCoordinator | undefined;
  let jobId: string;
  /** the agents answer no request of round 0 while this holds: the statistics sum stays open until the coordinator stops */
  let holding = true;
  let held = 0;
  /** each agent's refusals, as it reported them: 'site round code' */
  const refusals: string[] = [];
  let records: AuditPage['records'] = [];

  beforeAll(async () => {
    // Prepare: five sites, each holding round 0's requests on the first coordinator
    if (database) await query(ADMIN_URL, `CREATE DATABASE ${database}`);
    first = await testCoordinator({ databaseUrl });
    const api = AdminApi.of(first);
    const split = splitCsv(file, SITES.length, { seed: 11, holdout: 0, dir });
    for (const [i, site] of SITES.entries()) {
      const agent = await startAgent(first, site, split.parties[i], { keys: await registerParticipant(api, site) });
      agent.on('failed', ({ round, code }: { round: number; code: string }) => refusals.push(`${site} ${round} ${code}`));
      const internals = agent as unknown as { secureStep: (message: unknown) => Promise<void> };
      const step = internals.secureStep.bind(agent);
      internals.secureStep = async (message) => {
        if (holding && (message as { header?: { round?: number } }).header?.round === 0) return void held++;
        return step(message);
      };
      agents.push(agent);
    }
    jobId = (await api.createJob(spec)).id;
    // Round 0 is asked for only once the vocabularies are recorded.
    await eventually(() => held, (n) => n > 0, 300_000);

    // Execute: site-4 goes away; the coordinator stops before round 0 is summed and starts again on the same data directory and port
    agents[4].stop();
    await first.close();
    holding = false;
    second = await testCoordinator({ databaseUrl, dataDir: first.config.dataDir, port: first.port });
    await eventually(async () => (await AdminApi.of(second!).job(jobId)).status, (status) => ENDED.includes(status), 300_000);
    records = (await AdminApi.of(second).audit()).records.filter((r) => r.data.job === jobId);
  });

  afterAll(async () => {
    for (const agent of agents) agent.stop();
    await first?.close();
    await second?.close();
    if (database) await query(ADMIN_URL, `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
  });

  it('completes the job, no site asked to help unmask a statistics round again', async () => {
    expect(await AdminApi.of(second!).job(jobId)).toMatchObject({ status: 'completed', round: 1, error: null });
    expect(refusals).toEqual([]);
  });

  it('gathered the vocabularies once, over the five sites, and summed round 0 over the four left with the categories recorded', async () => {
    const vocabulary = records.filter((r) => r.kind === 'vocabulary.secure');
    expect(vocabulary).toHaveLength(1);
    const { presence, values, categories } = vocabulary[0].data as { presence: { contributors: { participant: string }[] }; values: { contributors: { participant: string }[] }; categories: string[][] };
    expect(presence.contributors.map((c) => c.participant).sort()).toEqual(SITES);
    expect(values.contributors.map((c) => c.participant).sort()).toEqual(SITES);
    const unmasked = records.filter((r) => r.kind === 'secagg.unmasked').map((r) => r.data.round);
    expect(unmasked).toEqual([-2, -1, 0, 1]);
    const statistics = records.filter((r) => r.kind === 'statistics.secure');
    expect(statistics).toHaveLength(1);
    expect((statistics[0].data.contributors as { participant: string }[]).map((c) => c.participant).sort()).toEqual(SITES.slice(0, 4));
    const { preprocessing } = await AdminApi.of(second!).model(jobId);
    expect(GATHERED.map((name) => preprocessing.features.find((f) => f.name === name))).toEqual(GATHERED.map((name, g) => ({ name, type: 'categorical', vocabulary: categories[g] })));
  });

  it('leaves an audit log that verifies, at the coordinator and with the independent verifier', async () => {
    const { dataDir } = second!.config;
    const verified = await runToEnd(COORDINATOR_CLI, ['audit', 'verify', '--data-dir', dataDir, ...storeArgs]);
    expect(verified).toContain(`job ${jobId}: 1 round, 1 recomputed from 4 retained updates, models match; vocabularies recomputed; statistics recomputed from 4 masked inputs`);
    const bundle = path.join(dir, 'bundle');
    await runToEnd(COORDINATOR_CLI, ['audit', 'export', '--data-dir', dataDir, ...storeArgs, '--out', bundle]);
    const independent = await promisify(execFile)(PYTHON, [PY_VERIFIER, bundle, '--key', second!.identity.publicKey]);
    expect(independent.stdout).toMatch(/^OK$/m);
  });
});
