/**
 * One simulation on one CSV file: hold out a stratified test split, partition
 * the training rows among K parties, run a real coordinator and K real agents
 * over Socket.IO on loopback (production's code paths: handshake, statistics
 * phase, signed rounds, the job's strategy, secure aggregation and differential
 * privacy when asked, SQLite), score each round's global model on the
 * held-out rows, then train the same model centrally on the pooled training rows
 * as the baseline a user compares against.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { combineStatistics, type JobEvent, type RoundRecord, type RunningCoordinator } from '@fl/coordinator';
import {
  initialParameters,
  kmeansPlusPlus,
  lloyd,
  parameterCount,
  type ModelShape,
  type ModelView,
  JobSpecSchema,
  seededRandom,
  type Ack,
  type JobSpec,
  modelShapeOf,
  type ModelKind,
  type Preprocessing,
  DEFAULT_STRATEGY,
  type StrategySpec,
  epsilonAfter,
  type DpSpec,
  type SecureAggregationSpec,
} from '@fl/shared';
import {
  computeStatistics,
  isMissing,
  prepare,
  toLocalTable,
  trainingSeed,
  trainLocal,
  type CsvRow,
  type LocalTable,
  type ParticipantAgent,
  type PreparedData,
} from '@fl/participant-agent';
import { AdminApi, eventually, registerParticipant, startAgent, tempDir, testCoordinator, writeCsv } from '../harness';
import { arm, flipLabels, formatAttack, type Attack } from './attack';
import { countAttempts, type Attempts } from './attempts';
import { dropOut } from './dropout';
import { UpdateOrder } from './order';
import { checkTarget, columnIndex, declaredDomain, inferFeatures, inferModel, inferType, presentValues, readCsvFile, UsageError } from './dataset';
import { testMetrics } from './evaluate';
import {
  columnPartition,
  dirichletLabelPartition,
  formatPartition,
  iidPartition,
  quantileStrata,
  quantityPartition,
  stratifiedSplit,
  byCodeUnits,
  type PartitionSpec,
} from './partition';
import { SimConfigSchema, type PartyResult, type RoundResult, type SimConfig, type SimReport, type TestMetrics } from './report';

export interface SimOptions {
  /** the CSV file */
  data: string;
  /** the column to predict; kmeans: optional, and left out of the features */
  target?: string;
  /** default: inferred from the target's values */
  model?: ModelKind;
  /** kmeans: the number of clusters */
  k?: number;
  /** logistic: the class predicted as 1; default the second in code-unit order, as for any job */
  positiveClass?: string;
  /** columns to treat as numbers or as categories, overriding inference */
  numeric?: string[];
  categorical?: string[];
  /** default 3; for a column partition, the number of values (and it must agree when given) */
  parties?: number;
  partition?: PartitionSpec;
  /** default FedAvg weighted by sample count */
  strategy?: StrategySpec;
  rounds?: number;
  localEpochs?: number;
  batchSize?: number;
  learningRate?: number;
  l2?: number;
  testFraction?: number;
  seed?: number;
  /** what the first `attackers` parties do in every round; none by default */
  attack?: Attack;
  /** default 1 when an attack is given */
  attackers?: number;
  /** SecAgg+ for the job, with these options (the job spec's defaults for those left out) */
  secureAggregation?: Partial<SecureAggregationSpec>;
  /** in each round, each party drops with this probability at a random stage of the round */
  dropRate?: number;
  /** differential privacy for the job */
  dp?: DpSpec;
  /** the coordinator's store goes here and stays, for `fl-coordinator audit verify --data-dir`; a new or empty directory */
  dataDir?: string;
}

/**
 * Settings under which FedAvg tracks centralized training on the bundled data
 * sets: one local epoch per round keeps label-skewed parties from drifting far
 * apart between averagings, and lr 0.1 with batches of 16 converges within 30
 * rounds. Over seeds 1 to 12 and 42 they kept the four cases of the accuracy
 * tests within their thresholds in 51 of 52 runs, more than the other settings tried
 * (lr 0.02 to 0.1, batches of 16 and 32, one or two local epochs).
 */
export const DEFAULTS = {
  parties: 3,
  partition: { kind: 'iid' } as PartitionSpec,
  strategy: DEFAULT_STRATEGY,
  rounds: 30,
  localEpochs: 1,
  batchSize: 16,
  learningRate: 0.1,
  l2: 0,
  testFraction: 0.2,
  seed: 42,
};

/** Targets of regression are stratified, and label-skewed, by these many quantile bins. */
const TARGET_BINS = 10;

/**
 * Generous, since the agents share one thread; a party that fails is reported at
 * once, and one that stays silent fails its round here rather than holding it forever.
 */
const ROUND_DEADLINE_SECONDS = 120;
/** An agent that has not been welcomed by then will not be: on loopback a handshake takes milliseconds. */
const CONNECT_TIMEOUT_MS = 30_000;

/**
 * Agent log lines that mean it will not take part as asked: an exception in its
 * work, or an instruction it ignored or a coordinator it refused. In a simulation
 * these are defects, and waiting for the round's deadline would only hide them.
 */
const AGENT_FAILURE = /^error: |ignored|refusing the coordinator/;

/** With dropouts a round may need several attempts: each draws its drops afresh, so the job goes on rather than pausing. */
const MAX_ROUND_ATTEMPTS_WITH_DROPOUTS = 50;
/**
 * How long the coordinator waits for a party that dropped out before it selects the next attempt's parties:
 * on loopback one is back within milliseconds, and one that is not back by then fails the run (checkAsked).
 */
const RECONNECT_WAIT_SECONDS = CONNECT_TIMEOUT_MS / 1000;

interface PlannedParty {
  name: string;
  rows: CsvRow[];
  value?: string | null;
}

/** Everything decided before any server starts: settings, the splits, the parties. */
export interface SimPlan {
  config: SimConfig;
  spec: JobSpec;
  attack?: Attack;
  /** the target's classes, sorted; empty for a numeric target */
  classes: string[];
  header: string[];
  train: CsvRow[];
  test: CsvRow[];
  parties: PlannedParty[];
  data: SimReport['data'];
  partition: PartyResult[];
}

export interface SimHooks {
  /** every line the agents and the coordinator log, for --verbose; without it only failures are reported */
  log?: (line: string) => void;
  /** after each federated round has been scored */
  onRound?: (round: RoundResult, rounds: number) => void;
  /** once the centralized baseline is trained, for this many epochs */
  onCentralized?: (test: TestMetrics, epochs: number) => void;
  /** the federated job's final global model, once the job is done */
  onModel?: (model: FinalModel) => void;
}

/** The final global model, with what is needed to use it: the API's JSON view of it too. */
export interface FinalModel {
  round: number;
  shape: ModelShape;
  weights: Float32Array;
  preprocessing: Preprocessing;
  view: ModelView;
}

function checkedConfig(config: SimConfig): SimConfig {
  const result = SimConfigSchema.safeParse(config);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  throw new UsageError(`${issue.path.join('.')}: ${issue.message}`);
}

/** Reads the file and makes every decision of the run; throws UsageError for a request that cannot be met. */
export function planSimulation(options: SimOptions): SimPlan {
  const { data: file, target } = options;
  if (target === undefined && options.model !== 'kmeans') throw new UsageError('--target is required but for --model kmeans');
  const table = readCsvFile(file);
  const targetAt = target === undefined ? -1 : columnIndex(table, target, file, '--target');
  const partitionSpec = options.partition ?? DEFAULTS.partition;
  const partitionAt = partitionSpec.kind === 'column' ? columnIndex(table, partitionSpec.column, file, '--partition') : -1;

  const targetValues = targetAt >= 0 ? presentValues(table, targetAt) : [];
  const model = options.model ?? inferModel(targetValues, target!);
  if ((model === 'kmeans') !== (options.k !== undefined)) throw new UsageError(options.k === undefined ? '--model kmeans needs --k' : '--k applies to --model kmeans only');
  // k-means reads no target: one given only describes the parties (and stratifies the split) when it holds classes.
  const classes =
    model === 'kmeans' ? (targetValues.length > 0 && inferType(targetValues) === 'categorical' ? [...new Set(targetValues)].sort(byCodeUnits) : []) : checkTarget(targetValues, target!, model);
  if (options.positiveClass !== undefined) {
    if (model !== 'logistic' && !(model === 'svm' && classes.length === 2)) throw new UsageError('--positive applies to logistic models and two-class svms only');
    if (!classes.includes(options.positiveClass)) {
      throw new UsageError(`--positive: ${options.positiveClass} is not a value of ${target} (${classes.join(', ')})`);
    }
  }
  const features = inferFeatures(table, target, { numeric: options.numeric ?? [], categorical: options.categorical ?? [], file });

  // Rows without a target teach nothing and score nothing; the agents would drop them too. k-means keeps them all.
  const rows = model === 'kmeans' ? table.rows : table.rows.filter((r) => !isMissing(r.fields[targetAt]));
  const targetOf = (row: CsvRow) => (targetAt >= 0 ? row.fields[targetAt].trim() : '');
  const strata =
    model === 'linear'
      ? quantileStrata(rows.map((r) => Number(targetOf(r))), TARGET_BINS)
      : model === 'kmeans' && classes.length === 0
        ? rows.map(() => '')
        : rows.map(targetOf);

  const testFraction = options.testFraction ?? DEFAULTS.testFraction;
  const seed = options.seed ?? DEFAULTS.seed;
  // One generator, used in a fixed order (split, then partition): the same seed
  // gives the same test split whatever the partition.
  const random = seededRandom(seed);
  const split = stratifiedSplit(strata, testFraction, random);
  if (split.test.length === 0 || split.train.length === 0) {
    throw new UsageError(`--test-fraction ${testFraction} of ${rows.length} rows leaves no rows to ${split.test.length === 0 ? 'test on' : 'train on'}`);
  }
  const train = split.train.map((i) => rows[i]);
  const trainStrata = split.train.map((i) => strata[i]);

  let parts: { rows: number[]; value?: string | null }[];
  const parties = options.parties ?? DEFAULTS.parties;
  if (partitionSpec.kind === 'column') {
    parts = columnPartition(train.map((r) => (isMissing(r.fields[partitionAt]) ? null : r.fields[partitionAt].trim())));
    if (options.parties !== undefined && options.parties !== parts.length) {
      throw new UsageError(`--parties ${options.parties}: ${partitionSpec.column} has ${parts.length} values in the training rows, one party each`);
    }
  } else {
    if (!Number.isInteger(parties) || parties < 1) throw new UsageError('--parties must be a positive integer');
    if (parties > train.length) throw new UsageError(`--parties ${parties} is more than the ${train.length} training rows`);
    try {
      const partitioned =
        partitionSpec.kind === 'iid'
          ? iidPartition(train.length, parties, random)
          : partitionSpec.kind === 'dirichlet'
            ? dirichletLabelPartition(trainStrata, parties, partitionSpec.alpha, random)
            : quantityPartition(train.length, parties, partitionSpec.alpha, random);
      parts = partitioned.map((positions) => ({ rows: positions }));
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
  }

  const attackers = options.attack ? (options.attackers ?? 1) : 0;
  if (options.attackers !== undefined && !options.attack) throw new UsageError('--attackers needs --attack');
  if (options.attack && (!Number.isInteger(attackers) || attackers < 1 || attackers >= parts.length)) {
    throw new UsageError(`--attackers must be from 1 to ${parts.length - 1}: at least one of the ${parts.length} parties is honest`);
  }
  if (options.dropRate !== undefined && !(options.dropRate >= 0 && options.dropRate < 1)) throw new UsageError('--drop-rate must be a number from 0 to below 1');
  if (options.attack && options.secureAggregation) throw new UsageError('--attack rewrites plain updates and statistics: it cannot be combined with --secure-agg');
  if (options.dataDir !== undefined && fs.existsSync(options.dataDir) && (!fs.statSync(options.dataDir).isDirectory() || fs.readdirSync(options.dataDir).length > 0)) {
    throw new UsageError(`--data-dir: ${options.dataDir} is not an empty directory; the simulation's store needs a new one`);
  }
  const dropping = (options.dropRate ?? 0) > 0;
  // Differential privacy bounds a site's contribution only under uniform weighting: it is the default strategy then.
  const strategy = options.strategy ?? (options.dp ? { ...DEFAULTS.strategy, weighting: 'uniform' as const } : DEFAULTS.strategy);
  const config = checkedConfig({
    data: file,
    ...(target !== undefined && { target }),
    model,
    ...(options.k !== undefined && { k: options.k }),
    ...(model === 'logistic' || (model === 'svm' && classes.length === 2) ? { positiveClass: options.positiveClass ?? classes[1] } : {}),
    features,
    parties: parts.length,
    partition: formatPartition(partitionSpec),
    strategy,
    rounds: options.rounds ?? DEFAULTS.rounds,
    localEpochs: options.localEpochs ?? DEFAULTS.localEpochs,
    batchSize: options.batchSize ?? DEFAULTS.batchSize,
    learningRate: options.learningRate ?? DEFAULTS.learningRate,
    l2: options.l2 ?? DEFAULTS.l2,
    testFraction,
    seed,
    ...(options.attack && { attack: { kind: formatAttack(options.attack), attackers } }),
    ...(options.secureAggregation && { secureAggregation: options.secureAggregation as SecureAggregationSpec }),
    ...(dropping && { dropRate: options.dropRate }),
    ...(options.dp && { dp: options.dp }),
    ...(options.dataDir !== undefined && { dataDir: options.dataDir }),
  });
  // A secure job's statistics are summed over declared bounds and vocabularies (docs/simulation.md).
  const declared = options.secureAggregation ? declaredDomain(table, train, features, model === 'linear' ? target : undefined) : { features };
  const parsedSpec = JobSpecSchema.safeParse({
    name: `fl-sim ${path.basename(file)}`,
    model,
    features: declared.features,
    ...(declared.targetBounds && { targetBounds: declared.targetBounds }),
    ...(model !== 'kmeans' && { target }),
    ...(model === 'kmeans' && { k: options.k }),
    positiveClass: config.positiveClass,
    // Declared as the data has them: a party reporting another class is left out of the job.
    ...(model !== 'linear' && model !== 'kmeans' && { classes }),
    rounds: config.rounds,
    // Every party in every round: the simulation compares the strategy with centralized training, not dropouts.
    // Attackers may be left out (of a round, or of the job): the honest parties go on without them.
    // With dropouts, a round commits with as few parties as the job allows (three under secure aggregation).
    minParticipants: dropping ? Math.min(options.secureAggregation ? 3 : 1, parts.length) : parts.length - attackers,
    roundDeadlineSeconds: ROUND_DEADLINE_SECONDS,
    localEpochs: config.localEpochs,
    batchSize: config.batchSize,
    learningRate: config.learningRate,
    l2: config.l2,
    seed,
    // The simulator scores every round on its own held-out split; the agents' federated
    // evaluation would hold back part of each party's rows, which the centralized baseline trains on.
    evaluateEvery: 0,
    strategy: config.strategy,
    ...(config.secureAggregation && { secureAggregation: config.secureAggregation }),
    ...(config.dp && { dp: config.dp }),
  });
  if (!parsedSpec.success) {
    const issue = parsedSpec.error.issues[0];
    throw new UsageError(`the job refuses these settings: ${issue.path.join('.')}: ${issue.message}`);
  }
  const spec = parsedSpec.data;

  const planned = parts.map(({ rows: positions, value }, p): PlannedParty => ({
    name: `p${p + 1}`,
    rows: positions.map((i) => train[i]),
    ...(value !== undefined ? { value } : {}),
  }));
  // Every class, zero included, so that a party's skew reads at a glance; a numeric target has no classes.
  const labelCounts = (party: PlannedParty) => {
    const counts: Record<string, number> = Object.fromEntries(classes.map((c) => [c, 0]));
    if (classes.length > 0) for (const row of party.rows) if (targetOf(row) in counts) counts[targetOf(row)]++;
    return counts;
  };
  const targetMean = (party: PlannedParty) => party.rows.reduce((sum, row) => sum + Number(targetOf(row)), 0) / party.rows.length;
  return {
    config,
    spec,
    attack: options.attack,
    classes,
    header: table.header,
    train,
    test: split.test.map((i) => rows[i]),
    parties: planned,
    data: { rows: table.rows.length, droppedMissingTarget: table.rows.length - rows.length, train: train.length, test: split.test.length },
    partition: planned.map((party) => ({
      party: party.name,
      rows: party.rows.length,
      labelCounts: labelCounts(party),
      ...(model === 'linear' ? { targetMean: targetMean(party) } : {}),
      ...(party.value !== undefined ? { value: party.value } : {}),
    })),
  };
}


function localTable(plan: SimPlan, rows: CsvRow[]): LocalTable {
  return toLocalTable({ header: plan.header, rows, problems: [] }, plan.spec).table;
}

/** The federated job, start to end, with each round's global model scored on the held-out rows. */
async function runFederated(plan: SimPlan, work: string, hooks: SimHooks): Promise<{ rounds: RoundResult[]; attack?: SimReport['attack'] }> {
  const attackers = plan.config.attack?.attackers ?? 0;
  const targetAt = plan.config.target === undefined ? -1 : plan.header.indexOf(plan.config.target);
  const files = plan.parties.map((party, i) => {
    let rows = party.rows.map((r) => [...r.fields]);
    if (i < attackers && plan.attack?.kind === 'label-flip') {
      const flipped = flipLabels(rows.map((r) => r[targetAt]), plan.classes);
      rows = rows.map((r, j) => r.map((v, k) => (k === targetAt ? flipped[j] : v)));
    }
    return writeCsv(path.join(work, `${party.name}.csv`), plan.header, rows);
  });
  const dropRate = plan.config.dropRate ?? 0;
  const coordinator: RunningCoordinator = await testCoordinator({
    dataDir: plan.config.dataDir ?? path.join(work, 'coordinator'),
    logLevel: hooks.log ? 'info' : 'error',
    ...(dropRate > 0 && { maxRoundAttempts: MAX_ROUND_ATTEMPTS_WITH_DROPOUTS, reconnectWaitSeconds: RECONNECT_WAIT_SECONDS }),
  });
  const api = AdminApi.of(coordinator);
  const agents: ParticipantAgent[] = [];
  const singleRow = plan.parties.filter((party) => party.rows.length === 1).length;
  // A party of one row has no spread: the coordinator's plausibility checks of statistics, which compare spreads, leave such parties out when they are many.
  const pauseReason = (reason: string | null) =>
    reason === null
      ? 'no reason given'
      : reason +
        (reason.startsWith('statistics phase') && singleRow > 0
          ? `; ${singleRow} of the ${plan.parties.length} parties hold a single training row, whose statistics have no spread to check: fewer parties would each hold more`
          : '');
  /** the parties that dropped, by round (in any of its attempts) */
  const dropped = new Map<number, Set<string>>();
  /** the attempts each party was asked in, by its name */
  const asked = new Map<string, Attempts>();
  const secure = plan.spec.secureAggregation !== undefined;
  // Under secure aggregation the coordinator sums masked inputs in a ring, where the order does not matter.
  const order = secure ? undefined : new UpdateOrder(plan.parties.length, async () => {
    const [job] = await coordinator.store.listJobs();
    const excluded = new Set(job.admission.excluded.map((e) => e.participant));
    return new Set(plan.parties.flatMap((party, i) => (excluded.has(party.name) ? [i] : [])));
  });
  const droppedIn = (party: string, round: number) => dropped.get(round)?.has(party) === true;
  let failure: Error | undefined;
  // A party that cannot take part would otherwise hold every round until its deadline.
  const fail = (error: Error) => {
    failure ??= error;
    void coordinator.close();
  };
  try {
    for (const [i, party] of plan.parties.entries()) {
      const log = (message: string) => {
        hooks.log?.(`${party.name}: ${message}`);
        if (AGENT_FAILURE.test(message)) fail(new Error(`party ${party.name}: ${message.replace(/^error: /, '')}`));
      };
      let agent: ParticipantAgent;
      const attacker = i < attackers;
      try {
        const keys = await registerParticipant(api, party.name);
        agent = await startAgent(coordinator, party.name, files[i], { keys, log, timeoutMs: CONNECT_TIMEOUT_MS });
        if (attacker && plan.attack) arm(agent, keys, plan.attack, plan.config.seed + i);
        const attempts = countAttempts(agent, secure);
        asked.set(party.name, attempts);
        if (dropRate > 0) {
          dropOut(agent, attempts, {
            rate: dropRate,
            seed: plan.config.seed,
            party: i,
            secure,
            whenOffline: async () => {
              await eventually(async () => (await api.participants()).find((p) => p.name === party.name)?.online, (online) => online === false);
            },
            onDrop: (round, attempt, stage) => {
              dropped.set(round, (dropped.get(round) ?? new Set()).add(party.name));
              hooks.log?.(`${party.name}: dropped out of round ${round} (attempt ${attempt}) at its ${stage} step`);
            },
          });
        }
        order?.arrange(agent, i, attempts);
      } catch (err) {
        // A failure already reported says more than the timeout it caused.
        throw failure ?? err;
      }
      // The coordinator refusing an attacker is the point; refusing an honest party is a defect.
      const refused = (ack: Ack, round?: number) => {
        if (round !== undefined && droppedIn(party.name, round)) return;
        if (!ack.ok && !attacker) fail(new Error(`party ${party.name}: the coordinator refused it: ${ack.error.code} ${ack.error.message}`));
      };
      agent.on('statistics', (_job: string, ack: Ack) => refused(ack));
      agent.on('trained', ({ ack, round }: { ack: Ack; round: number }) => refused(ack, round));
      agents.push(agent);
    }

    const test = localTable(plan, plan.test);
    let prepared: { data: PreparedData; preprocessing: Preprocessing } | undefined;
    const rounds: RoundResult[] = [];
    // Scored as each round commits, in order: the model is read by its round, so a round that starts meanwhile changes nothing;
    // the job's end waits for the scoring of its last round. The coordinator runs this job only.
    let scoring = Promise.resolve();
    coordinator.engine.events.on('job', (event: JobEvent) => {
      // A paused job waits for an operator the simulation does not have.
      if (event.type === 'status' && event.status === 'paused') fail(new Error(`the federated job paused: ${pauseReason(event.error)}`));
      if (event.type !== 'round' || failure) return;
      scoring = scoring.then(() => score(event.round));
    });
    /**
     * With dropouts, every party in the job must have been asked in every attempt at the round:
     * one that was not back in time would make the run's participation differ from its draws.
     */
    const checkAsked = (round: RoundRecord, excluded: ReadonlySet<string>) => {
      for (const [name, attempts] of asked) {
        const times = attempts.asked(round.round);
        if (excluded.has(name) || times === round.attempts) continue;
        throw new Error(
          `party ${name} was asked in ${times} of the ${round.attempts} attempts at round ${round.round}: it was not back within ${RECONNECT_WAIT_SECONDS} s of dropping out, so who took part is not what the seed draws`,
        );
      }
    };
    const score = async (round: RoundRecord) => {
      try {
        const job = (await coordinator.store.getJob(round.job))!;
        if (dropRate > 0) checkAsked(round, new Set(job.admission.excluded.map((e) => e.participant)));
        if (!prepared) {
          const preprocessing = job.preprocessing!;
          prepared = { data: prepare(test, preprocessing), preprocessing };
        }
        const model = (await coordinator.store.getModel(round.job, round.round))!;
        const shape = modelShapeOf(plan.spec.model, prepared.preprocessing, plan.spec.k);
        const result: RoundResult = {
          round: round.round,
          participants: round.contributors.length,
          trainLoss: round.metrics.trainLoss ?? null,
          test: testMetrics(shape, model.weights, prepared.data, prepared.preprocessing.target),
          seconds: (round.closedAt - round.startedAt) / 1000,
          ...(dropRate > 0 && {
            contributors: round.contributors.map((c) => c.participant).sort(byCodeUnits),
            attempts: round.attempts,
            dropped: [...(dropped.get(round.round) ?? [])].sort(byCodeUnits),
          }),
          ...(plan.spec.dp && { privacy: { epsilon: epsilonAfter(plan.spec.dp, round.round) } }),
        };
        rounds.push(result);
        hooks.onRound?.(result, plan.config.rounds);
      } catch (err) {
        fail(err as Error);
      }
    };

    const job = await api.createJob(plan.spec);
    await coordinator.engine.whenFinished(job.id);
    await scoring;
    if (failure) throw failure;
    const finished = (await coordinator.store.getJob(job.id))!;
    // A job with an ε budget may stop before its last round: that is its result, not a failure.
    const budgetStop = finished.status === 'stopped' && finished.error?.startsWith('privacy budget') === true;
    if ((finished.status !== 'completed' && !budgetStop) || !prepared) {
      throw new Error(`the federated job ended ${finished.status}${finished.error ? `: ${finished.error}` : ''}`);
    }
    if (hooks.onModel) {
      const model = (await coordinator.store.getModel(job.id))!;
      const shape = modelShapeOf(plan.spec.model, prepared.preprocessing, plan.spec.k);
      const view: ModelView = {
        job: job.id,
        round: model.round,
        sha256: model.sha256,
        shape,
        ...(plan.spec.target !== undefined && { target: plan.spec.target }),
        preprocessing: prepared.preprocessing,
        weights: Array.from(model.weights),
      };
      hooks.onModel({ round: model.round, shape, weights: model.weights, preprocessing: prepared.preprocessing, view });
    }
    if (!plan.config.attack) return { rounds };
    // What the coordinator made of the attack, as its round records and job say.
    const leftOut: Record<string, number> = {};
    for (const round of await coordinator.store.listRounds(job.id)) {
      for (const { code } of round.failures) if (code) leftOut[code] = (leftOut[code] ?? 0) + 1;
    }
    const excluded = finished.admission.excluded.map(({ participant, code }) => `${participant} ${code ?? ''}`.trim());
    return { rounds, attack: { excludedFromJob: excluded, updatesLeftOut: leftOut } };
  } finally {
    agents.forEach((agent) => agent.stop());
    await coordinator.close();
  }
}

/**
 * The baseline: the same preprocessing, built by the coordinator's own
 * combination of statistics but over the pooled training rows, and the same
 * model and settings, trained with the agents' trainer for rounds × local epochs,
 * `rounds` being those the federated job ran (fewer than asked when its ε budget stopped it).
 * It is trained in blocks of local epochs so that it can be scored after each.
 */
export async function trainCentralized(plan: SimPlan, hooks: SimHooks = {}, rounds = plan.config.rounds): Promise<SimReport['centralized']> {
  const { spec, config } = plan;
  const pooled = localTable(plan, plan.train);
  const preprocessing = combineStatistics(spec, [computeStatistics(pooled, spec)]);
  const data = prepare(pooled, preprocessing);
  const test = prepare(localTable(plan, plan.test), preprocessing);
  const shape = modelShapeOf(spec.model, preprocessing, spec.k);
  if (shape.kind === 'kmeans') return centralizedKMeans(plan, shape, data, test, hooks, rounds);
  let params = initialParameters(shape);
  const scored: SimReport['centralized']['rounds'] = [];
  for (let round = 1; round <= rounds; round++) {
    ({ params } = await trainLocal({
      shape,
      params,
      x: data.x,
      y: data.y,
      n: data.n,
      epochs: config.localEpochs,
      batchSize: config.batchSize,
      learningRate: config.learningRate,
      l2: config.l2,
      seed: trainingSeed(config.seed, round, 'centralized'),
    }));
    scored.push({ round, test: testMetrics(shape, params, test, preprocessing.target) });
  }
  const final = scored[scored.length - 1].test;
  hooks.onCentralized?.(final, rounds * config.localEpochs);
  return { test: final, epochs: rounds * config.localEpochs, rounds: scored };
}

/**
 * k-means on the pooled rows: k-means++ seeding, then one Lloyd iteration per
 * round for the curve, and at the last round Lloyd run until no centre moves,
 * the baseline the federated inertia is held to.
 */
function centralizedKMeans(plan: SimPlan, shape: ModelShape, data: PreparedData, test: PreparedData, hooks: SimHooks, rounds: number): SimReport['centralized'] {
  const { inputDim: d, outputDim: k } = shape;
  let centres = kmeansPlusPlus(data.x, data.n, d, k, undefined, seededRandom(plan.config.seed));
  const scored: SimReport['centralized']['rounds'] = [];
  for (let round = 1; round <= rounds; round++) {
    const last = round === rounds;
    ({ centres } = lloyd(data.x, data.n, d, k, centres, last ? CENTRALIZED_LLOYD_ITERATIONS : 1));
    const params = new Float32Array(parameterCount(shape));
    params.set(centres);
    scored.push({ round, test: testMetrics(shape, params, test, { type: 'none' }) });
  }
  const final = scored[scored.length - 1].test;
  hooks.onCentralized?.(final, rounds);
  return { test: final, epochs: rounds, rounds: scored };
}

/** Enough for Lloyd to settle on the bundled data sets (it stops earlier once no centre moves). */
const CENTRALIZED_LLOYD_ITERATIONS = 300;

/** Runs a planned simulation; the temporary files and servers are gone when it settles. */
export async function runSimulation(plan: SimPlan, hooks: SimHooks = {}): Promise<SimReport> {
  const work = tempDir('sim');
  try {
    const { rounds, attack } = await runFederated(plan, work, hooks);
    const centralized = await trainCentralized(plan, hooks, rounds[rounds.length - 1].round);
    return {
      config: plan.config,
      data: plan.data,
      partition: plan.partition,
      ...(attack && { attack }),
      rounds,
      final: {
        test: rounds[rounds.length - 1].test,
        ...(plan.spec.dp && { privacy: { epsilon: epsilonAfter(plan.spec.dp, rounds[rounds.length - 1].round), delta: plan.spec.dp.delta } }),
      },
      centralized,
    };
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

export function simulate(options: SimOptions, hooks: SimHooks = {}): Promise<SimReport> {
  return runSimulation(planSimulation(options), hooks);
}
