/**
 * The round engine without sockets: fake participants answer through an
 * in-memory channel with properly signed messages; the store is real SQLite.
 */
import { toArray, type Store } from '../storage/store';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  decodePublicKey,
  decodeState,
  decodeWeights,
  epsilonAfter,
  JobSpecSchema,
  encodeWeights,
  generateKeyPair,
  encodeKey,
  randomNonce,
  setupDigest,
  sha256Hex,
  signHeader,
  verifyHeader,
  type CoordinatorToAgentEvents,
  type EvaluateMessage,
  type JobSpec,
  type KeyPair,
  type LocalStatistics,
  type SetupMessage,
  type StatisticsRequest,
  type TrainMessage,
} from '@fl/shared';
import { AuditLog } from '../audit/audit-log';
import { verifyStore } from '../audit/store-source';
import { ManualClock, systemClock, type Clock } from '../core/clock';
import { CoordinatorIdentity } from '../identity/identity';
import { SqliteStore } from '../storage/store.sqlite';
import type { AgentChannel, Instruction } from './agent-channel';
import type { UpdateRetention } from './job-run';
import { RoundEngine, type RoundEngineOptions } from './round-engine';
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { PgLeaderElection, type LeaderElection, type Leadership } from '../cluster/leader-election';
import { PostgresStore } from '../storage/store.postgres';
import { ParticipantRegistry } from '../participants/registry';
import { FailureLimiter } from '../failure-limiter';

// Generous: on a loaded machine a job of three rounds, on PostgreSQL with its migrations, can take longer than the default.
jest.setTimeout(120_000);

const STATS: LocalStatistics = {
  rows: 4,
  features: [{ name: 'x', type: 'numeric', count: 4, sum: 4, sumSquares: 8, missing: 0 }],
  target: { type: 'categorical', counts: [['no', 2], ['yes', 2]] },
};

/** Participants that answer every request with signed replies: each update is the global model plus one. */
class FakeParticipants implements AgentChannel {
  readonly keys = new Map<string, KeyPair>();
  readonly connected = new Set<string>();
  /** when false, train requests wait in `held` until release() */
  answerTraining = true;
  held: { participant: string; job: string; reply: () => Promise<void> }[] = [];
  engine!: RoundEngine;
  coordinatorKey!: Uint8Array;
  /** per participant, the digests of the signed setups provided, in order */
  readonly provided = new Map<string, string[]>();
  /** requests that named a setup not provided to their participant before */
  readonly unprovided: string[] = [];
  /**
   * participants whose updates are wrong: a NaN among the weights (signed as sent), a digest of other weights,
   * weights of 3e38 (finite, far out of bounds), or a claim of 1e9 samples; or who report a failure instead
   */
  readonly faults = new Map<string, 'nan' | 'digest' | 'huge' | 'inflate' | 'report'>();
  /** participants that report their privacy budget spent (PRIVACY_BUDGET_SPENT) at each train request from this round on */
  readonly spentFrom = new Map<string, number>();
  /** what each participant's update adds to every weight of the global model: 1 unless set */
  readonly steps = new Map<string, number>();
  /** participants whose statistics are changed before they are signed */
  readonly statistics = new Map<string, (s: LocalStatistics) => LocalStatistics>();
  /** "participant CODE" of every refused update, in order */
  readonly refusals: string[] = [];
  /** 'participant round N' of each update the engine accepted */
  readonly accepted: string[] = [];
  /** 'participant round N' of each train request sent */
  readonly asked: string[] = [];
  /** SCAFFOLD's correction c − c_i each train request carried, by 'participant round N' */
  readonly corrections = new Map<string, number[]>();
  /** 'participant round N' of each evaluation the engine accepted, asked alone */
  readonly evaluated: string[] = [];

  constructor(names: string[]) {
    for (const name of names) {
      this.keys.set(name, generateKeyPair());
      this.connected.add(name);
    }
  }

  online(): string[] {
    return [...this.connected];
  }

  provide(participants: Iterable<string>, setup: SetupMessage, digest: string): void {
    for (const participant of participants) {
      const provided = this.provided.get(participant) ?? [];
      const signed = verifyHeader('setup', setup.header, setup.signature, this.coordinatorKey) && digest === setupDigest(setup.header);
      if (signed && !provided.includes(digest)) this.provided.set(participant, [...provided, digest]);
    }
  }

  send<E extends Instruction>(participant: string, event: E, ...args: Parameters<CoordinatorToAgentEvents[E]>): boolean {
    if (!this.connected.has(participant)) return false;
    const keys = this.keys.get(participant)!;
    if (event === 'train' || event === 'evaluate') {
      const { header } = args[0] as TrainMessage | EvaluateMessage;
      if (!this.provided.get(participant)?.includes(header.setup)) this.unprovided.push(`${participant} ${header.type} round ${header.round}`);
    }
    if (event === 'statistics-request') {
      const { header: request } = args[0] as StatisticsRequest;
      const statistics = (this.statistics.get(participant) ?? ((s) => s))(structuredClone(STATS));
      const header = { type: 'statistics' as const, job: request.job, participant, nonce: randomNonce(), statistics };
      setImmediate(() => this.engine.submitStatistics(participant, { header, signature: signHeader('statistics', header, keys.secretKey) }));
    }
    if (event === 'evaluate' && this.faults.get(participant) === 'report') {
      const { header: request } = args[0] as EvaluateMessage;
      const header = { type: 'failure' as const, job: request.job, round: request.round, phase: 'evaluate' as const, participant, nonce: randomNonce(), code: 'DATA_TARGET_UNKNOWN_CLASS' as const, counts: { rows: 2 } };
      setImmediate(() => void this.engine.submitFailure(participant, { header, signature: signHeader('failure', header, keys.secretKey) }));
    } else if (event === 'evaluate') {
      const { header: request } = args[0] as EvaluateMessage;
      const header = {
        type: 'evaluation' as const, job: request.job, round: request.round, participant, nonce: randomNonce(),
        numExamples: participant === 'a' ? 1 : 3, metrics: { accuracy: participant === 'a' ? 1 : 0.6 }, modelSha256: request.weightsSha256,
      };
      setImmediate(() =>
        this.engine.submitEvaluation(participant, { header, signature: signHeader('evaluation', header, keys.secretKey) }).then((ack) => ack.ok && this.evaluated.push(`${participant} round ${request.round}`)),
      );
    }
    if (event === 'train') {
      const { header: request, weights, correction } = args[0] as TrainMessage;
      this.asked.push(`${participant} round ${request.round}`);
      if (correction) this.corrections.set(`${participant} round ${request.round}`, Array.from(decodeWeights(correction)!));
      if (request.round >= (this.spentFrom.get(participant) ?? Infinity)) {
        const header = {
          type: 'failure' as const, job: request.job, round: request.round, phase: 'train' as const, participant, nonce: randomNonce(),
          code: 'PRIVACY_BUDGET_SPENT' as const, counts: { inputs: request.round - 1 },
        };
        setImmediate(() => void this.engine.submitFailure(participant, { header, signature: signHeader('failure', header, keys.secretKey) }));
        return true;
      }
      if (this.faults.get(participant) === 'report') {
        const report = (round: number) => {
          const header = { type: 'failure' as const, job: request.job, round, phase: 'train' as const, participant, nonce: randomNonce(), code: 'DATA_TARGET_UNKNOWN_CLASS' as const, counts: { rows: 2 } };
          return this.engine.submitFailure(participant, { header, signature: signHeader('failure', header, keys.secretKey) }).then((ack) => {
            this.refusals.push(`${participant} ${ack.ok ? 'reported' : ack.error.code}`);
          });
        };
        // The report, at once a second one for the same round, and one for a round that is not open.
        setImmediate(() => void Promise.all([report(request.round), report(request.round), report(request.round + 5)]));
        return true;
      }
      const step = this.steps.get(participant) ?? 1;
      const next = decodeWeights(weights)!.map((w) => w + step);
      const fault = this.faults.get(participant);
      if (fault === 'nan') next[0] = NaN;
      if (fault === 'huge') next.fill(3e38);
      const bytes = encodeWeights(next);
      // Asked with the train request, the evaluation of the model received travels with the update.
      const evaluation = request.evaluate
        ? { round: request.round - 1, numExamples: participant === 'a' ? 1 : 3, metrics: { accuracy: participant === 'a' ? 1 : 0.6 }, modelSha256: request.weightsSha256 }
        : undefined;
      const header = {
        type: 'update' as const, job: request.job, round: request.round, participant, nonce: randomNonce(),
        numSamples: fault === 'inflate' ? 1e9 : 4, metrics: { trainLoss: 1 / request.round }, weightsSha256: sha256Hex(fault === 'digest' ? weights : bytes), ...(evaluation && { evaluation }),
      };
      const reply = () =>
        this.engine.submitUpdate(participant, { header, signature: signHeader('update', header, keys.secretKey), weights: bytes }).then((ack) => {
          if (ack.ok) this.accepted.push(`${participant} round ${request.round}`);
          else this.refusals.push(`${participant} ${ack.error.code}`);
        });
      if (this.answerTraining) setImmediate(reply);
      else this.held.push({ participant, job: request.job, reply });
    }
    return true;
  }

  broadcast<E extends Instruction>(participants: Iterable<string>, event: E, ...args: Parameters<CoordinatorToAgentEvents[E]>): string[] {
    return [...participants].filter((p) => !this.send(p, event, ...args));
  }

  /** Sends the held updates (those `which` picks); resolves once the engine answered each. */
  release(which: (held: { participant: string; job: string }) => boolean = () => true): Promise<unknown> {
    const sent = this.held.filter(which);
    this.held = this.held.filter((h) => !which(h));
    return Promise.all(sent.map((h) => h.reply()));
  }
}

async function setup(
  names: string[],
  maxRoundAttempts = 3,
  retention: UpdateRetention = { maxModelBytes: 1 << 20 },
  clock: Clock = systemClock,
  open: (dir: string) => Promise<Store> = (dir) => SqliteStore.open(path.join(dir, 'store.sqlite')),
  options: Partial<RoundEngineOptions> = {},
) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fl-engine-'));
  const store = await open(dir);
  const channel = new FakeParticipants(names);
  const identity = CoordinatorIdentity.fromDataDir(dir);
  const audit = await AuditLog.open(store, identity);
  // One transaction: a job of hundreds of sites would otherwise wait for a commit per site.
  await store.transaction(async () => {
    for (const [name, keys] of channel.keys) {
      const publicKey = encodeKey(keys.publicKey);
      await store.addParticipant({ name, organisation: name, country: '', publicKey, status: 'approved', invitation: null, decidedAt: 0, decidedBy: 'test', createdAt: 0 });
      await audit.append('participant.registered', 'user:test', { name, organisation: name, country: '', publicKey });
    }
  });
  /** every line the engines logged, with its fields */
  const logged: { level: string; message: string; job?: string; round?: number; participant?: string }[] = [];
  /** An engine on the store, as a coordinator (re)started on the same data directory makes it. */
  const start = (leadership?: LeaderElection) => {
    const engine = new RoundEngine({
      leadership,
      store,
      channel,
      identity,
      audit,
      retention,
      maxRoundAttempts,
      jobDefaults: { minParticipants: 2, roundDeadlineSeconds: 60 },
      log: (level, message, fields) => void logged.push({ level, message, ...fields }),
      clock,
      ...options,
    });
    channel.engine = engine;
    return engine;
  };
  const engine = start();
  channel.coordinatorKey = decodePublicKey(identity.publicKey)!;
  // An admin's decisions as this coordinator makes them: a revocation closes the participant's connection.
  const registry = new ParticipantRegistry({
    store,
    audit,
    identity,
    windowMs: 60_000,
    failures: new FailureLimiter(5, 60_000),
    clock: systemClock,
    statuses: {
      changed: (name, status) => {
        if (status !== 'revoked') return;
        channel.connected.delete(name);
        channel.engine.participantOffline(name);
      },
    },
  });
  const revoke = (name: string, reason: string) => registry.decide(name, 'revoke', { reason }, 'user:test');
  return { store, channel, engine, audit, identity, restart: start, logged, revoke };
}

/**
 * Leadership as replicas on PostgreSQL see it, for engines in one test: one
 * holder per job, its epoch up at every take, and a holder deposed by hand (its
 * database connection lost).
 */
class Contest {
  private readonly holders = new Map<string, { replica: string; lost: () => void }>();
  private readonly epochs = new Map<string, number>();
  /** "replica job" of each leadership asked for and refused */
  readonly refused: string[] = [];

  election(replica: string): LeaderElection {
    return {
      kind: 'postgresql',
      close: async () => undefined,
      tryLead: async (job) => {
        if (this.holders.has(job)) {
          this.refused.push(`${replica} ${job}`);
          return null;
        }
        const epoch = (this.epochs.get(job) ?? 0) + 1;
        this.epochs.set(job, epoch);
        const listeners: (() => void)[] = [];
        const holder = { replica, lost: () => listeners.splice(0).forEach((l) => l()) };
        this.holders.set(job, holder);
        const lease: Leadership = {
          job,
          epoch,
          onLost: (listener) => listeners.push(listener),
          release: async () => void (this.holders.get(job) === holder && this.holders.delete(job)),
        };
        return lease;
      },
    };
  }

  depose(replica: string): void {
    for (const [job, holder] of this.holders) {
      if (holder.replica !== replica) continue;
      this.holders.delete(job);
      holder.lost();
    }
  }

  epoch(job: string): number | undefined {
    return this.epochs.get(job);
  }
}

/** The audit log's records, in order. */
async function audited(store: Store): Promise<{ kind: string; data: { job?: string; round?: number; participant?: string; sha256?: string; contributors?: unknown[] } }[]> {
  return (await toArray(store.auditRecords())).map(({ text }) => JSON.parse(text));
}

/** The SHA-256 of participant a's accepted update in a round, from the audit log. */
async function sha256Of(store: Store, job: string, round: number): Promise<string> {
  const record = (await audited(store)).find(({ kind, data }) => kind === 'update.accepted' && data.job === job && data.round === round && data.participant === 'a');
  if (!record) throw new Error(`no update of a in round ${round}`);
  return record.data.sha256!;
}

/** Who sent each update of a job the audit log holds as accepted, in the log's order. */
/** The store's audit log verifies, with `rounds` rounds recomputed bit for bit. */
async function expectVerified(store: Store, rounds: number): Promise<void> {
  const report = await verifyStore(store);
  expect(report.failure).toBeUndefined();
  expect(report.counts.roundsRecomputed).toBe(rounds);
}

async function acceptedIn(store: Store, job: string): Promise<string[]> {
  return (await audited(store)).filter(({ kind, data }) => kind === 'update.accepted' && data.job === job).map(({ data }) => data.participant!);
}

/** Resolves once `condition` holds, checking after each turn of the event loop. */
async function until(condition: () => boolean | Promise<boolean>): Promise<void> {
  while (!(await condition())) await new Promise((resolve) => setImmediate(resolve));
}

const spec = { model: 'logistic', features: [{ name: 'x', type: 'numeric' }], target: 'y', rounds: 3 };
/** Central DP without a budget: its rounds run to the job's end. */
const centralDp = { noiseMultiplier: 1, clipNorm: 1, delta: 1e-5 };

/** Statistics whose sums of 1e300 no real values can have. */
const IMPLAUSIBLE_SUMS = (s: LocalStatistics): LocalStatistics => ({ ...s, features: [{ ...s.features[0], sum: 1e300, sumSquares: 1e300 }] as LocalStatistics['features'] });

/** Keeps these participants offline until the first round of a job commits: they miss its statistics phase. */
function connectAfterRound1(channel: FakeParticipants, engine: RoundEngine, late: string[]): void {
  for (const name of late) channel.connected.delete(name);
  engine.events.on('job', (event) => {
    if (event.type !== 'round' || event.round.round !== 1) return;
    for (const name of late) {
      channel.connected.add(name);
      engine.participantOnline(name);
    }
  });
}

describe('the round engine', () => {
  it('runs the statistics phase, every round and its evaluation, averaging the updates', async () => {
    const { store, engine } = await setup(['a', 'b']);
    const job = await engine.createJob(spec, 'user:test');
    await engine.whenFinished(job.id);
    expect(await store.getJob(job.id)).toMatchObject({ status: 'completed', round: 3 });
    expect((await store.getJob(job.id))!.preprocessing).toMatchObject({ inputDim: 1, rows: 8, features: [{ mean: 1, std: 1 }] });
    // each round every participant adds one to the global model
    expect(Array.from((await store.getModel(job.id))!.weights)).toEqual([3, 3]);
    const rounds = await store.listRounds(job.id);
    expect(rounds.map((r) => [r.round, r.contributors.length, r.metrics.trainLoss])).toEqual([[1, 2, 1], [2, 2, 0.5], [3, 2, 1 / 3]]);
    // evaluation weighted by examples, each count capped at the lower median (1): (1 * 1 + 0.6 * 1) / 2 = 0.8
    for (const r of rounds) expect(r.evaluation).toEqual({ metrics: { accuracy: expect.closeTo(0.8) }, numExamples: 4, participants: ['a', 'b'] });
    await store.close();
  });

  it('runs a job stored before jobs named a strategy as FedAvg, and its log verifies', async () => {
    // Prepare: the job as an older coordinator stored and recorded it, with no strategy in its spec
    const { store, engine, audit } = await setup(['a', 'b']);
    const stored = { ...JobSpecSchema.parse({ ...spec, minParticipants: 2, roundDeadlineSeconds: 60 }) } as Partial<JobSpec>;
    delete stored.strategy;
    const id = 'job-from-before';
    await store.addJob({ id, spec: stored as JobSpec, status: 'waiting', preprocessing: null, round: 0, error: null, admission: { reportedRows: {}, excluded: [] }, createdAt: 0, updatedAt: 0 });
    await audit.append('job.created', 'user:test', { job: id, spec: stored });
    // Execute
    await engine.resume();
    await engine.whenFinished(id);
    // Assert
    expect(await store.getJob(id)).toMatchObject({ status: 'completed', round: 3 });
    expect(Array.from((await store.getModel(id))!.weights)).toEqual([3, 3]);
    await expectVerified(store, 3);
    await store.close();
  });

  it('commits a stateful strategy’s state with each round, named in the audit record', async () => {
    const { store, engine } = await setup(['a', 'b']);
    const job = await engine.createJob({ ...spec, strategy: { name: 'fedavgm', momentum: 0.5 } }, 'user:test');
    await engine.whenFinished(job.id);
    // Each round every update is x + 1: Δ = 1, m = 1, 1.5, 1.75; x = 1, 2.5, 4.25
    expect(Array.from((await store.getModel(job.id))!.weights)).toEqual([4.25, 4.25]);
    const state = (await store.getStrategyState(job.id))!;
    expect(state.round).toBe(3);
    expect(Array.from(decodeState(state.bytes)!.momentum)).toEqual([1.75, 1.75]);
    const committed = (await toArray(store.auditRecords())).map(({ text }) => JSON.parse(text)).filter((r) => r.kind === 'model.committed');
    expect(committed.map((r) => r.data.stateSha256)).toEqual([expect.any(String), expect.any(String), state.sha256]);
    expect(committed[2].data.strategy).toEqual({ name: 'fedavgm', weighting: 'samples', serverLearningRate: 1, momentum: 0.5 });
    expect((await verifyStore(store)).failure).toBeUndefined();
    await store.close();
  });

  it("drops a revoked site's SCAFFOLD control variate from the next round's state: c is the others' mean, the commit names it, and the log verifies", async () => {
    // Prepare: round 1 of a SCAFFOLD job commits c's control variate; round 2 waits for its updates when an admin revokes c
    const { store, engine, channel, revoke } = await setup(['a', 'b', 'c']);
    channel.answerTraining = false;
    const job = await engine.createJob({ ...spec, strategy: { name: 'scaffold' } }, 'user:test');
    await until(() => channel.held.length === 3);
    await channel.release();
    await until(() => channel.held.length === 3);
    await revoke('c', 'dishonest');
    // Execute: a and b reply to every round
    channel.answerTraining = true;
    await channel.release((held) => held.participant !== 'c');
    await engine.whenFinished(job.id);
    // Assert: round 2, started before the revocation, kept c's control variate; round 3's state holds a's and b's only
    expect(await store.getJob(job.id)).toMatchObject({ status: 'completed', round: 3 });
    const stateAfter = async (round: number) => decodeState((await store.getStrategyStateBytes(job.id, round))!)!;
    const second = await stateAfter(2);
    expect(Object.keys(second).sort()).toEqual(['c', 'c/a', 'c/b', 'c/c']);
    const third = await stateAfter(3);
    expect(Object.keys(third).sort()).toEqual(['c', 'c/a', 'c/b']);
    expect(Array.from(third.c)).toEqual(Array.from(third['c/a'], (v, i) => (v + third['c/b'][i]) / 2));
    // Assert: round 3's corrections were made without c's: c − c_a with c the mean of a's and b's control variates after round 2
    const withoutC = Array.from(second['c/a'], (v, i) => Math.fround((v + second['c/b'][i]) / 2 - v));
    expect(channel.corrections.get('a round 3')).toEqual(withoutC);
    // Assert: round 3's commit names c, the others nobody; the log verifies, every round recomputed
    const committed = (await audited(store)).filter((r) => r.kind === 'model.committed').map((r) => (r.data as { revoked?: string[] }).revoked);
    expect(committed).toEqual([undefined, undefined, ['c']]);
    await expectVerified(store, 3);
    await store.close();
  });

  it("asks a SCAFFOLD round again after a restart with the corrections it first sent, though a site was revoked during it: the revocation applies from the next round, and the log verifies", async () => {
    // Prepare: round 1 commits every site's control variate, c's unlike the others' (its update moves three times as far);
    // round 2 waits for its updates when an admin revokes c
    const { store, engine, channel, revoke, restart } = await setup(['a', 'b', 'c']);
    channel.steps.set('c', 3);
    channel.answerTraining = false;
    const job = await engine.createJob({ ...spec, strategy: { name: 'scaffold' } }, 'user:test');
    await until(() => channel.held.length === 3);
    await channel.release();
    await until(() => channel.held.length === 3);
    const sent = ['a', 'b'].map((p) => channel.corrections.get(`${p} round 2`));
    await revoke('c', 'dishonest');
    // Execute: the coordinator stops before round 2 commits; another on the same store resumes the job, a and b answering
    await engine.shutdown();
    await engine.whenFinished(job.id);
    channel.held = [];
    channel.answerTraining = true;
    const again = restart();
    await again.resume();
    await again.whenFinished(job.id);
    // Assert: round 2 was asked again of a and b, with the corrections they were first sent
    expect(channel.asked.filter((a) => a.endsWith('round 2')).sort()).toEqual(['a round 2', 'a round 2', 'b round 2', 'b round 2', 'c round 2']);
    expect(['a', 'b'].map((p) => channel.corrections.get(`${p} round 2`))).toEqual(sent);
    // Assert: round 2 kept c's control variate, round 3 dropped it; the log verifies, every round recomputed
    expect(await store.getJob(job.id)).toMatchObject({ status: 'completed', round: 3 });
    const committed = (await audited(store)).filter((r) => r.kind === 'model.committed').map((r) => (r.data as { revoked?: string[] }).revoked);
    expect(committed).toEqual([undefined, undefined, ['c']]);
    await expectVerified(store, 3);
    await store.close();
  });

  it('starts a SCAFFOLD round from the state without the sites revoked before the previous round committed, not those revoked since', async () => {
    // Prepare: c's control variate is unlike the others'; its revocation is written after round 1 commits, before round 2 reads who is revoked
    const { store, engine, channel, revoke } = await setup(['a', 'b', 'c']);
    channel.steps.set('c', 3);
    let round1 = false;
    engine.events.on('job', (event) => void (event.type === 'round' && event.round.round === 1 && (round1 = true)));
    const listParticipants = store.listParticipants.bind(store);
    let revoked: Promise<unknown> | undefined;
    jest.spyOn(store, 'listParticipants').mockImplementation(async () => {
      if (round1) await (revoked ??= revoke('c', 'dishonest'));
      return listParticipants();
    });
    // Execute
    const job = await engine.createJob({ ...spec, strategy: { name: 'scaffold' } }, 'user:test');
    await engine.whenFinished(job.id);
    // Assert: round 2, without c, still corrected a and b with c's control variate in c; round 3 dropped it
    expect(revoked).toBeDefined();
    expect(await store.getJob(job.id)).toMatchObject({ status: 'completed', round: 3 });
    expect((await store.listRounds(job.id)).map((r) => r.contributors.map((c) => c.participant).sort())).toEqual([['a', 'b', 'c'], ['a', 'b'], ['a', 'b']]);
    const first = decodeState((await store.getStrategyStateBytes(job.id, 1))!)!;
    expect(channel.corrections.get('a round 2')).toEqual(Array.from(first['c/a'], (v, i) => Math.fround(first.c[i] - v)));
    const committed = (await audited(store)).filter((r) => r.kind === 'model.committed').map((r) => (r.data as { revoked?: string[] }).revoked);
    expect(committed).toEqual([undefined, undefined, ['c']]);
    await expectVerified(store, 3);
    await store.close();
  });

  it("leaves out of its round the accepted update of a participant revoked before the round commits: the model is the others' aggregate, and the log verifies", async () => {
    // Prepare: round 1 holds c's accepted update, which would move the model ten times as far as a's or b's
    const { store, channel, engine, revoke } = await setup(['a', 'b', 'c']);
    channel.steps.set('c', 10);
    channel.answerTraining = false;
    const job = await engine.createJob({ ...spec, rounds: 1, evaluateEvery: 0 }, 'user:test');
    await until(() => channel.held.length === 3);
    await channel.release((held) => held.participant === 'c');
    expect(channel.accepted).toEqual(['c round 1']);
    // Execute: an admin revokes c on this coordinator; then a and b reply and round 1 closes
    await revoke('c', 'dishonest');
    await channel.release();
    await engine.whenFinished(job.id);
    // Assert: round 1 is a's and b's updates, c's failure REVOKED; nobody was asked twice
    expect(await store.getJob(job.id)).toMatchObject({ status: 'completed', round: 1 });
    const [round] = await store.listRounds(job.id);
    expect(round.contributors.map((x) => x.participant).sort()).toEqual(['a', 'b']);
    expect(round).toMatchObject({ attempts: 1, failures: [{ participant: 'c', code: 'REVOKED', reason: 'revoked while its update waited to be recorded' }] });
    expect(channel.asked.sort()).toEqual(['a round 1', 'b round 1', 'c round 1']);
    // Assert: the model is the initial one moved by a's and b's step of 1, without c's 10
    const initial = (await store.getModel(job.id, 0))!.weights;
    expect(Array.from((await store.getModel(job.id, 1))!.weights)).toEqual(Array.from(initial, (w) => Math.fround(w + 1)));
    // Assert: c's update is recorded nowhere, its revocation before the commit; the log verifies, recomputing the round
    const records = await audited(store);
    expect((await acceptedIn(store, job.id)).sort()).toEqual(['a', 'b']);
    const revokedAt = records.findIndex((r) => r.kind === 'participant.revoked');
    expect(revokedAt).toBeGreaterThan(0);
    expect(revokedAt).toBeLessThan(records.findIndex((r) => r.kind === 'model.committed'));
    await expectVerified(store, 1);
    await store.close();
  });

  it('provides each participant the job setup, signed, before the first request that names it', async () => {
    const { store, channel, engine } = await setup(['a', 'b']);
    const job = await engine.createJob(spec, 'user:test');
    await engine.whenFinished(job.id);
    expect(channel.unprovided).toEqual([]);
    expect(channel.provided.get('a')).toEqual([expect.stringMatching(/^[0-9a-f]{64}$/)]);
    expect(channel.provided.get('b')).toEqual(channel.provided.get('a'));
    await store.close();
  });

  it('checks each update for its digest and finite values, refusing those that fail with a code', async () => {
    // Prepare: c's and d's updates are wrong in every round; the round closes shortly after a and b are in
    const { store, channel, engine } = await setup(['a', 'b', 'c', 'd']);
    channel.faults.set('c', 'nan').set('d', 'digest');
    // Execute
    const job = await engine.createJob({ ...spec, waitAfterMinimumSeconds: 0.2 }, 'user:test');
    await engine.whenFinished(job.id);
    // Assert: only a's and b's updates are folded in, every round
    expect(await store.getJob(job.id)).toMatchObject({ status: 'completed', round: 3 });
    expect(Array.from((await store.getModel(job.id))!.weights)).toEqual([3, 3]);
    expect((await store.listRounds(job.id)).map((r) => r.contributors.map((c) => c.participant).sort())).toEqual([['a', 'b'], ['a', 'b'], ['a', 'b']]);
    expect(channel.refusals.sort()).toEqual(['c NON_FINITE', 'c NON_FINITE', 'c NON_FINITE', 'd DIGEST_MISMATCH', 'd DIGEST_MISMATCH', 'd DIGEST_MISMATCH']);
    await store.close();
  });

  it("records a site's failure report with its code, and the round goes on with the others", async () => {
    const { store, channel, engine } = await setup(['a', 'b', 'c']);
    channel.faults.set('c', 'report');
    const job = await engine.createJob(spec, 'user:test');
    await engine.whenFinished(job.id);
    expect(await store.getJob(job.id)).toMatchObject({ status: 'completed', round: 3 });
    for (const round of await store.listRounds(job.id)) {
      expect(round.contributors.map((c) => c.participant).sort()).toEqual(['a', 'b']);
      expect(round.failures).toEqual([{ participant: 'c', reason: expect.stringMatching(/^failed: rows have a target value outside the job's classes \(rows 2\)$/), code: 'DATA_TARGET_UNKNOWN_CLASS' }]);
    }
    // The last round's evaluation, asked alone, keeps c's report too (it used to be acknowledged and lost)
    expect((await store.getRound(job.id, 3))!.evaluation).toMatchObject({ participants: ['a', 'b'], failures: [{ participant: 'c', code: 'DATA_TARGET_UNKNOWN_CLASS' }] });
    await until(() => channel.refusals.length === 9);
    // Each round: recorded once; a second report refused; one for a round that is not open refused.
    expect(channel.refusals.filter((r) => r === 'c reported')).toHaveLength(3);
    expect(channel.refusals.filter((r) => r !== 'c reported').sort()).toEqual(['c DUPLICATE_UPDATE', 'c DUPLICATE_UPDATE', 'c DUPLICATE_UPDATE', 'c WRONG_ROUND', 'c WRONG_ROUND', 'c WRONG_ROUND']);
    await store.close();
  });

  it("checks a message's signature only when the job awaits it from its sender: any other is refused for what it is, whatever it is signed with", async () => {
    // Arrange: round 1 open, a's and b's updates held; every message below is signed with a key that is not a's
    const { store, channel, engine } = await setup(['a', 'b']);
    channel.answerTraining = false;
    const job = await engine.createJob(spec, 'user:test');
    await until(() => channel.held.length === 2);
    const stranger = generateKeyPair();
    const base = { job: job.id, participant: 'a' };
    const update = (round: number, jobId = job.id) => {
      const header = { ...base, job: jobId, type: 'update' as const, round, nonce: randomNonce(), numSamples: 4, metrics: {}, weightsSha256: sha256Hex(new Uint8Array(8)) };
      return engine.submitUpdate('a', { header, signature: signHeader('update', header, stranger.secretKey), weights: new Uint8Array(8) });
    };
    const statistics = { ...base, type: 'statistics' as const, nonce: randomNonce(), statistics: { ...STATS, features: [{ ...STATS.features[0], name: 'not-declared' }] } };
    const evaluation = { ...base, type: 'evaluation' as const, round: 1, nonce: randomNonce(), numExamples: 1, metrics: {}, modelSha256: '0'.repeat(64) };
    // Execute
    const codes = {
      unknownJob: await update(1, 'no-such-job'),
      otherRound: await update(2),
      statistics: await engine.submitStatistics('a', { header: statistics, signature: signHeader('statistics', statistics, stranger.secretKey) }),
      evaluation: await engine.submitEvaluation('a', { header: evaluation, signature: signHeader('evaluation', evaluation, stranger.secretKey) }),
      awaited: await update(1),
    };
    // Assert: only the update round 1 awaits from a has its signature read, and refused for it
    expect(Object.fromEntries(Object.entries(codes).map(([name, ack]) => [name, ack.ok ? 'ok' : ack.error.code]))).toEqual({
      unknownJob: 'UNKNOWN_JOB',
      otherRound: 'WRONG_ROUND',
      statistics: 'DUPLICATE_UPDATE',
      evaluation: 'WRONG_ROUND',
      awaited: 'BAD_SIGNATURE',
    });
    // and a's own update is still taken: nothing above counted as its answer
    channel.answerTraining = true;
    await channel.release();
    await engine.whenFinished(job.id);
    expect((await store.listRounds(job.id)).map((r) => r.contributors.map((c) => c.participant).sort())).toEqual([['a', 'b'], ['a', 'b'], ['a', 'b']]);
    await store.close();
  });

  it('refuses statistics sent while a job waits for participants as not asked for, not as late', async () => {
    const { store, channel, engine } = await setup(['a', 'b']);
    const job = await engine.createJob({ ...spec, minParticipants: 3 }, 'user:test');
    const header = { type: 'statistics' as const, job: job.id, participant: 'a', nonce: randomNonce(), statistics: STATS };
    const ack = await engine.submitStatistics('a', { header, signature: signHeader('statistics', header, channel.keys.get('a')!.secretKey) });
    expect(ack).toEqual({ ok: false, error: { code: 'NOT_SELECTED', message: 'not asked for statistics' } });
    await engine.control(job.id, 'stop', 'user:test');
    await store.close();
  });

  it('records the job in a verifiable audit log, keeping updates as the retention policy says', async () => {
    const all = await setup(['a', 'b']);
    const kept = await all.engine.whenFinished((await all.engine.createJob(spec, 'user:test')).id).then(() => verifyStore(all.store));
    expect(kept.failure).toBeUndefined();
    expect(kept.counts).toMatchObject({ updates: 6, updatesRetained: 6, roundsRecomputed: 3 });
    await all.store.close();

    const lastRound = await setup(['a', 'b'], 3, { rounds: 1, maxModelBytes: 1 << 20 });
    const job = await lastRound.engine.createJob(spec, 'user:test');
    await lastRound.engine.whenFinished(job.id);
    const pruned = await verifyStore(lastRound.store);
    expect(pruned.failure).toBeUndefined();
    expect(pruned.counts).toMatchObject({ updates: 6, updatesChecked: 2, roundsRecomputed: 1, roundsNotRecomputable: 2 });
    expect(await Promise.all([1, 2, 3].map(async (r) => await lastRound.store.getRetainedUpdate(job.id, r, 'a', await sha256Of(lastRound.store, job.id, r))))).toEqual([
      undefined,
      undefined,
      expect.any(Uint8Array),
    ]);
    await lastRound.store.close();

    const tooLarge = await setup(['a', 'b'], 3, { maxModelBytes: 4 });
    await tooLarge.engine.whenFinished((await tooLarge.engine.createJob(spec, 'user:test')).id);
    expect((await verifyStore(tooLarge.store)).counts).toMatchObject({ updates: 6, updatesRetained: 0, roundsNotRecomputable: 3 });
    await tooLarge.store.close();
  });

  it('shuts down at once with a job created just before, still writing that it waits for participants', async () => {
    // Arrange
    const { store, engine } = await setup([]);
    await engine.createJob(spec, 'user:test');
    // Execute: the run is between its first checks and its wait
    const stopped = await Promise.race([engine.shutdown().then(() => 'stopped'), new Promise((resolve) => setTimeout(() => resolve('still running after 10 s'), 10_000))]);
    // Assert
    expect(stopped).toBe('stopped');
    await store.close();
  });

  it('stops at once a job stopped while it writes that it waits for participants again', async () => {
    // Arrange: a job waiting for participants, paused and resumed, so that it writes 'waiting' again; that write is held until the stop is applied
    const { store, engine } = await setup([]);
    const job = await engine.createJob(spec, 'user:test');
    await engine.control(job.id, 'pause', 'user:test');
    const updateJob = store.updateJob.bind(store);
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let writing!: () => void;
    const waitingWritten = new Promise<void>((resolve) => (writing = resolve));
    store.updateJob = async (id, change) => {
      if (change.status === 'waiting') {
        writing();
        await held;
      }
      return updateJob(id, change);
    };
    await engine.control(job.id, 'resume', 'user:test');
    await waitingWritten;

    // Execute
    await engine.control(job.id, 'stop', 'user:test');
    release();
    const ended = await Promise.race([engine.whenFinished(job.id).then(() => 'ended'), new Promise((resolve) => setTimeout(() => resolve('still running after 10 s'), 10_000))]);

    // Assert
    expect(ended).toBe('ended');
    expect((await store.getJob(job.id))?.status).toBe('stopped');
    await engine.shutdown();
    await store.close();
  });

  it('applies the configured defaults to jobs that leave them out, and refuses bad specs with a code', async () => {
    const { store, engine } = await setup([]);
    expect((await engine.createJob(spec, 'user:test')).spec).toMatchObject({ minParticipants: 2, roundDeadlineSeconds: 60 });
    await expect(engine.createJob({ ...spec, rounds: 0 }, 'user:test')).rejects.toThrow(expect.objectContaining({ code: 'VALIDATION_FAILED' }));
    // A strategy is one the coordinator knows, with its own parameters only.
    expect((await engine.createJob(spec, 'user:test')).spec.strategy).toEqual({ name: 'fedavg', weighting: 'samples' });
    for (const strategy of [{ name: 'fedsgd' }, { name: 'fedprox', momentum: 0.9 }, { name: 'trimmed-mean', beta: 0.5 }]) {
      await expect(engine.createJob({ ...spec, strategy }, 'user:test')).rejects.toThrow(expect.objectContaining({ code: 'VALIDATION_FAILED', message: expect.stringContaining('strategy') }));
    }
    // A privacy budget that one round already exceeds: the job could never train.
    const dp = { noiseMultiplier: 1, clipNorm: 1, delta: 1e-5 };
    const strategy = { name: 'fedavg', weighting: 'uniform' };
    await expect(engine.createJob({ ...spec, strategy, dp: { ...dp, epsilonBudget: epsilonAfter(dp, 1) / 2 } }, 'user:test')).rejects.toThrow(
      expect.objectContaining({ code: 'VALIDATION_FAILED', message: expect.stringMatching(/^dp\.epsilonBudget: .* is below the ε of one round/) }),
    );
    await engine.shutdown();
    await store.close();
  });

  it('names the job, the round and the participant of its log lines as fields', async () => {
    const { store, channel, engine, logged } = await setup(['a', 'b', 'c']);
    channel.faults.set('c', 'nan');
    const job = await engine.createJob({ ...spec, rounds: 2 }, 'user:test');
    await engine.whenFinished(job.id);
    expect(logged).toContainEqual({ level: 'info', message: expect.stringMatching(/ round 2\/2: 2\/3 updates/), job: job.id, round: 2 });
    expect(logged).toContainEqual({ level: 'warn', message: expect.stringMatching(/left out c's update/), job: job.id, round: 1, participant: 'c' });
    await store.close();
  });

  it('evaluates every k-th round and the last one only', async () => {
    const { store, engine } = await setup(['a', 'b']);
    const job = await engine.createJob({ ...spec, rounds: 5, evaluateEvery: 2 }, 'user:test');
    await engine.whenFinished(job.id);
    expect((await store.listRounds(job.id)).map((r) => r.evaluation !== null)).toEqual([false, true, false, true, true]);
    await store.close();
  });

  it('pauses a job mid-round without committing it, and resumes it to the end', async () => {
    const { store, channel, engine } = await setup(['a', 'b']);
    channel.answerTraining = false;
    const job = await engine.createJob(spec, 'user:test');
    await until(() => channel.held.length === 2);
    expect((await engine.control(job.id, 'pause', 'user:test')).status).toBe('paused');
    await channel.release(); // the updates of the cut-short round arrive too late: its phase has closed
    expect(channel.refusals.sort()).toEqual(['a WRONG_ROUND', 'b WRONG_ROUND']);
    expect(await store.listRounds(job.id)).toEqual([]);
    expect((await store.getJob(job.id))!.status).toBe('paused');
    channel.answerTraining = true;
    await engine.control(job.id, 'resume', 'user:test');
    await engine.whenFinished(job.id);
    expect(await store.getJob(job.id)).toMatchObject({ status: 'completed', round: 3 });
    expect((await store.listRounds(job.id)).map((r) => r.round)).toEqual([1, 2, 3]);
    await store.close();
  });

  it('applies controls asked at once in the order they came, as another replica relays them: a pause, then a stop', async () => {
    const { store, channel, engine } = await setup(['a', 'b']);
    channel.answerTraining = false;
    const job = await engine.createJob(spec, 'user:test');
    await until(() => channel.held.length === 2);
    const statuses: string[] = [];
    engine.events.on('job', (event) => event.type === 'status' && event.job === job.id && statuses.push(event.status));
    // The pause's read of the job is slow (as one connection of a PostgreSQL pool may be) until the stop has settled.
    let release = () => {};
    const slow = new Promise<void>((resolve) => (release = resolve));
    const read = store.getJob.bind(store);
    jest.spyOn(store, 'getJob').mockImplementationOnce(async (id) => (await slow, read(id)));
    // Neither awaited before the other is asked, as controlledElsewhere asks them.
    const pause = engine.control(job.id, 'pause', 'user:test');
    const stop = engine.control(job.id, 'stop', 'user:test');
    // A stop that waits for the pause never settles first: the read is let go after a while then.
    await Promise.race([stop.catch(() => undefined), new Promise((resolve) => setTimeout(resolve, 500))]);
    release();
    await Promise.all([pause, stop]);
    await engine.whenFinished(job.id);
    expect(statuses).toEqual(['paused', 'stopped']);
    expect((await store.getJob(job.id))!.status).toBe('stopped');
    const controls = (await audited(store)).filter(({ kind }) => kind === 'job.control').map(({ data }) => (data as { action: string }).action);
    expect(controls).toEqual(['pause', 'stop']);
    await store.close();
  });

  it('writes a pause and its audit record in one transaction: when either fails, neither is stored and the job goes on', async () => {
    // Prepare: round 1 asked, its updates held
    const { store, channel, engine } = await setup(['a', 'b']);
    channel.answerTraining = false;
    const job = await engine.createJob(spec, 'user:test');
    await until(() => channel.held.length === 2);
    const controls = async () => (await audited(store)).filter(({ kind }) => kind === 'job.control').map(({ data }) => (data as { action: string }).action);
    // Execute: the status write fails, then (asked again) the audit record
    jest.spyOn(store, 'updateJob').mockRejectedValueOnce(new Error('disk full'));
    await expect(engine.control(job.id, 'pause', 'user:test')).rejects.toThrow('disk full');
    // Assert: no record of a pause that did not happen
    expect(await controls()).toEqual([]);
    expect((await store.getJob(job.id))!.status).toBe('training');
    await until(() => channel.held.length === 4);
    jest.spyOn(store, 'appendAudit').mockRejectedValueOnce(new Error('disk full'));
    await expect(engine.control(job.id, 'pause', 'user:test')).rejects.toThrow('disk full');
    expect(await controls()).toEqual([]);
    expect((await store.getJob(job.id))!.status).toBe('training');
    // Execute: the round cut short is asked again; a pause that succeeds writes both, and a resume takes the job to its end
    await until(() => channel.held.length === 6);
    expect((await engine.control(job.id, 'pause', 'user:test')).status).toBe('paused');
    expect(await controls()).toEqual(['pause']);
    channel.answerTraining = true;
    await engine.control(job.id, 'resume', 'user:test');
    await engine.whenFinished(job.id);
    expect(await store.getJob(job.id)).toMatchObject({ status: 'completed', round: 3 });
    expect(await controls()).toEqual(['pause', 'resume']);
    expect((await verifyStore(store)).failure).toBeUndefined();
    await store.close();
  });

  it('records the updates a round accepted when its commit fails, failing the job', async () => {
    const { store, engine } = await setup(['a', 'b']);
    jest.spyOn(store, 'commitRound').mockRejectedValueOnce(new Error('disk full'));
    const job = await engine.createJob(spec, 'user:test');
    await engine.whenFinished(job.id);
    expect(await store.getJob(job.id)).toMatchObject({ status: 'failed', round: 0, error: 'disk full' });
    // Its sites hold them as acknowledged: the log must too
    expect((await acceptedIn(store, job.id)).sort()).toEqual(['a', 'b']);
    expect((await verifyStore(store)).failure).toBeUndefined();
    await store.close();
  });

  it('runs two jobs at once, each writing the updates it accepted with its own rounds, and the log verifies', async () => {
    const { store, engine } = await setup(['a', 'b']);
    const jobs = await Promise.all([engine.createJob(spec, 'user:test'), engine.createJob({ ...spec, rounds: 2 }, 'user:test')]);
    await Promise.all(jobs.map((job) => engine.whenFinished(job.id)));
    for (const job of jobs) expect((await store.getJob(job.id))!.status).toBe('completed');
    // Right before each commit: the updates of that round of that job, and nothing else
    const log = await audited(store);
    const commits = log.flatMap((record, i) => (record.kind === 'model.committed' ? [i] : []));
    expect(commits).toHaveLength(5);
    for (const i of commits) {
      const { job, round, contributors } = log[i].data;
      const before = log.slice(i - contributors!.length, i).map(({ kind, data }) => `${kind} ${data.job} ${data.round}`);
      expect(before).toEqual(contributors!.map(() => `update.accepted ${job} ${round}`));
    }
    await expectVerified(store, 5);
    await store.close();
  });

  it('sends the open round again to a participant that reconnects while awaited, and the next round to one that dropped out', async () => {
    const { store, channel, engine } = await setup(['a', 'b', 'c']);
    channel.answerTraining = false;
    const job = await engine.createJob({ ...spec, rounds: 2 }, 'user:test');
    await until(() => channel.held.length >= 3);
    // a's connection is replaced by a new one before the old one is seen closing: it is asked again
    engine.participantOnline('a');
    expect(channel.held).toHaveLength(4);
    // c drops out: a failure of round 1; back online, it is not asked for round 1 again
    channel.connected.delete('c');
    engine.participantOffline('c');
    channel.connected.add('c');
    engine.participantOnline('c');
    expect(channel.held).toHaveLength(4);
    channel.answerTraining = true;
    channel.release();
    await engine.whenFinished(job.id);
    const rounds = await store.listRounds(job.id);
    expect(rounds[0].failures).toEqual([{ participant: 'c', reason: 'disconnected' }]);
    expect(rounds[0].contributors.map((x) => x.participant).sort()).toEqual(['a', 'b']);
    // round 2 goes to c with round 1's global model: all three contribute
    expect(rounds[1].contributors.map((x) => x.participant).sort()).toEqual(['a', 'b', 'c']);
    expect(Array.from((await store.getModel(job.id))!.weights)).toEqual([2, 2]);
    await store.close();
  });

  it('waits up to --reconnect-wait-seconds for a participant that dropped out of a round before the next one selects its participants', async () => {
    // Prepare: c drops out of round 1, and a and b answer it while c is away
    const clock = new ManualClock();
    const { store, channel, engine, logged } = await setup(['a', 'b', 'c'], 3, undefined, clock, undefined, { reconnectWaitSeconds: 30 });
    channel.answerTraining = false;
    const job = await engine.createJob({ ...spec, rounds: 3, evaluateEvery: 0 }, 'user:test');
    const waitedFor = () => logged.filter((l) => l.message.includes('waiting up to 30 s for c to connect again')).length;
    const dropC = async () => {
      await until(() => channel.held.length === 3);
      channel.connected.delete('c');
      engine.participantOffline('c');
      await channel.release((h) => h.participant !== 'c');
      channel.held = [];
    };
    await dropC();
    // Execute: round 2 waits for c, and asks it once it is back; c drops out of round 2 too
    const asked = (round: number) => channel.asked.filter((a) => a.endsWith(`round ${round}`));
    await until(() => waitedFor() === 1 || asked(2).length > 0);
    expect(asked(2)).toEqual([]);
    channel.connected.add('c');
    engine.participantOnline('c');
    await dropC();
    // round 3 waits the 30 s for c, then goes on without it
    await until(() => waitedFor() === 2 || asked(3).length > 0);
    clock.advance(29_999);
    expect(asked(3)).toEqual([]);
    channel.answerTraining = true;
    clock.advance(1);
    await engine.whenFinished(job.id);
    // Assert: c was asked in rounds 1 and 2, and contributed to neither
    const rounds = await store.listRounds(job.id);
    expect(rounds.map((r) => r.selected)).toEqual([['a', 'b', 'c'], ['a', 'b', 'c'], ['a', 'b']]);
    expect(rounds.map((r) => r.contributors.map((x) => x.participant).sort())).toEqual([['a', 'b'], ['a', 'b'], ['a', 'b']]);
    expect(logged.map((l) => l.message)).toContainEqual(expect.stringContaining('going on without c, not back within 30 s'));
    await store.close();
  });

  it('does not wait for a participant revoked since the previous round asked it', async () => {
    // Prepare: c is revoked, and its connection closed, while round 1 awaits it
    const { store, channel, engine, audit, logged } = await setup(['a', 'b', 'c'], 3, undefined, undefined, undefined, { reconnectWaitSeconds: 3600 });
    channel.answerTraining = false;
    const job = await engine.createJob({ ...spec, rounds: 2, evaluateEvery: 0 }, 'user:test');
    await until(() => channel.held.length === 3);
    await audit.append('participant.revoked', 'user:test', { name: 'c', reason: 'left the consortium' });
    await store.setParticipantStatus('c', 'revoked', 'user:test', Date.now());
    channel.connected.delete('c');
    engine.participantOffline('c');
    // Execute
    channel.answerTraining = true;
    await channel.release((h) => h.participant !== 'c');
    let finished = false;
    void engine.whenFinished(job.id).then(() => (finished = true));
    await until(() => finished || logged.some((l) => l.message.includes('waiting up to')));
    // Assert: round 2 went on at once with a and b
    expect(logged.map((l) => l.message)).not.toContainEqual(expect.stringContaining('waiting up to'));
    const rounds = await store.listRounds(job.id);
    expect(rounds.map((r) => r.selected)).toEqual([['a', 'b', 'c'], ['a', 'b']]);
    await store.close();
  });

  it('stops a job for good, keeping the rounds it committed', async () => {
    const { store, channel, engine } = await setup(['a', 'b']);
    const job = await engine.createJob({ ...spec, rounds: 50 }, 'user:test');
    engine.events.on('job', async (event) => {
      if (event.type === 'round' && event.round.round === 2) {
        channel.answerTraining = false;
        await engine.control(job.id, 'stop', 'user:test');
      }
    });
    await engine.whenFinished(job.id);
    expect(await store.getJob(job.id)).toMatchObject({ status: 'stopped', round: 2 });
    await expect(engine.control(job.id, 'resume', 'user:test')).rejects.toThrow(expect.objectContaining({ code: 'CONFLICT' }));
    await store.close();
  });

  it('pauses a job whose round stays below the minimum after the allowed attempts, naming why, until resumed', async () => {
    const clock = new ManualClock();
    const { store, channel, engine } = await setup(['a', 'b'], 2, undefined, clock);
    channel.answerTraining = false;
    const job = await engine.createJob({ ...spec, roundDeadlineSeconds: 30 }, 'user:test');
    // each attempt of round 1 asks both, and neither answers by the deadline
    await until(() => channel.held.length === 2);
    clock.advance(30_000);
    await until(() => channel.held.length === 4);
    clock.advance(30_000);
    await until(async () => (await store.getJob(job.id))!.status === 'paused');
    expect(await store.getJob(job.id)).toMatchObject({ status: 'paused', round: 0 });
    expect((await store.getJob(job.id))!.error).toMatch(/round 1 closed with 0 replies, below the minimum of 2 .*a: deadline passed.*after 2 attempts/);
    channel.answerTraining = true;
    await engine.control(job.id, 'resume', 'user:test');
    await engine.whenFinished(job.id);
    expect(await store.getJob(job.id)).toMatchObject({ status: 'completed', round: 3, error: null });
    await store.close();
  });

  it('pauses a job of hundreds of sites below the minimum with an error that counts the failures by cause, each in the log', async () => {
    // Prepare: 200 sites; 40 report that they cannot train, 10 send implausible weights, 5 an update, the others nothing
    const clock = new ManualClock();
    const names = Array.from({ length: 200 }, (_, i) => `site-${String(i).padStart(3, '0')}`);
    const { store, channel, engine, logged } = await setup(names, 1, undefined, clock);
    for (const name of names.slice(0, 40)) channel.faults.set(name, 'report');
    for (const name of names.slice(40, 50)) channel.faults.set(name, 'huge');
    channel.answerTraining = false;
    const job = await engine.createJob({ ...spec, minParticipants: 200, roundDeadlineSeconds: 30 }, 'user:test');
    await until(() => channel.held.length === 160 && channel.refusals.filter((r) => r.endsWith(' reported')).length === 40);
    await channel.release((h) => h.participant < 'site-055');
    // Execute: the deadline passes
    clock.advance(30_000);
    await until(async () => (await store.getJob(job.id))!.status === 'paused');
    // Assert: the error says how many failed, why, with one site of each cause, in a few hundred characters
    const { error } = (await store.getJob(job.id))!;
    expect(error).toMatch(
      /^round 1 closed with 5 replies, below the minimum of 200 \(195 failed: 145 deadline passed, 40 DATA_TARGET_UNKNOWN_CLASS, 10 IMPLAUSIBLE_WEIGHTS; first of each: site-055: deadline passed; site-000: DATA_TARGET_UNKNOWN_CLASS failed: .*; site-040: IMPLAUSIBLE_WEIGHTS .*; each on a line of the coordinator's log\), after 1 attempts$/,
    );
    expect(error!.length).toBeLessThan(600);
    // and the log names each failed site on a line of its own, with the site as its field
    const lines = logged.filter((l) => l.level === 'info' && l.message.startsWith(`job ${job.id} round 1: `));
    expect(lines.map((l) => l.participant).sort()).toEqual(names.slice(0, 50).concat(names.slice(55)));
    expect(lines.find((l) => l.participant === 'site-199')?.message).toBe(`job ${job.id} round 1: site-199: deadline passed`);
    await engine.shutdown();
    await store.close();
  });

  it('closes a round a set time after the minimum replied, without waiting for the deadline', async () => {
    const clock = new ManualClock();
    const { store, channel, engine } = await setup(['a', 'b', 'c'], 3, undefined, clock);
    const job = await engine.createJob({ ...spec, rounds: 1, evaluateEvery: 0, roundDeadlineSeconds: 60, waitAfterMinimumSeconds: 5 }, 'user:test');
    const silent = channel.send.bind(channel) as (p: string, e: string, ...args: unknown[]) => boolean;
    channel.send = ((p: string, e: string, ...args: unknown[]) => (p === 'c' && e === 'train' ? true : silent(p, e, ...args))) as typeof channel.send;
    await until(() => channel.accepted.length === 2);
    clock.advance(4_999);
    expect(await store.listRounds(job.id)).toEqual([]);
    clock.advance(1);
    await engine.whenFinished(job.id);
    const [round] = await store.listRounds(job.id);
    expect(round.failures).toEqual([{ participant: 'c', reason: 'deadline passed' }]);
    expect(round.closedAt - round.startedAt).toBe(5_000);
    await store.close();
  });

  it('closes the last evaluation a set time after the minimum replied, too', async () => {
    // Prepare: c answers nothing; the clock moves only by hand
    const clock = new ManualClock();
    const { store, channel, engine } = await setup(['a', 'b', 'c'], 3, undefined, clock);
    const silent = channel.send.bind(channel) as (p: string, e: string, ...args: unknown[]) => boolean;
    channel.send = ((p: string, e: string, ...args: unknown[]) => (p === 'c' && (e === 'train' || e === 'evaluate') ? true : silent(p, e, ...args))) as typeof channel.send;
    const job = await engine.createJob({ ...spec, rounds: 1, evaluateEvery: 1, roundDeadlineSeconds: 60, waitAfterMinimumSeconds: 5 }, 'user:test');
    await until(() => channel.accepted.length === 2);
    clock.advance(5_000);
    await until(async () => (await store.listRounds(job.id)).length === 1);
    // Execute: a and b evaluate at once; 5 s later the phase closes without c
    await until(() => channel.evaluated.length === 2);
    clock.advance(5_000);
    await engine.whenFinished(job.id);
    // Assert: the job ended long before the 60 s deadline, with c's absence recorded
    expect(clock.now() - (await store.listRounds(job.id))[0].startedAt).toBe(10_000);
    expect((await store.getRound(job.id, 1))!.evaluation).toMatchObject({ participants: ['a', 'b'], failures: [{ participant: 'c', reason: 'deadline passed' }] });
    await store.close();
  });


  it('leaves an implausible update out of its round at once, with its code in the round and in the audit log', async () => {
    // Prepare: c sends weights of 3e38, d claims 1e9 samples; the clock never reaches a deadline
    const clock = new ManualClock();
    const { store, channel, engine } = await setup(['a', 'b', 'c', 'd'], 3, undefined, clock);
    channel.faults.set('c', 'huge').set('d', 'inflate');
    // Execute
    const job = await engine.createJob(spec, 'user:test');
    await engine.whenFinished(job.id);
    // Assert: every round closed as soon as c and d were left out, and only a and b are in the model
    expect(await store.getJob(job.id)).toMatchObject({ status: 'completed', round: 3 });
    expect(Array.from((await store.getModel(job.id))!.weights)).toEqual([3, 3]);
    for (const round of await store.listRounds(job.id)) {
      expect(round.closedAt).toBe(round.startedAt);
      expect([...round.failures].sort((x, y) => x.participant.localeCompare(y.participant))).toEqual([
        { participant: 'c', reason: expect.stringMatching(/beyond ±1000000/), code: 'IMPLAUSIBLE_WEIGHTS' },
        { participant: 'd', reason: expect.stringMatching(/numSamples 1000000000 is not between 1 and 4/), code: 'IMPLAUSIBLE_SAMPLES' },
      ]);
    }
    const excluded = (await toArray(store.auditRecords())).map(({ text }) => JSON.parse(text)).filter((r) => r.kind === 'update.excluded');
    expect(excluded.map((r) => `${r.data.round} ${r.data.participant} ${r.data.code}`).sort()).toEqual(
      ['1 c IMPLAUSIBLE_WEIGHTS', '1 d IMPLAUSIBLE_SAMPLES', '2 c IMPLAUSIBLE_WEIGHTS', '2 d IMPLAUSIBLE_SAMPLES', '3 c IMPLAUSIBLE_WEIGHTS', '3 d IMPLAUSIBLE_SAMPLES'],
    );
    // the participant's own signature proves what it claimed
    const d = excluded.find((r) => r.data.participant === 'd')!;
    expect(verifyHeader('update', d.data.header, d.data.signature, channel.keys.get('d')!.publicKey)).toBe(true);
    expect((await verifyStore(store)).failure).toBeUndefined();
    await store.close();
  });

  it('leaves a site with implausible statistics out of the job, and goes on with the others', async () => {
    // Prepare: c reports sums of 1e300, d a third class, e more rows than the job allows per site
    const { store, channel, engine } = await setup(['a', 'b', 'c', 'd', 'e']);
    channel.statistics.set('c', IMPLAUSIBLE_SUMS);
    channel.statistics.set('d', (s) => ({ ...s, target: { type: 'categorical', counts: [['maybe', 1], ['no', 1], ['yes', 2]] } }));
    channel.statistics.set('e', (s) => ({ ...s, rows: 1e9 }));
    // Execute
    const job = await engine.createJob({ ...spec, maxRowsPerParticipant: 1000 }, 'user:test');
    await engine.whenFinished(job.id);
    // Assert: the job completed on a's and b's statistics and updates alone
    const done = (await store.getJob(job.id))!;
    expect(done).toMatchObject({ status: 'completed', round: 3 });
    expect(done.preprocessing).toMatchObject({ rows: 8, features: [{ mean: 1, std: 1 }], target: { classes: ['no', 'yes'] } });
    expect(done.admission.reportedRows).toEqual({ a: 4, b: 4 });
    expect(done.admission.excluded.map((e) => `${e.participant} ${e.code}`).sort()).toEqual(['c IMPLAUSIBLE_STATISTICS', 'd UNDECLARED_CLASS', 'e IMPLAUSIBLE_SAMPLES']);
    for (const round of await store.listRounds(job.id)) expect(round.selected).toEqual(['a', 'b']);
    const recorded = (await toArray(store.auditRecords())).map(({ text }) => JSON.parse(text)).filter((r) => r.kind === 'statistics.excluded');
    expect(recorded.map((r) => `${r.data.participant} ${r.data.code}`).sort()).toEqual(['c IMPLAUSIBLE_STATISTICS', 'd UNDECLARED_CLASS', 'e IMPLAUSIBLE_SAMPLES']);
    expect((await verifyStore(store)).failure).toBeUndefined();
    await store.close();
  });

  it('asks a site that missed the statistics phase for its statistics before its first request, and holds its claims to the rows it reported', async () => {
    // Prepare: a and b start the job; after round 1, c (honest), d (claims 1e9 samples, within the job's limit) and e (sums of 1e300) connect
    const { store, channel, engine, logged } = await setup(['a', 'b', 'c', 'd', 'e']);
    channel.faults.set('d', 'inflate');
    channel.statistics.set('e', IMPLAUSIBLE_SUMS);
    connectAfterRound1(channel, engine, ['c', 'd', 'e']);
    // Execute
    const job = await engine.createJob({ ...spec, rounds: 3, maxRowsPerParticipant: 1e10 }, 'user:test');
    await engine.whenFinished(job.id);
    // Assert: from round 2, c contributes; d's claims are held to the 4 rows it reported; e is left out of the job at once
    const rounds = await store.listRounds(job.id);
    expect(rounds.map((r) => r.selected)).toEqual([['a', 'b'], ['a', 'b', 'c', 'd', 'e'], ['a', 'b', 'c', 'd']]);
    expect(rounds.map((r) => r.contributors.map((c) => c.participant).sort())).toEqual([['a', 'b'], ['a', 'b', 'c'], ['a', 'b', 'c']]);
    const failures = (round: (typeof rounds)[number]) => [...round.failures].sort((x, y) => x.participant.localeCompare(y.participant));
    expect(failures(rounds[1])).toEqual([
      { participant: 'd', reason: expect.stringMatching(/numSamples 1000000000 is not between 1 and 4,/), code: 'IMPLAUSIBLE_SAMPLES' },
      { participant: 'e', reason: expect.stringMatching(/feature x/), code: 'IMPLAUSIBLE_STATISTICS' },
    ]);
    expect(failures(rounds[2])).toEqual([{ participant: 'd', reason: expect.stringMatching(/not between 1 and 4,/), code: 'IMPLAUSIBLE_SAMPLES' }]);
    const done = (await store.getJob(job.id))!;
    expect(done.admission.reportedRows).toEqual({ a: 4, b: 4, c: 4, d: 4 });
    expect(done.admission.excluded).toEqual([{ participant: 'e', code: 'IMPLAUSIBLE_STATISTICS', reason: expect.stringMatching(/feature x/) }]);
    // the job's preprocessing is the statistics phase's alone
    expect(done.preprocessing).toMatchObject({ rows: 8, features: [{ mean: 1, std: 1 }] });
    const recorded = (await audited(store)).filter((r) => r.kind === 'statistics.excluded');
    expect(recorded.map((r) => `${r.data.participant} ${(r.data as { code?: string }).code}`)).toEqual(['e IMPLAUSIBLE_STATISTICS']);
    expect(logged).toContainEqual(expect.objectContaining({ level: 'info', participant: 'c', message: expect.stringMatching(/admitted c after the statistics phase, with 4 rows/) }));
    await expectVerified(store, 3);
    await store.close();
  });

  it('stores a site admitted or left out in the last round with the job', async () => {
    // Prepare: c (honest) and e (sums of 1e300) connect after round 1 of two
    const { store, channel, engine } = await setup(['a', 'b', 'c', 'e']);
    channel.statistics.set('e', IMPLAUSIBLE_SUMS);
    connectAfterRound1(channel, engine, ['c', 'e']);
    // Execute
    const job = await engine.createJob({ ...spec, rounds: 2 }, 'user:test');
    await engine.whenFinished(job.id);
    // Assert: what the job's view shows agrees with the audit log's statistics.excluded record
    const done = (await store.getJob(job.id))!;
    expect(done.admission).toEqual({ reportedRows: { a: 4, b: 4, c: 4 }, excluded: [{ participant: 'e', code: 'IMPLAUSIBLE_STATISTICS', reason: expect.any(String) }] });
    expect((await audited(store)).filter((r) => r.kind === 'statistics.excluded').map((r) => r.data.participant)).toEqual(['e']);
    await store.close();
  });

  it('keeps who was left out of a job, and the rows each site reported, across a restart', async () => {
    // Prepare: c's statistics are implausible; d claims 1e9 samples in its updates; the coordinator stops in round 1
    const { store, channel, engine, restart } = await setup(['a', 'b', 'c', 'd']);
    channel.statistics.set('c', (s) => ({ ...s, rows: 5 }));
    channel.faults.set('d', 'inflate');
    channel.answerTraining = false;
    const job = await engine.createJob(spec, 'user:test');
    await until(() => channel.held.length === 3);
    await engine.shutdown();
    await engine.whenFinished(job.id);
    // Execute: a new engine on the same store resumes the job
    const again = restart();
    channel.answerTraining = true;
    await again.resume();
    await again.whenFinished(job.id);
    // Assert: c stays out of every round; d's claim is still held to the 4 rows it reported; the log says the job was taken up again after round 0
    expect(await store.getJob(job.id)).toMatchObject({ status: 'completed', round: 3 });
    const resumed = (await toArray(store.auditRecords())).map(({ text }) => JSON.parse(text) as { kind: string; data: unknown }).filter((r) => r.kind === 'job.resumed');
    expect(resumed.map((r) => r.data)).toEqual([{ job: job.id, round: 0 }]);
    for (const round of await store.listRounds(job.id)) {
      expect(round.selected).toEqual(['a', 'b', 'd']);
      expect(round.failures).toEqual([{ participant: 'd', reason: expect.stringMatching(/not between 1 and 4,/), code: 'IMPLAUSIBLE_SAMPLES' }]);
    }
    await store.close();
  });

  it('leaves a site that reports its privacy budget spent out of the rest of the job, as stored: across a restart, and in the audit log', async () => {
    // Prepare: c reports its budget spent from round 2; the coordinator stops in round 3
    const { store, channel, engine, restart } = await setup(['a', 'b', 'c', 'd']);
    channel.spentFrom.set('c', 2);
    const job = await engine.createJob({ ...spec, minParticipants: 3, dp: centralDp, strategy: { name: 'fedavg', weighting: 'uniform' } }, 'user:test');
    engine.events.on('job', (event) => {
      if (event.type === 'round' && event.round.round === 2) channel.answerTraining = false;
    });
    await until(() => channel.held.length === 3);
    await engine.shutdown();
    await engine.whenFinished(job.id);
    // Execute: a new engine on the same store resumes the job
    const again = restart();
    channel.answerTraining = true;
    await again.resume();
    await again.whenFinished(job.id);
    // Assert: round 2 went on without c, which was asked nothing more, before the restart or after
    expect(await store.getJob(job.id)).toMatchObject({ status: 'completed', round: 3 });
    const rounds = await store.listRounds(job.id);
    expect(rounds.map((r) => r.selected)).toEqual([['a', 'b', 'c', 'd'], ['a', 'b', 'c', 'd'], ['a', 'b', 'd']]);
    expect(rounds[1].failures).toEqual([{ participant: 'c', code: 'PRIVACY_BUDGET_SPENT', reason: expect.stringMatching(/^failed: the site has sent as many noised inputs .* \(inputs 1\)$/) }]);
    expect(channel.asked.filter((asked) => asked.startsWith('c '))).toEqual(['c round 1', 'c round 2']);
    const done = (await store.getJob(job.id))!;
    expect(done.admission.excluded).toEqual([{ participant: 'c', code: 'PRIVACY_BUDGET_SPENT', reason: rounds[1].failures[0].reason }]);
    const recorded = (await audited(store)).filter((r) => r.kind === 'statistics.excluded');
    expect(recorded.map((r) => `${r.data.participant} ${(r.data as { code?: string }).code}`)).toEqual(['c PRIVACY_BUDGET_SPENT']);
    await expectVerified(store, 3);
    await store.close();
  });

  it('stops a job whose sites that spent their privacy budget leave fewer than its minimum able to take part, keeping its committed rounds, without asking again', async () => {
    // Prepare: c and d report their budget spent from round 2, leaving two sites of the three a round needs
    const { store, channel, engine, logged } = await setup(['a', 'b', 'c', 'd']);
    channel.spentFrom.set('c', 2);
    channel.spentFrom.set('d', 2);
    // Execute
    const job = await engine.createJob({ ...spec, minParticipants: 3, dp: centralDp, strategy: { name: 'fedavg', weighting: 'uniform' } }, 'user:test');
    await until(async () => ['stopped', 'paused', 'failed', 'completed'].includes((await store.getJob(job.id))!.status));
    // Assert: stopped after round 1, saying why; round 2 was asked once; the model of round 1 is the job's
    const done = (await store.getJob(job.id))!;
    expect(done).toMatchObject({ status: 'stopped', round: 1 });
    expect(done.error).toBe('privacy budget: 2 sites have spent the ε they accepted for the job (PRIVACY_BUDGET_SPENT), leaving 2 that may take part, below the minimum of 3');
    await engine.whenFinished(job.id);
    expect(channel.asked.filter((asked) => asked.endsWith(' round 2'))).toHaveLength(4);
    expect((await store.getModel(job.id))!.round).toBe(1);
    expect(done.admission.excluded.map((e) => `${e.participant} ${e.code}`)).toEqual(['c PRIVACY_BUDGET_SPENT', 'd PRIVACY_BUDGET_SPENT']);
    expect(logged).toContainEqual(expect.objectContaining({ level: 'info', message: `job ${job.id} stopped after round 1: ${done.error}` }));
    await expectVerified(store, 1);
    await store.close();
  });

  it('stops, rather than waits, when a restart finds too few sites able to take part once those that spent their privacy budget are left out', async () => {
    // Prepare: c reports its budget spent in round 2, which a and b commit; the coordinator stops in round 3
    const { store, channel, engine, restart, revoke } = await setup(['a', 'b', 'c']);
    channel.spentFrom.set('c', 2);
    const job = await engine.createJob({ ...spec, dp: centralDp, strategy: { name: 'fedavg', weighting: 'uniform' } }, 'user:test');
    engine.events.on('job', (event) => {
      if (event.type === 'round' && event.round.round === 2) channel.answerTraining = false;
    });
    await until(() => channel.held.length === 2);
    await engine.shutdown();
    await engine.whenFinished(job.id);
    // Execute: while it is down b is revoked and c goes offline; a new engine resumes the job
    await revoke('b', 'left the consortium');
    channel.connected.delete('c');
    const again = restart();
    await again.resume();
    await until(async () => ['waiting', 'stopped'].includes((await store.getJob(job.id))!.status));
    // Assert: a alone may take part, below the minimum of 2: the job stops after round 2 instead of waiting for ever
    expect(await store.getJob(job.id)).toMatchObject({
      status: 'stopped',
      round: 2,
      error: 'privacy budget: 1 site has spent the ε it accepted for the job (PRIVACY_BUDGET_SPENT), leaving 1 that may take part, below the minimum of 2',
    });
    await again.whenFinished(job.id);
    await store.close();
  });

  it('takes PRIVACY_BUDGET_SPENT in a job without dp, where no budget is spent, as any failure: the site is asked again, and the job is not stopped', async () => {
    // Prepare: c reports its budget spent from round 2 in a job that spends none
    const { store, channel, engine } = await setup(['a', 'b', 'c']);
    channel.spentFrom.set('c', 2);
    // Execute
    const job = await engine.createJob({ ...spec, minParticipants: 3 }, 'user:test');
    await until(async () => ['stopped', 'paused', 'failed', 'completed'].includes((await store.getJob(job.id))!.status));
    // Assert: paused after its attempts, as for any site that does not answer, c not left out of the job
    const done = (await store.getJob(job.id))!;
    expect(done).toMatchObject({ status: 'paused', round: 1 });
    expect(done.admission.excluded).toEqual([]);
    expect(channel.asked.filter((asked) => asked === 'c round 2').length).toBeGreaterThan(1);
    await engine.control(job.id, 'stop', 'user:test');
    await engine.whenFinished(job.id);
    await store.close();
  });

  it('runs a job on the replica that leads it only; another takes it over from its last committed round when the leader is deposed', async () => {
    // Prepare: two engines on one store contend for every job; the first creates one and leads it
    const contest = new Contest();
    const { store, channel, restart } = await setup(['a', 'b']);
    const first = restart(contest.election('first'));
    const second = restart(contest.election('second'));
    channel.engine = first;
    channel.answerTraining = false;
    const job = await first.createJob(spec, 'user:test');
    await until(() => channel.held.length === 2);
    await second.resume();
    await until(() => contest.refused.length === 1);
    expect(contest.refused).toEqual([`second ${job.id}`]);
    expect([first.led, second.led]).toEqual([1, 0]);
    await channel.release();
    await until(async () => (await store.getJob(job.id))!.round === 1 && channel.held.length === 2);
    // Execute: the first is deposed in round 2, before it could commit it; the second asks again and takes the job
    contest.depose('first');
    await first.whenFinished(job.id);
    channel.held = [];
    channel.engine = second;
    channel.answerTraining = true;
    await second.resume();
    await until(() => second.led === 1);
    await second.whenFinished(job.id);
    // Assert: every round committed once, round 2 by the second leader, at the next epoch
    expect(first.led).toBe(0);
    expect(contest.epoch(job.id)).toBe(2);
    expect(await store.getJob(job.id)).toMatchObject({ status: 'completed', round: 3 });
    expect((await store.listRounds(job.id)).map((r) => r.round)).toEqual([1, 2, 3]);
    // The log says the job was taken up again after round 1 (the first attempt of round 2, and what it acknowledged, abandoned): once, by the second
    const records = (await toArray(store.auditRecords())).map(({ text }) => JSON.parse(text) as { kind: string; data: unknown });
    expect(records.filter((r) => r.kind === 'job.resumed').map((r) => r.data)).toEqual([{ job: job.id, round: 1 }]);
    expect((await verifyStore(store)).failure).toBeUndefined();
    await store.close();
  });

  it('asks nothing more once deposed while a round gets ready: no request of it goes out', async () => {
    // Prepare: the leader learns it lost the job while its run reads the log's head for round 2's request
    // (a replica waking from a freeze: its own check of the database's silence fires before the read returns)
    const contest = new Contest();
    const { store, channel, restart } = await setup(['a', 'b']);
    const first = restart(contest.election('first'));
    channel.engine = first;
    let committed = false;
    first.events.on('job', (event) => void (event.type === 'round' && (committed = true)));
    const auditHead = store.auditHead.bind(store);
    jest.spyOn(store, 'auditHead').mockImplementation(async () => {
      if (committed) contest.depose('first');
      return auditHead();
    });
    // Execute
    const job = await first.createJob(spec, 'user:test');
    await until(() => first.led === 1);
    await first.whenFinished(job.id);
    // Assert: round 1 committed; of round 2 nothing was asked, so nothing can be acknowledged that no model will hold
    expect(await store.getJob(job.id)).toMatchObject({ round: 1, status: 'training' });
    expect(channel.asked.sort()).toEqual(['a round 1', 'b round 1']);
    await store.close();
  });

  it.each(['stop', 'pause'] as const)('asks nothing of a round while an admin asked to %s the job, even asked while the round got ready', async (action) => {
    // Prepare: the admin's action lands while the run reads the log's head for round 2's request
    const { store, channel, engine } = await setup(['a', 'b']);
    let committed = false;
    let controlled: Promise<unknown> | undefined;
    engine.events.on('job', (event) => void (event.type === 'round' && (committed = true)));
    const auditHead = store.auditHead.bind(store);
    let id = '';
    jest.spyOn(store, 'auditHead').mockImplementation(async () => {
      if (committed && !controlled) await (controlled = engine.control(id, action, 'user:test'));
      return auditHead();
    });
    // Execute
    const job = await engine.createJob(spec, 'user:test');
    id = job.id;
    await until(() => controlled !== undefined);
    await controlled;
    await until(async () => (await store.getJob(id))!.status === (action === 'stop' ? 'stopped' : 'paused'));
    // Assert: nothing of round 2 was asked (the old code asked it, and took the answers, of a job stopped or paused)
    expect(channel.asked.sort()).toEqual(['a round 1', 'b round 1']);
    if (action === 'pause') {
      // resumed, the job asks round 2 once and completes
      await engine.control(id, 'resume', 'user:test');
      await engine.whenFinished(id);
      expect(await store.getJob(id)).toMatchObject({ status: 'completed', round: 3 });
      expect(channel.asked.filter((a) => a.endsWith('round 2')).sort()).toEqual(['a round 2', 'b round 2']);
    }
    await store.close();
  });

  it('leaves out a site reporting a class the job did not declare', async () => {
    const { store, channel, engine } = await setup(['a', 'b', 'c']);
    channel.statistics.set('c', (s) => ({ ...s, target: { type: 'categorical', counts: [['no', 2], ['yes', 1], ['perhaps', 1]] } }));
    const job = await engine.createJob({ ...spec, model: 'softmax', classes: ['yes', 'no', 'unseen'] }, 'user:test');
    await engine.whenFinished(job.id);
    const done = (await store.getJob(job.id))!;
    expect(done.status).toBe('completed');
    expect(done.admission.excluded).toEqual([{ participant: 'c', code: 'UNDECLARED_CLASS', reason: expect.any(String) }]);
    // the declared classes are the model's outputs, the one no site holds included
    expect(done.preprocessing!.target).toEqual({ type: 'classes', classes: ['no', 'unseen', 'yes'] });
    await store.close();
  });
});

describe('the round engine of replicas on PostgreSQL', () => {
  const ADMIN_URL = process.env.FL_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const admin = new Client({ connectionString: ADMIN_URL });
  const databases: string[] = [];
  const elections: PgLeaderElection[] = [];

  /** A database made for one test (each registers its participants), dropped after all. */
  const database = async (): Promise<string> => {
    const name = `fl_engine_${randomBytes(6).toString('hex')}`;
    await admin.query(`CREATE DATABASE ${name}`);
    databases.push(name);
    const u = new URL(ADMIN_URL);
    u.pathname = `/${name}`;
    return u.toString();
  };
  const electionOn = (url: string, replica: string) => {
    const made = new PgLeaderElection({ connection: url, replica });
    elections.push(made);
    return made;
  };

  beforeAll(() => admin.connect());

  afterAll(async () => {
    await Promise.all(elections.map((e) => e.close()));
    for (const name of databases) await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  });

  it('stops a leader deposed without knowing it quietly at its next write: nothing of it committed, the job not failed; the new leader finishes the job', async () => {
    // Prepare: the first replica leads the job and commits round 1; round 2's updates are held
    const url = await database();
    const { store, channel, restart, logged } = await setup(['a', 'b'], 3, { maxModelBytes: 1 << 20 }, systemClock, () => PostgresStore.open(url));
    const election = (replica: string) => electionOn(url, replica);
    const first = restart(election('first'));
    channel.engine = first;
    channel.answerTraining = false;
    const job = await first.createJob(spec, 'user:test');
    await until(() => channel.held.length === 2);
    await channel.release();
    await until(async () => (await store.getJob(job.id))!.round === 1 && channel.held.length === 2);
    const audited = (await toArray(store.auditRecords())).length;
    // Execute: another replica takes the job (its epoch goes up) while the first, frozen, still holds its lock and
    // knows nothing; then the first wakes up, receives round 2's updates and tries to commit
    const db = new Client({ connectionString: url });
    await db.connect();
    await db.query(`UPDATE job_leadership SET epoch = epoch + 1, leader = 'elsewhere' WHERE job = $1`, [job.id]);
    await channel.release();
    await first.whenFinished(job.id);
    // Assert: round 2 is not committed, nothing was written, the job is not marked failed, and the first said why
    expect(first.led).toBe(0);
    expect(await store.getJob(job.id)).toMatchObject({ status: 'training', round: 1, error: null });
    expect((await store.listRounds(job.id)).map((r) => r.round)).toEqual([1]);
    expect((await toArray(store.auditRecords())).length).toBe(audited);
    expect(logged.filter((l) => l.level === 'error')).toEqual([]);
    expect(logged).toContainEqual(expect.objectContaining({ level: 'warn', job: job.id, message: expect.stringMatching(/leadership of epoch 1 was lost \(epoch now 2\)/) }));
    // Execute: the second replica takes the job, at the next epoch, from its last committed round
    channel.held = [];
    channel.answerTraining = true;
    const second = restart(election('second'));
    channel.engine = second;
    await second.resume();
    await until(() => second.led === 1);
    await second.whenFinished(job.id);
    // Assert: every round committed once, the log verifies
    const { rows } = await db.query<{ epoch: number }>('SELECT epoch::int AS epoch FROM job_leadership WHERE job = $1', [job.id]);
    await db.end();
    expect(rows).toEqual([{ epoch: 3 }]);
    expect(await store.getJob(job.id)).toMatchObject({ status: 'completed', round: 3 });
    expect((await store.listRounds(job.id)).map((r) => r.round)).toEqual([1, 2, 3]);
    await expectVerified(store, 3);
    await store.close();
  });

  it("writes nothing a job deposed without knowing it had deferred: another job's round commits without it, and a record of no job drops it", async () => {
    // Prepare: one replica runs two jobs; round 1 of job A has accepted a's and b's updates (deferred) and waits for c's
    const url = await database();
    const { store, channel, restart, audit } = await setup(['a', 'b', 'c'], 3, { maxModelBytes: 1 << 20 }, systemClock, () => PostgresStore.open(url));
    const first = restart(electionOn(url, 'first'));
    channel.answerTraining = false;
    const a = await first.createJob(spec, 'user:test');
    const b = await first.createJob(spec, 'user:test');
    await until(() => channel.held.length === 6);
    await channel.release((held) => held.job === a.id && held.participant !== 'c');
    expect(channel.accepted).toEqual(['a round 1', 'b round 1']);
    // Execute: another replica takes job A, and this one does not know; job B's round 1 commits here
    const db = new Client({ connectionString: url });
    await db.connect();
    await db.query(`UPDATE job_leadership SET epoch = epoch + 1, leader = 'elsewhere' WHERE job = $1`, [a.id]);
    await channel.release((held) => held.job === b.id);
    await until(async () => (await store.getJob(b.id))!.round === 1);
    // Assert: B's commit wrote its own updates only
    expect(await acceptedIn(store, a.id)).toEqual([]);
    expect((await acceptedIn(store, b.id)).sort()).toEqual(['a', 'b', 'c']);
    // Execute: a record of no job, which goes after every job's deferred records
    await audit.append('user.added', 'user:test', { name: 'ada', role: 'admin' });
    expect(await acceptedIn(store, a.id)).toEqual([]);
    // Execute: A's round closes here and its commit is refused; B goes on to its end
    channel.answerTraining = true;
    await channel.release();
    await Promise.all([first.whenFinished(a.id), first.whenFinished(b.id)]);
    await db.end();
    // Assert: nothing of A's round 1 in the store or the log, B completed, the log verifies
    expect(await store.getJob(a.id)).toMatchObject({ status: 'training', round: 0 });
    expect(await acceptedIn(store, a.id)).toEqual([]);
    expect(await store.getJob(b.id)).toMatchObject({ status: 'completed', round: 3 });
    await expectVerified(store, 3);
    await store.close();
  });

  /** Where an admin's revocation lands: on a replica that does not lead the job, or on the leader itself. */
  const WHERE = [['another replica', 'elsewhere'], ['the leader', 'here']] as const;

  /** Round 1 of a job of a, b and c on PostgreSQL: c's update accepted first, then an admin revokes c `where`, then a and b reply. */
  async function revokedMidRound(where: 'elsewhere' | 'here', retention: UpdateRetention, jobSpec: Record<string, unknown> = spec) {
    const url = await database();
    const { store, channel, restart, identity, logged, revoke } = await setup(['a', 'b', 'c'], 3, retention, systemClock, () => PostgresStore.open(url));
    const leader = restart(electionOn(url, 'leader'));
    const statusReads = jest.spyOn(store, 'unapprovedParticipants');
    channel.answerTraining = false;
    const job = await leader.createJob(jobSpec, 'user:test');
    await until(() => channel.held.length === 3);
    await channel.release((held) => held.participant === 'c');
    expect(channel.accepted).toEqual(['c round 1']);
    if (where === 'here') await revoke('c', 'left the consortium');
    else {
      // As another replica's registry revokes c, on the same database.
      const other = await PostgresStore.open(url);
      const otherAudit = await AuditLog.open(other, identity);
      await other.transaction(async () => {
        await otherAudit.append('participant.revoked', 'user:test', { name: 'c', reason: 'left the consortium' });
        await other.setParticipantStatus('c', 'revoked', 'user:test', Date.now());
      });
      await other.close();
    }
    channel.answerTraining = true;
    await channel.release((held) => held.participant !== 'c');
    await leader.whenFinished(job.id);
    return { store, channel, job, logged, statusReads };
  }

  it.each(WHERE)("commits a round with the others' updates, asked once, when %s revoked a participant while its accepted update waited to be recorded; the log verifies", async (_, where) => {
    // Prepare, Execute: c's update accepted, c revoked, then a and b reply and round 1 closes
    const { store, channel, job, logged, statusReads } = await revokedMidRound(where, { maxModelBytes: 1 << 20 });
    // Assert: round 1 is a's and b's first updates, c left out with its code; nobody was asked round 1 twice
    expect(await store.getJob(job.id)).toMatchObject({ status: 'completed', round: 3 });
    const rounds = await store.listRounds(job.id);
    expect(rounds.map((r) => r.contributors.map((c) => c.participant).sort())).toEqual([['a', 'b'], ['a', 'b'], ['a', 'b']]);
    expect(rounds[0]).toMatchObject({ attempts: 1, failures: [expect.objectContaining({ participant: 'c', code: 'REVOKED' })] });
    expect(channel.asked.filter((a) => a.endsWith('round 1')).sort()).toEqual(['a round 1', 'b round 1', 'c round 1']);
    expect(channel.accepted.filter((a) => a.endsWith('round 1')).sort()).toEqual(['a round 1', 'b round 1', 'c round 1']);
    // Assert: c's update is recorded nowhere, a's and b's once each for round 1; the run said why; the log verifies, recomputing every round
    expect(await acceptedIn(store, job.id)).not.toContain('c');
    expect(await acceptedIn(store, job.id)).toHaveLength(6);
    expect(logged).toContainEqual(expect.objectContaining({ level: 'warn', job: job.id, message: expect.stringMatching(/REVOKED c revoked while the round's records waited: their updates are left out/) }));
    await expectVerified(store, 3);
    // Assert: the refused commit read all of its contributors' statuses at once; the others' records, then each round, read theirs (a revocation here, c's first)
    const reads = statusReads.mock.calls.map(([names]) => [...names].sort()).filter((names) => names.length > 0);
    expect(reads).toEqual([...(where === 'here' ? [['c']] : []), ['a', 'b', 'c'], ['a', 'b'], ['a', 'b'], ['a', 'b']]);
    await store.close();
  });

  it.each(WHERE)("folds a central differential privacy round again without the update of a participant revoked on %s, its noise from the seed its commit names; the log verifies", async (_, where) => {
    const dp = { noiseMultiplier: 1, clipNorm: 1, delta: 1e-5 };
    const { store, job } = await revokedMidRound(where, { maxModelBytes: 1 << 20 }, { ...spec, strategy: { name: 'fedavg', weighting: 'uniform' }, dp });
    const rounds = await store.listRounds(job.id);
    expect(rounds.map((r) => r.contributors.map((c) => c.participant).sort())).toEqual([['a', 'b'], ['a', 'b'], ['a', 'b']]);
    expect(rounds[0]).toMatchObject({ attempts: 1, failures: [expect.objectContaining({ participant: 'c', code: 'REVOKED' })] });
    await expectVerified(store, 3);
    await store.close();
  });

  it.each(WHERE)("records the others' updates and starts the round again when a participant is revoked on %s and they were not retained (nothing to fold them again from); the log verifies", async (_, where) => {
    // Prepare, Execute: as above, the updates not retained
    const { store, channel, job } = await revokedMidRound(where, { rounds: 0, maxModelBytes: 1 << 20 });
    // Assert: round 1 committed without c, from a's and b's second updates; their first, acknowledged, are in the log too
    expect(await store.getJob(job.id)).toMatchObject({ status: 'completed', round: 3 });
    const rounds = await store.listRounds(job.id);
    expect(rounds.map((r) => r.contributors.map((c) => c.participant).sort())).toEqual([['a', 'b'], ['a', 'b'], ['a', 'b']]);
    expect(channel.asked.filter((a) => a.endsWith('round 1')).sort()).toEqual(['a round 1', 'a round 1', 'b round 1', 'b round 1', 'c round 1']);
    const firstAttempt = (await audited(store)).filter(({ kind, data }) => kind === 'update.accepted' && data.round === 1).map(({ data }) => data.participant);
    expect(firstAttempt.sort()).toEqual(['a', 'a', 'b', 'b']);
    const report = await verifyStore(store);
    expect(report.failure).toBeUndefined();
    await store.close();
  });

  it("asks a SCAFFOLD round again, on the replica that takes the job over, with the corrections first sent, though a replica whose clock lags revoked a site during it; the log verifies", async () => {
    // Prepare: the first replica leads a SCAFFOLD job; round 1 commits every site's control variate, c's unlike the others';
    // round 2 waits for its updates
    const url = await database();
    const { store, channel, restart, identity } = await setup(['a', 'b', 'c'], 3, { maxModelBytes: 1 << 20 }, systemClock, () => PostgresStore.open(url));
    const first = restart(electionOn(url, 'first'));
    channel.engine = first;
    channel.steps.set('c', 3);
    channel.answerTraining = false;
    const job = await first.createJob({ ...spec, strategy: { name: 'scaffold' } }, 'user:test');
    await until(() => channel.held.length === 3);
    await channel.release();
    await until(() => channel.held.length === 3);
    const sent = ['a', 'b'].map((p) => channel.corrections.get(`${p} round 2`));
    // Execute: another replica, its clock a minute behind the leader's, revokes c, whose connection closes
    const other = await PostgresStore.open(url);
    const otherAudit = await AuditLog.open(other, identity);
    const lagging = Date.now() - 60_000;
    await other.transaction(async () => {
      await otherAudit.append('participant.revoked', 'user:test', { name: 'c', reason: 'dishonest' }, lagging);
      await other.setParticipantStatus('c', 'revoked', 'user:test', lagging);
    });
    await other.close();
    channel.connected.delete('c');
    first.participantOffline('c');
    // Execute: the leader stops before round 2 commits; the second replica takes the job, a and b answering
    await first.shutdown();
    await first.whenFinished(job.id);
    channel.held = [];
    channel.answerTraining = true;
    const second = restart(electionOn(url, 'second'));
    channel.engine = second;
    await second.resume();
    await until(() => second.led === 1);
    await second.whenFinished(job.id);
    // Assert: round 2 was asked again with the corrections first sent; c's control variate went from round 3 on; the log verifies
    expect(channel.asked.filter((a) => a.endsWith('round 2')).sort()).toEqual(['a round 2', 'a round 2', 'b round 2', 'b round 2', 'c round 2']);
    expect(['a', 'b'].map((p) => channel.corrections.get(`${p} round 2`))).toEqual(sent);
    expect(await store.getJob(job.id)).toMatchObject({ status: 'completed', round: 3 });
    const committed = (await audited(store)).filter((r) => r.kind === 'model.committed').map((r) => (r.data as { revoked?: string[] }).revoked);
    expect(committed).toEqual([undefined, undefined, ['c']]);
    await expectVerified(store, 3);
    await store.close();
  });
});
