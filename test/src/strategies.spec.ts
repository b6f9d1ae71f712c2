/**
 * Every strategy through a running coordinator and three real agents: a job of
 * three rounds each, its per-round config signed into the train requests
 * (FedProx's μ, SCAFFOLD's per-site correction), its state stored beside each
 * model. `audit verify` recomputes every round of every job, model and state,
 * and fails, naming the item, when a stored update or a stored state is changed.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { SqliteStore, STORE_FILE, verifyStore, type RunningCoordinator } from '@fl/coordinator';
import { decodeState, StrategySpecSchema, STRATEGY_NAMES, writeKeyFile, type KeyPair, type StrategySpecInput } from '@fl/shared';
import { AdminApi, DATA_DIR, featuresOf, registerParticipant, splitCsv, startAgent, tempDir, testCoordinator } from './harness';
import { AGENT_CLI, COORDINATOR_CLI } from './processes';

jest.setTimeout(600_000);

const ROUNDS = 3;
const file = path.join(DATA_DIR, 'breast_cancer.csv');

/** Each strategy once, some with parameters other than the defaults, and one with norm bounding; k-means, of its own model, in kmeans.spec.ts. */
const STRATEGIES: StrategySpecInput[] = STRATEGY_NAMES.filter((name) => name !== 'kmeans').map((name) =>
  name === 'fedprox' ? { name, mu: 0.1 } : name === 'krum' ? { name, f: 0, m: 2 } : name === 'fedavg' ? { name, clipNorm: 0.5 } : { name },
);

describe('every strategy in a running federation', () => {
  let coordinator: RunningCoordinator;
  const jobs = new Map<string, string>();
  const logs: string[] = [];
  const keys: KeyPair[] = [];

  beforeAll(async () => {
    coordinator = await testCoordinator();
    const split = splitCsv(file, 3, { seed: 11, holdout: 0, dir: tempDir('strategies-data') });
    for (const i of split.parties.keys()) keys.push(await registerParticipant(AdminApi.of(coordinator), `site-${i}`));
    const agents = await Promise.all(split.parties.map((party, i) => startAgent(coordinator, `site-${i}`, party, { keys: keys[i], log: (m) => logs.push(m) })));
    try {
      for (const strategy of STRATEGIES) {
        const job = await AdminApi.of(coordinator).createJob({
          model: 'logistic',
          features: featuresOf(file, 'diagnosis'),
          target: 'diagnosis',
          rounds: ROUNDS,
          minParticipants: 3,
          evaluateEvery: 0,
          strategy,
        });
        jobs.set(strategy.name, job.id);
        await coordinator.engine.whenFinished(job.id);
      }
    } finally {
      agents.forEach((a) => a.stop());
      await coordinator.close();
    }
  });

  it('completes every job with all three sites in every round, the agents ignoring no request', async () => {
    const store = await SqliteStore.open(path.join(coordinator.config.dataDir, STORE_FILE), { readonly: true });
    try {
      for (const [name, id] of jobs) {
        const job = (await store.getJob(id))!;
        expect({ name, status: job.status, round: job.round }).toEqual({ name, status: 'completed', round: ROUNDS });
        expect(job.spec.strategy).toEqual(StrategySpecSchema.parse(STRATEGIES.find((s) => s.name === name)));
        for (const round of await store.listRounds(id)) expect(round.contributors).toHaveLength(3);
      }
    } finally {
      await store.close();
    }
    expect(logs.filter((line) => /ignored|error:/.test(line))).toEqual([]);
  });

  it('stores each round’s strategy state: SCAFFOLD’s control variates, one per site, FedAdam’s moments', async () => {
    const store = await SqliteStore.open(path.join(coordinator.config.dataDir, STORE_FILE), { readonly: true });
    try {
      const scaffold = decodeState((await store.getStrategyStateBytes(jobs.get('scaffold')!, ROUNDS))!)!;
      expect(Object.keys(scaffold)).toEqual(['c', 'c/site-0', 'c/site-1', 'c/site-2']);
      const adam = decodeState((await store.getStrategyState(jobs.get('fedadam')!))!.bytes)!;
      expect(Object.keys(adam)).toEqual(['m', 'v']);
      expect(adam.v.some((v) => v > 0)).toBe(true);
    } finally {
      await store.close();
    }
  });

  describe('audit verify', () => {
    let copy: string;
    let db: Database.Database;
    let store: SqliteStore;

    beforeAll(async () => {
      copy = path.join(tempDir('strategies-tamper'), STORE_FILE);
      fs.copyFileSync(path.join(coordinator.config.dataDir, STORE_FILE), copy);
      db = new Database(copy);
      store = await SqliteStore.open(copy, { readonly: true });
    });

    afterAll(async () => {
      await store?.close();
      db?.close();
    });

    it('recomputes every round of every strategy, models and states', async () => {
      const report = await verifyStore(store, copy);
      expect(report.failure).toBeUndefined();
      expect(report.counts.roundsRecomputed).toBe(ROUNDS * STRATEGIES.length);
      for (const [name, id] of jobs) {
        const states = name === 'fedavg' ? 'models match' : `models and strategy states match (${name})`;
        expect(report.lines).toContain(`job ${id}: ${ROUNDS} rounds, ${ROUNDS} recomputed from ${3 * ROUNDS} retained updates, ${states}`);
      }
    });

    /** Changes one byte of a stored blob, verifies, and puts it back. */
    async function withFlippedByte(table: string, column: string, where: string, params: unknown[], offset: number) {
      const { bytes } = db.prepare(`SELECT ${column} AS bytes FROM ${table} WHERE ${where}`).get(...params) as { bytes: Buffer };
      const changed = Buffer.from(bytes);
      changed[offset] ^= 0x01;
      const write = db.prepare(`UPDATE ${table} SET ${column} = ? WHERE ${where}`);
      write.run(changed, ...params);
      try {
        return await verifyStore(store, copy);
      } finally {
        write.run(bytes, ...params);
      }
    }

    it.each(['fedadam', 'scaffold', 'fedavgm'])('fails when a stored state of %s changes, naming it', async (name) => {
      const job = jobs.get(name)!;
      const { size } = db.prepare('SELECT length(state) AS size FROM strategy_states WHERE job = ? AND round = 2').get(job) as { size: number };
      for (const offset of [0, size - 1]) {
        const report = await withFlippedByte('strategy_states', 'state', 'job = ? AND round = 2', [job], offset);
        expect(report.failure?.where).toBe(`strategy state after round 2 of job ${job} (table strategy_states of ${copy})`);
      }
    });

    it.each(['median', 'krum', 'fedprox', 'scaffold'])('fails when a stored update of %s changes, naming it', async (name) => {
      const job = jobs.get(name)!;
      const u = db.prepare("SELECT participant, sha256 FROM updates WHERE job = ? AND round = 3 AND participant = 'site-1'").get(job) as { participant: string; sha256: string };
      const report = await withFlippedByte('updates', 'weights', 'job = ? AND round = 3 AND participant = ? AND sha256 = ?', [job, u.participant, u.sha256], 7);
      expect(report.failure?.where).toContain(`update of site-1, round 3 of job ${job}`);
    });

    it('makes `fl-coordinator audit verify` pass, and fail on a changed state', async () => {
      const dir = path.dirname(copy);
      const clean = await promisify(execFile)(process.execPath, [COORDINATOR_CLI, 'audit', 'verify', '--data-dir', dir]);
      expect(clean.stdout).toMatch(/models and strategy states match \(scaffold\)/);
      const job = jobs.get('scaffold')!;
      const { state } = db.prepare('SELECT state FROM strategy_states WHERE job = ? AND round = 1').get(job) as { state: Buffer };
      const changed = Buffer.from(state);
      changed[changed.length - 1] ^= 0x01;
      db.prepare('UPDATE strategy_states SET state = ? WHERE job = ? AND round = 1').run(changed, job);
      try {
        const failed = await promisify(execFile)(process.execPath, [COORDINATOR_CLI, 'audit', 'verify', '--data-dir', dir]).then(
          () => null,
          (err: { code: number; stdout: string }) => err,
        );
        expect(failed?.code).toBe(1);
        expect(failed?.stdout).toContain(`FAILED: strategy state after round 1 of job ${job}`);
      } finally {
        db.prepare('UPDATE strategy_states SET state = ? WHERE job = ? AND round = 1').run(state, job);
      }
    });

    it('makes `fl-agent audit verify` of an exported bundle pass at a site, and fail on a changed state', async () => {
      // Arrange: the bundle as the operator exports it, and site-1's key as it keeps it
      const out = tempDir('strategies-bundle');
      const bundle = path.join(out, 'bundle');
      await promisify(execFile)(process.execPath, [COORDINATOR_CLI, 'audit', 'export', '--data-dir', path.dirname(copy), '--out', bundle]);
      const keyFile = path.join(out, 'key.json');
      writeKeyFile(keyFile, keys[1]);
      const verify = () =>
        promisify(execFile)(process.execPath, [AGENT_CLI, 'audit', 'verify', bundle, '--key', keyFile, '--coordinator-key', coordinator.identity.publicKey]).then(
          ({ stdout }) => ({ code: 0, stdout }),
          (err: { code: number; stdout: string }) => err,
        );
      // Execute and assert: every strategy recomputed at the site, then one bit of SCAFFOLD's state changed
      const clean = await verify();
      expect(clean.code).toBe(0);
      for (const [name, id] of jobs) {
        const states = name === 'fedavg' ? 'models match' : `models and strategy states match (${name})`;
        expect(clean.stdout).toContain(`job ${id}: ${ROUNDS} rounds, ${ROUNDS} recomputed from ${3 * ROUNDS} retained updates, ${states}`);
      }
      const job = jobs.get('scaffold')!;
      const file = path.join(bundle, 'states', job, '2.state');
      const changed = fs.readFileSync(file);
      changed[changed.length - 1] ^= 0x01;
      fs.writeFileSync(file, changed);
      const failed = await verify();
      expect(failed.code).toBe(1);
      expect(failed.stdout).toContain(`FAILED: strategy state after round 2 of job ${job}`);
    });
  });
});
