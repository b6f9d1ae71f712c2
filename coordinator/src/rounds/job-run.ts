/**
 * The state machine of one job: wait for enough participants, run the statistics
 * phase, then the training rounds, each a ReplyCollection that closes on full
 * quorum, or at the deadline with at least the minimum. A round commits in one
 * transaction; a round below the minimum is started again, up to a limit.
 */
import { randomBytes } from 'node:crypto';
import {
  ackError,
  ackOk,
  canonicalJson,
  decodeState,
  decodeWeights,
  EMPTY_STATE,
  encodeState,
  encodeWeights,
  DEFAULT_STRATEGY,
  strategyOf,
  initialModelAttestation,
  initialParameters,
  modelAttestation,
  modelShapeOf,
  setupDigest,
  sha256Hex,
  type Ack,
  type ErrorCode,
  type LocalStatistics,
  type ModelShape,
  type Preprocessing,
  type EvaluationHeader,
  type FailureHeader,
  describeFailure,
  type StatisticsHeader,
  type StatisticsRequest,
  type UpdateHeader,
  type CoordinatorToAgentEvents,
  type SetupMessage,
  type StrategyState,
  type TrainHeader,
  type TrainMessage,
  type SecAggReplyHeader,
  AUDIT_DATA,
  type AuditData,
  type AuditKind,
  type SecAggStep,
  type SecureAggregationSpec,
  type JobSpec,
  decodeStatistics,
  ringDigest,
  FlError,
  frequentBuckets,
  gatheredFeatures,
  gatheredValues,
  presenceWords,
  statisticsEncoding,
  valueWords,
  withCategories,
  secureUpdate,
  epsilonAfter,
  centralUpdate,
  CENTRAL_NOISE,
  withinBudget,
  participantsHeld,
  withoutParticipants,
} from '@fl/shared';
import { ParticipantsRevoked, type RunAudit } from '../audit/audit-log';
import { LeadershipLost } from '../cluster/leader-election';
import type { CoordinatorIdentity } from '../identity/identity';
import type { Admission, JobRecord, JobStatus, ModelVersion, RoundEvaluation, RoundRecord, Store, StoredStrategyState } from '../storage/store';
import { admitStatistics, combineStatistics, selfCheck, statisticsMatchSpec, type Exclusion } from '../strategy/statistics';
import { implausibleWeights } from '../strategy/plausibility';
import type { ClientUpdate, HeldOutEvaluation, RoundAggregation, Strategy, TrainInstructions } from '../strategy/strategy';
import { createStrategy } from '../strategy/fedavg';
import type { AgentChannel } from './agent-channel';
import type { Clock } from '../core/clock';
import type { LogFields } from '../logger';
import { failureText, NAMED_FAILURES, ReplyCollection, summarizeFailures } from './collection';
import { cappedMeans } from '../strategy/metrics';
import { identityKeyOf, runSecureRound, type SecureOutcome, type SecureReply, type SecureRoundHost, type StepCheck } from './secagg/secure-round';

export interface JobRunDeps {
  store: Store;
  channel: AgentChannel;
  identity: CoordinatorIdentity;
  /** the log as this run writes it: what it defers is its own */
  audit: RunAudit;
  /** which accepted updates are kept for the audit to recompute aggregates */
  retention: UpdateRetention;
  maxRoundAttempts: number;
  /** how long a selection waits for the participants the previous one asked that are offline now; default 0, none */
  reconnectWaitSeconds?: number;
  log: (level: 'info' | 'warn' | 'error', message: string, fields?: LogFields) => void;
  /** told after every committed round and status change, e.g. for the admin live view */
  notify: (event: JobEvent) => void;
  clock: Clock;
}

export type JobEvent =
  | { type: 'status'; job: string; status: JobStatus; error: string | null }
  | { type: 'round'; job: string; round: RoundRecord }
  /** the same round again, once its federated evaluation is in */
  | { type: 'evaluation'; job: string; round: RoundRecord };

export interface UpdateRetention {
  /** rounds kept per job; undefined keeps all */
  rounds?: number;
  /** updates larger than this are not kept */
  maxModelBytes: number;
}

type Phase =
  | ({ kind: 'statistics'; collection: ReplyCollection<LocalStatistics> } & Asking)
  | ({
      kind: 'training';
      round: number;
      collection: ReplyCollection<AcceptedUpdate>;
      aggregation: RoundAggregation;
      size: number;
      /** the global model sent, and whether its evaluation (of the previous round) was asked with it */
      modelSha256: string;
      evaluate: boolean;
      evaluations: Map<string, HeldOutEvaluation>;
    } & Asking)
  /** one step of a secure-aggregation round (rounds/secagg) */
  | ({ kind: 'secagg'; round: number; step: SecAggStep; collection: ReplyCollection<SecureReply>; check: StepCheck } & Asking)
  | ({
      kind: 'evaluation';
      round: number;
      collection: ReplyCollection<HeldOutEvaluation>;
      modelSha256: string;
    } & Asking);

/** How a phase sends its request: to all it selected at once, or again to one that reconnects. */
interface Asking {
  /** false when the participant is not connected */
  ask: (participant: string) => boolean;
  /** answers those not connected */
  askAll: (participants: Iterable<string>) => string[];
}

/** An update folded into the round, as its record names it. */
interface Contribution {
  numSamples: number;
  sha256: string;
}

/** A plain round's accepted update, with what folding it again takes: its bytes when retained (held anyway until its record is written). */
interface AcceptedUpdate extends Contribution {
  metrics: Record<string, number>;
  retained?: Uint8Array;
}

type TrainingPhase = Extract<Phase, { kind: 'training' }>;
type EvaluationPhase = Extract<Phase, { kind: 'evaluation' }>;
type SecAggPhase = Extract<Phase, { kind: 'secagg' }>;
/** The header of any signed message an agent sends about a job. */
export type AgentHeader = StatisticsHeader | UpdateHeader | EvaluationHeader | FailureHeader | SecAggReplyHeader;

/** The name the unmasked sum goes by as the strategy's one update of a secure round; the audit recomputes with the same. */
const SECURE_SUM = 'secure-sum';
const CENTRAL_SUM = 'central-sum';

/**
 * The signed messages one participant may send between two commits. A round asks a site for a few (statistics,
 * update, evaluation, a failure report, four secure-aggregation steps) per attempt; the nonces kept against replays
 * must not grow for as long as a job waits or is paused with a site signing message after message.
 */
export const MAX_MESSAGES_PER_ROUND = 1000;

/** Ends run() without recording anything more: the coordinator is shutting down. */
class Halted extends Error {}

export function modelShape(job: JobRecord, preprocessing: Preprocessing): ModelShape {
  return modelShapeOf(job.spec.model, preprocessing, job.spec.k);
}

export class JobRun {
  private phase: Phase | null = null;
  /** the global model committed last */
  private model: ModelVersion | undefined;
  /** who contributed to the last closed round: a repeat of their update is a duplicate, not a stray */
  private lastRound: { round: number; contributors: ReadonlySet<string> } | null = null;
  /** the rows each admitted site reported, and the sites left out of the job (by their statistics, or their privacy budget spent), with why (the job's admission) */
  private reportedRows: Map<string, number>;
  private excluded: Map<string, Admission['excluded'][number]>;
  /** sites admitted or left out after the statistics phase since the job's admission was last stored */
  private admissionChanged = false;
  /** participants revoked while their contribution waited to be recorded: no phase of this run asks them again */
  private readonly revoked = new Set<string>();
  private waiters: (() => void)[] = [];
  /** who the job's last selection asked (a round's attempt, or the statistics phase): the next waits a while for those offline (waitForParticipants) */
  private lastSelection: readonly string[] = [];
  /** coordinator shutdown: the job stays as stored, to resume at the next start */
  private halted = false;
  /** another replica leads the job now (its leadership was lost, or a write was refused for its epoch) */
  private lostLeadership = false;
  /** admin control: 'stop' ends the job for good, 'pause' holds it until resumed */
  private control: 'run' | 'pause' | 'stop' = 'run';
  private resumed: (() => void) | undefined;
  private phaseCutShort = false;
  /** by participant, the nonces of its signed messages received since the last committed round: a replayed frame is refused */
  private readonly nonces = new Map<string, Set<string>>();
  /** the job's signed setup, made once its preprocessing is known; requests name it by digest */
  private setup: { message: SetupMessage; digest: string } | undefined;
  /** the job's strategy, from its spec */
  private readonly strategy: Strategy;
  /** the state the last committed round left the strategy in; read from the store after a restart */
  private strategyState: StrategyState | undefined;
  private job: JobRecord;
  /** a secure job's spec with its gathered categories, kept across attempts of round 0 and read from the log by a new run: each site helps unmask one sum a round */
  private gathered: JobSpec | undefined;

  constructor(
    job: JobRecord,
    private readonly deps: JobRunDeps,
  ) {
    this.job = withDefaults(job);
    // A job paused before a restart stays paused.
    if (job.status === 'paused') this.control = 'pause';
    this.reportedRows = new Map(Object.entries(job.admission.reportedRows));
    this.excluded = new Map(job.admission.excluded.map((e) => [e.participant, e]));
    const { learningRate, localEpochs, batchSize } = this.job.spec;
    this.strategy = createStrategy(strategyOf(this.job.spec), { learningRate, localEpochs, batchSize });
  }

  get id(): string {
    return this.job.id;
  }

  /** True once the run ended because another replica leads the job. */
  get deposed(): boolean {
    return this.lostLeadership;
  }

  /** The round under way, for the log; undefined outside rounds (the statistics phase). */
  get round(): number | undefined {
    return this.phase && 'round' in this.phase ? this.phase.round : undefined;
  }

  /** Runs the job to its end; never rejects: a failure is recorded on the job. */
  async run(): Promise<void> {
    try {
      if (!this.job.preprocessing) await (this.job.spec.secureAggregation ? this.secureStatisticsPhase() : this.statisticsPhase());
      // A job started before (a restart, a new leader) says so in the log: the attempt of the next round that was under way is abandoned, and the updates it acknowledged were never recorded (fl-agent audit verify reads it).
      else await this.deps.audit.append('job.resumed', 'coordinator', { job: this.job.id, round: this.job.round });
      while (this.job.round < this.job.spec.rounds) {
        if (!(await this.withinPrivacyBudget(this.job.round + 1))) return;
        await this.trainingRound(this.job.round + 1);
        // Earlier rounds are evaluated with the next round's train exchange; the last has none, nor has a masked input.
        const alone = this.job.round === this.job.spec.rounds || this.job.spec.secureAggregation !== undefined;
        if (alone && this.evaluationDue(this.job.round)) await this.evaluationPhase(this.job.round);
      }
      await this.storeAdmission();
      await this.setStatus('completed');
      this.announceEnd();
      this.deps.log('info', `job ${this.job.id} completed after ${this.job.round} rounds`);
    } catch (err) {
      if (err instanceof Halted) return;
      if (err instanceof LeadershipLost) {
        // The job is another replica's now, from its last committed round: nothing more is written from here, not even a failure.
        this.lostLeadership = true;
        this.halted = true;
        this.deps.log('warn', `job ${this.job.id}: stopped running it: ${err.message}`);
        return;
      }
      const message = (err as Error).message;
      this.deps.log('error', `job ${this.job.id} failed: ${message}`);
      // What was accepted is recorded whatever becomes of its round (runPhase): its sites hold it as acknowledged.
      await this.unlessRevoked(() => this.deps.audit.flush()).catch((failed: Error) => this.deps.log('error', `job ${this.job.id}: cannot record its accepted updates: ${failed.message}`));
      await this.setStatus('failed', message).catch((failed: Error) => this.deps.log('error', `job ${this.job.id}: cannot record its failure: ${failed.message}`));
    }
  }

  /** False, having stopped the job, when the next round would take its ε over its budget: it stops before, never after. */
  private async withinPrivacyBudget(round: number): Promise<boolean> {
    const { dp } = this.job.spec;
    if (!dp || withinBudget(dp, round)) return true;
    await this.stopFor(`privacy budget: round ${round} would take ε to ${epsilonAfter(dp, round).toFixed(3)} (δ = ${dp.delta}), over the budget of ${dp.epsilonBudget}`);
    return false;
  }

  /**
   * Stops the job, ending the run, once the sites that reported their privacy
   * budget spent leave fewer than its minimum that may still take part
   * (approved, neither revoked nor left out, online or not): no attempt of a
   * round could reach the minimum again.
   */
  private async stopIfBudgetsSpent(): Promise<void> {
    const spent = [...this.excluded.values()].filter((e) => e.code === 'PRIVACY_BUDGET_SPENT').length;
    if (spent === 0) return;
    const able = (await this.deps.store.listParticipants()).filter((p) => p.status === 'approved' && !this.excluded.has(p.name) && !this.revoked.has(p.name)).length;
    const { minParticipants } = this.job.spec;
    if (able >= minParticipants) return;
    const sites = spent === 1 ? '1 site has spent the ε it accepted' : `${spent} sites have spent the ε they accepted`;
    await this.stopFor(`privacy budget: ${sites} for the job (PRIVACY_BUDGET_SPENT), leaving ${able} that may take part, below the minimum of ${minParticipants}`);
    throw new Halted();
  }

  /** Ends the job for a reason of its own, its committed rounds and the last one's model kept as its result. */
  private async stopFor(reason: string): Promise<void> {
    await this.storeAdmission();
    await this.setStatus('stopped', reason);
    this.announceEnd();
    this.deps.log('info', `job ${this.job.id} stopped after round ${this.job.round}: ${reason}`);
  }

  /** The coordinator is shutting down, or another replica leads the job: end the current phase without committing it. */
  halt(deposed = false): void {
    if (deposed) this.lostLeadership = true;
    this.halted = true;
    this.phase?.collection.close('coordinator stopping');
    this.wake();
    this.resumed?.();
  }

  /**
   * Holds the job: the open phase ends uncommitted and starts again on resume.
   * `record` (the control's audit record) is written in the transaction of the
   * status: both or neither; when that fails, the run goes on.
   */
  async pause(record: () => Promise<unknown>): Promise<void> {
    if (this.control !== 'run') return void (await record());
    const before = this.job;
    // In memory at once, as setStatus does: the run, ending its phase meanwhile, must not store the status itself.
    this.control = 'pause';
    this.job = { ...before, status: 'paused', error: null, updatedAt: this.deps.clock.now() };
    if (this.phase) {
      this.phaseCutShort = true;
      this.phase.collection.close('job paused');
    }
    this.wake();
    try {
      await this.deps.store.transaction(async () => {
        await record();
        await this.deps.store.updateJob(this.job.id, { status: 'paused', error: null });
      });
    } catch (err) {
      // Neither was written: the run goes on, and the phase cut short starts again.
      this.control = 'run';
      if (this.job.status === 'paused') this.job = { ...this.job, status: before.status, error: before.error };
      this.resumed?.();
      throw err;
    }
    this.notifyStatus();
  }

  /** Lets a paused job go on, once `record` (the control's audit record) is written. */
  async resume(record: () => Promise<unknown>): Promise<void> {
    await record();
    if (this.control !== 'pause') return;
    this.control = 'run';
    this.resumed?.();
  }

  /** Ends the job for good, once `record` (the control's audit record) is written; committed rounds and models stay. */
  async stop(record: () => Promise<unknown>): Promise<void> {
    await record();
    this.control = 'stop';
    this.phase?.collection.close('job stopped');
    this.wake();
    this.resumed?.();
  }

  /**
   * Records a signed message's nonce; the refusal when it was seen already in this round (across its attempts), or
   * when the participant has sent MAX_MESSAGES_PER_ROUND already, of which nothing more is kept until a round commits.
   */
  claimNonce(participant: string, nonce: string, what = 'message'): Ack | null {
    let seen = this.nonces.get(participant);
    if (!seen) this.nonces.set(participant, (seen = new Set()));
    if (seen.has(nonce)) return ackError('REPLAYED_NONCE', `this ${what} was received already`);
    if (seen.size >= MAX_MESSAGES_PER_ROUND) {
      return ackError('RATE_LIMITED', `${seen.size} signed messages from ${participant} since the last round committed, more than any round needs; none is taken until the next commits`);
    }
    seen.add(nonce);
    return null;
  }

  /** A participant (re)connected: a phase still waiting for it asks it again, e.g. after an agent restart. */
  participantOnline(participant: string): void {
    const phase = this.phase;
    if (phase && phase.collection.selected.has(participant) && !phase.collection.hasAnswered(participant)) {
      phase.ask(participant);
    }
    this.wake();
  }

  participantOffline(participant: string): void {
    this.phase?.collection.fail(participant, 'disconnected');
  }

  /**
   * Why a participant's message cannot be taken now, from its header alone: the
   * checks that need no signature (what the job awaits from whom, and statistics
   * against the spec), so that the round engine verifies a signature only on a
   * message the job would take. Each submit checks them again.
   */
  refusal(participant: string, header: AgentHeader): Ack | null {
    switch (header.type) {
      case 'statistics':
        return this.statisticsRefusal(participant, header);
      case 'update':
        return this.updateRefusal(participant, header);
      case 'evaluation':
        return this.evaluationRefusal(participant, header);
      case 'failure':
        return this.failureRefusal(participant, header);
      case 'secagg':
        return this.secAggRefusal(participant, header);
    }
  }

  private statisticsRefusal(participant: string, header: StatisticsHeader): Ack | null {
    const phase = this.phase;
    if (phase?.kind !== 'statistics') {
      if (!this.unadmitted(participant)) {
        if (this.reportedRows.has(participant)) return ackError('DUPLICATE_UPDATE', 'statistics already received');
        return ackError('NOT_SELECTED', this.job.preprocessing ? 'the statistics phase of this job is over' : 'not asked for statistics');
      }
    } else {
      if (!phase.collection.selected.has(participant)) return ackError('NOT_SELECTED', 'not asked for statistics');
      if (phase.collection.replies.has(participant)) return ackError('DUPLICATE_UPDATE', 'statistics already received');
      if (phase.collection.hasAnswered(participant)) return ackError('NOT_SELECTED', `no longer awaited: ${phase.collection.failures.get(participant)?.reason}`);
    }
    const mismatch = statisticsMatchSpec(header.statistics, this.job.spec);
    return mismatch ? ackError('INVALID_STATISTICS', mismatch) : null;
  }

  submitStatistics(participant: string, header: StatisticsHeader): Ack {
    const refused = this.statisticsRefusal(participant, header);
    if (refused) return refused;
    const phase = this.phase;
    if (phase?.kind !== 'statistics') return this.admitLate(participant, header.statistics);
    phase.collection.accept(participant, header.statistics);
    return ackOk;
  }

  /**
   * The statistics of a site no statistics admitted to a plain job yet, asked
   * before a request of a round (asking): checked on their own, as they no
   * longer change the job's, they bound what it may claim from now on, or
   * leave it out of the job, as the statistics phase does.
   */
  private admitLate(participant: string, statistics: LocalStatistics): Ack {
    const refused = selfCheck(statistics, this.job.spec);
    if (refused) {
      this.leaveOutOfJob(participant, refused);
      this.phase?.collection.fail(participant, refused.reason, refused.code);
    } else {
      this.reportedRows.set(participant, statistics.rows);
      this.admissionChanged = true;
      this.deps.log('info', `job ${this.job.id}: admitted ${participant} after the statistics phase, with ${statistics.rows} rows`, { participant });
    }
    return ackOk;
  }

  /**
   * Leaves a site out of the rest of the job, with why: no phase asks it again;
   * stored with the job's admission, and recorded (statistics.excluded, the
   * record of every site left out of a job) when the phase closes.
   */
  private leaveOutOfJob(participant: string, why: { code: string; reason: string }): void {
    this.excluded.set(participant, { participant, ...why });
    this.admissionChanged = true;
    this.deps.audit.defer('statistics.excluded', 'coordinator', { job: this.job.id, participant, ...why });
    this.deps.log('warn', `job ${this.job.id}: left ${participant} out of the job: ${why.code} ${why.reason}`, { participant });
  }

  private evaluationRefusal(participant: string, header: EvaluationHeader): Ack | null {
    const phase = this.phase;
    if (phase?.kind !== 'evaluation' || header.round !== phase.round) {
      return ackError('WRONG_ROUND', `no evaluation of round ${header.round} is open`);
    }
    const { collection } = phase;
    if (!collection.selected.has(participant)) return ackError('NOT_SELECTED', `not asked to evaluate round ${phase.round}`);
    if (collection.replies.has(participant)) return ackError('DUPLICATE_UPDATE', `already evaluated round ${phase.round}`);
    if (collection.hasAnswered(participant)) return ackError('NOT_SELECTED', `no longer awaited: ${collection.failures.get(participant)?.reason}`);
    return null;
  }

  submitEvaluation(participant: string, header: EvaluationHeader): Ack {
    const awaited = this.evaluationRefusal(participant, header);
    if (awaited) return awaited;
    // The refusal checked the phase's kind.
    const { collection, modelSha256 } = this.phase as EvaluationPhase;
    const refused = this.checkEvaluation(participant, header, modelSha256);
    if (refused) return refused;
    collection.accept(participant, { numExamples: header.numExamples, metrics: header.metrics });
    this.waitAfterMinimum(collection);
    return ackOk;
  }

  /**
   * A site reports that it will not answer the open request (its data, its
   * training, or its policy) or refuses the open secure-aggregation step:
   * recorded as that participant's failure with the site's code, so the phase
   * closes without waiting for its deadline and the others go on.
   */
  submitFailure(participant: string, header: FailureHeader): Ack {
    if (this.lateStatisticsFailure(header, participant)) return ackOk;
    const refused = this.failureRefusal(participant, header);
    if (refused) return refused;
    const reason = describeFailure(header);
    this.deps.log('warn', `job ${this.job.id} ${header.phase}${header.round ? ` round ${header.round}` : ''}: ${participant} ${reason} [${header.code}]`, { participant });
    // The site refuses every later request of the job too: asking it again would only fail another attempt. Only a DP job's training spends a budget, so only there does the code leave a site out (and perhaps stop the job).
    if (header.code === 'PRIVACY_BUDGET_SPENT' && this.job.spec.dp && header.phase === 'train') this.leaveOutOfJob(participant, { code: header.code, reason });
    this.phase!.collection.fail(participant, reason, header.code);
    return ackOk;
  }

  /** A secure job's statistics phase is secure rounds −2 to 0. */
  private get collectingStatistics(): boolean {
    const phase = this.phase;
    return phase?.kind === 'statistics' || (phase?.kind === 'secagg' && phase.round <= 0);
  }

  /** Statistics asked before a round's request: the site's answer to that request is what the round records. */
  private lateStatisticsFailure(header: FailureHeader, participant: string): boolean {
    return !this.collectingStatistics && header.phase === 'statistics' && this.unadmitted(participant);
  }

  private failureRefusal(participant: string, header: FailureHeader): Ack | null {
    if (this.lateStatisticsFailure(header, participant)) return null;
    const phase = this.phase;
    const request = header.step ? `${header.step} step` : `${header.phase} request`;
    const open =
      phase &&
      (header.phase === 'secagg'
        ? phase.kind === 'secagg' && header.round === phase.round && header.step === phase.step
        : this.collectingStatistics
          ? header.phase === 'statistics'
          : phase.kind !== 'statistics' && header.round === phase.round && header.phase === (phase.kind === 'evaluation' ? 'evaluate' : 'train'));
    if (!phase || !open) return ackError('WRONG_ROUND', `no ${request} of round ${header.round} is open`);
    const { collection } = phase;
    if (!collection.selected.has(participant)) return ackError('NOT_SELECTED', `not asked for this ${request}`);
    if (collection.hasAnswered(participant)) return ackError('DUPLICATE_UPDATE', `already answered this ${request}`);
    return null;
  }

  /** A secure-aggregation reply: the open step's, from a participant it asked, once; then what the step requires of it. */
  private secAggRefusal(participant: string, header: SecAggReplyHeader): Ack | null {
    const phase = this.phase;
    if (phase?.kind !== 'secagg' || header.round !== phase.round) return ackError('WRONG_ROUND', `no secure-aggregation step of round ${header.round} is open`);
    if (header.step !== phase.step) return ackError('WRONG_ROUND', `the open step is ${phase.step}, not ${header.step}`);
    const { collection } = phase;
    if (!collection.selected.has(participant)) return ackError('NOT_SELECTED', `not asked for the ${phase.step} step of round ${phase.round}`);
    if (collection.replies.has(participant)) return ackError('DUPLICATE_UPDATE', `already answered the ${phase.step} step of round ${phase.round}`);
    if (collection.hasAnswered(participant)) return ackError('NOT_SELECTED', `no longer awaited: ${collection.failures.get(participant)?.reason}`);
    return null;
  }

  submitSecAgg(participant: string, header: SecAggReplyHeader, signature: string, masked: Uint8Array | undefined): Ack {
    const awaited = this.secAggRefusal(participant, header);
    if (awaited) return awaited;
    // The refusal checked the phase's kind.
    const phase = this.phase as SecAggPhase;
    const { collection } = phase;
    // A copy of the masked input, the round's and the store's: `masked` may be a view into the whole received frame.
    const own = masked && new Uint8Array(masked);
    const reply = { header, signature, masked: own };
    const refused = phase.check(participant, reply);
    if (refused) return refused;
    if (phase.step === 'masked') {
      // The masked input is kept for the audit; it reveals nothing without the other parties' masks.
      const { job, round } = header;
      const sha256 = header.maskedSha256!;
      const retained = this.deps.retention.rounds !== 0 && own!.byteLength <= this.deps.retention.maxModelBytes;
      const kept = retained ? own : undefined;
      const retain = kept && { job, round, participant, sha256, weights: kept };
      this.deps.audit.defer('secagg.input', `participant:${participant}`, { job, round, participant, sha256, header, signature, retained }, retain);
    }
    collection.accept(participant, reply);
    // A training round's steps, as a plain round (not the statistics phase, rounds −2 to 0, which waits for every site as a plain one does);
    // not the unmask step: closed at the minimum, it could leave a secret short of its threshold, and fail a round its late shares would have saved.
    if (phase.round >= 1 && phase.step !== 'unmask') this.waitAfterMinimum(collection);
    return ackOk;
  }

  /** What an evaluation must say, sent alone or with an update: the model it was asked about, and a plausible count. */
  private checkEvaluation(participant: string, evaluation: { numExamples: number; modelSha256: string }, modelSha256: string): Ack | null {
    if (evaluation.modelSha256 !== modelSha256) return ackError('DIGEST_MISMATCH', 'the evaluated model is not the one sent for evaluation');
    const implausible = this.implausibleCount(participant, 'numExamples', evaluation.numExamples);
    return implausible && ackError(implausible.code, implausible.reason);
  }

  private updateRefusal(participant: string, header: UpdateHeader): Ack | null {
    const phase = this.phase;
    if (this.lastRound?.round === header.round && this.lastRound.contributors.has(participant)) {
      return ackError('DUPLICATE_UPDATE', `already sent round ${header.round}, which has closed`);
    }
    if (phase?.kind !== 'training') return ackError('WRONG_ROUND', 'no training round is open');
    if (header.round !== phase.round) {
      return ackError('WRONG_ROUND', `round ${header.round} is not the open round ${phase.round}`);
    }
    const { collection } = phase;
    if (!collection.selected.has(participant)) return ackError('NOT_SELECTED', `not selected for round ${phase.round}`);
    if (collection.replies.has(participant)) return ackError('DUPLICATE_UPDATE', `already sent round ${phase.round}`);
    if (collection.hasAnswered(participant)) {
      return ackError('NOT_SELECTED', `no longer awaited in round ${phase.round}: ${collection.failures.get(participant)?.reason}`);
    }
    return null;
  }

  /**
   * The checks that need the round's state, in the protocol's order; then the
   * update is folded in.
   */
  submitUpdate(
    participant: string,
    header: UpdateHeader,
    signature: string,
    bytes: Uint8Array,
    weights: Float32Array,
  ): Ack {
    const refused = this.updateRefusal(participant, header);
    if (refused) return refused;
    // The refusal checked the phase's kind.
    const phase = this.phase as TrainingPhase;
    const { collection } = phase;
    if (weights.length !== phase.size) {
      return ackError('WRONG_SHAPE', `expected ${phase.size} float32 weights, got ${weights.length}`);
    }
    if (sha256Hex(bytes) !== header.weightsSha256) return ackError('DIGEST_MISMATCH', 'weights do not match weightsSha256');
    // A signed update that is implausible is the participant's word for this round: it is left out of it at once.
    const implausible = implausibleWeights(weights) ?? this.implausibleCount(participant, 'numSamples', header.numSamples);
    if (implausible) return this.leaveOut(phase, header, signature, implausible);
    if (header.evaluation) {
      if (!phase.evaluate || header.evaluation.round !== phase.round - 1) {
        return ackError('WRONG_ROUND', `no evaluation of round ${header.evaluation.round} was asked with round ${phase.round}`);
      }
      const refused = this.checkEvaluation(participant, header.evaluation, phase.modelSha256);
      if (refused) return refused;
      phase.evaluations.set(participant, { numExamples: header.evaluation.numExamples, metrics: header.evaluation.metrics });
    }
    // Recorded when the phase closes (RunAudit.defer): the audit log holds every update any global model is made of.
    const { job, round, weightsSha256: sha256, numSamples } = header;
    const retained = this.deps.retention.rounds !== 0 && bytes.byteLength <= this.deps.retention.maxModelBytes;
    // A copy: `bytes` may be a view into the whole received frame, which must not stay in memory until the phase closes.
    const kept = retained ? new Uint8Array(bytes) : undefined;
    const retain = kept && { job, round, participant, sha256, weights: kept };
    this.deps.audit.defer('update.accepted', `participant:${participant}`, { job, round, participant, sha256, numSamples, header, signature, retained }, retain);
    phase.aggregation.add({ participant, weights, numSamples, metrics: header.metrics });
    collection.accept(participant, { numSamples, sha256, metrics: header.metrics, retained: kept });
    this.waitAfterMinimum(collection);
    return ackOk;
  }

  /** Once the minimum has replied, the others are waited for `waitAfterMinimumSeconds` at most: a round, a secure round's step, or the last evaluation. */
  private waitAfterMinimum(collection: ReplyCollection<unknown>): void {
    const wait = this.job.spec.waitAfterMinimumSeconds;
    if (wait !== undefined && collection.replies.size === this.job.spec.minParticipants) collection.closeBy(this.deps.clock.now() + wait * 1000);
  }

  /**
   * Why a participant's count of samples or examples is implausible, or null: at most the rows it reported; in a
   * plain job, a site no statistics admitted claims nothing; in a secure one, at most the job's limit per site.
   */
  private implausibleCount(participant: string, what: 'numSamples' | 'numExamples', count: number): { code: 'IMPLAUSIBLE_SAMPLES'; reason: string } | null {
    if (this.unadmitted(participant)) return { code: 'IMPLAUSIBLE_SAMPLES', reason: `${what} cannot be checked: no statistics of this site admitted it to the job` };
    const reported = this.reportedRows.get(participant);
    const limit = reported ?? this.job.spec.maxRowsPerParticipant;
    if (count >= 1 && count <= limit) return null;
    const bound = reported === undefined ? "the job's maxRowsPerParticipant" : 'the rows this site reported';
    return { code: 'IMPLAUSIBLE_SAMPLES', reason: `${what} ${count} is not between 1 and ${limit}, ${bound}` };
  }

  /** A site that missed a plain job's statistics phase, or failed it, and has not sent statistics since: its claims cannot be bounded. */
  private unadmitted(participant: string): boolean {
    return Boolean(this.job.preprocessing) && !this.job.spec.secureAggregation && !this.reportedRows.has(participant) && !this.excluded.has(participant);
  }

  /** Leaves an implausible update out of its round, recorded (with the participant's signed header) when the round closes. */
  private leaveOut(phase: Phase & { kind: 'training' }, header: UpdateHeader, signature: string, why: { code: ErrorCode; reason: string }): Ack {
    const { job, round, participant } = header;
    this.deps.audit.defer('update.excluded', `participant:${participant}`, { job, round, participant, ...why, header, signature });
    phase.collection.fail(participant, why.reason, why.code);
    this.deps.log('warn', `job ${job} round ${round}: left out ${participant}'s update: ${why.code} ${why.reason}`, { participant });
    return ackError(why.code, `${why.reason}; this update is left out of round ${round}`);
  }

  private async statisticsPhase(): Promise<void> {
    const { spec } = this.job;
    for (let attempt = 1; ; attempt++) {
      const selected = await this.waitForParticipants();
      await this.setStatus('statistics');
      const collection = new ReplyCollection<LocalStatistics>(new Set(selected), this.deadline(), this.deps.clock);
      const header = { type: 'statistics-request' as const, job: this.job.id, spec, issuedAt: this.deps.clock.now() };
      const signature = this.deps.identity.sign('statistics-request', header);
      if (await this.runPhase({ kind: 'statistics', collection, ...this.asking('statistics-request', { header, signature }) })) {
        attempt--;
        continue;
      }
      const { admitted, excluded } = admitStatistics(spec, collection.replies);
      for (const e of excluded) this.deps.log('warn', `job ${this.job.id}: left ${e.participant} out of the job: ${e.code} ${e.reason}`, { participant: e.participant });
      if (admitted.size >= spec.minParticipants) {
        const reportedRows = Object.fromEntries([...admitted].map(([p, stats]) => [p, stats.rows]));
        await this.startTraining(combineStatistics(spec, [...admitted.values()]), admitted.size, reportedRows, excluded);
        return;
      }
      for (const e of excluded) collection.failures.set(e.participant, { reason: e.reason, code: e.code });
      attempt = await this.belowMinimum('statistics phase', attempt, collection, admitted.size);
    }
  }

  /**
   * A secure job's statistics phase: secure round 0 (after rounds −2 and −1
   * when it gathers vocabularies), each site's statistics vector masked
   * (rounds/secagg), so the coordinator learns their sum alone.
   * No site can be checked or left out on its own statistics: a sum that fails
   * the checks an honest sum passes starts the phase again (docs/robustness.md).
   */
  private async secureStatisticsPhase(): Promise<void> {
    // An earlier run (a restart, another replica) may have gathered them: the sites would refuse to help unmask a second sum of the same round.
    this.gathered ??= await this.recordedVocabularies();
    for (let attempt = 1; ; attempt++) {
      let participants = await this.waitForParticipants();
      await this.setStatus('statistics');
      let spec = this.gathered;
      if (!spec) {
        const gathered = await this.gatherVocabularies(participants, attempt);
        if ('attempt' in gathered) {
          attempt = gathered.attempt;
          continue;
        }
        ({ spec, participants } = gathered);
      }
      const { elements, width } = statisticsEncoding(spec);
      const outcome = await this.vectorRound(0, participants, spec, { words: elements * width, width, advertise: { spec } }, attempt);
      if ('attempt' in outcome) {
        attempt = outcome.attempt;
        continue;
      }
      let aggregate: LocalStatistics;
      try {
        aggregate = decodeStatistics(outcome.sum, spec, outcome.inputs.length);
      } catch (err) {
        if (!(err instanceof FlError)) throw err;
        attempt = await this.retryOrPause(`statistics phase: ${err.code} ${err.message}`, attempt);
        continue;
      }
      const preprocessing = combineStatistics(spec, [aggregate]);
      const record: AuditData<'statistics.secure'> = {
        job: this.job.id,
        contributors: outcome.inputs,
        sumSha256: ringDigest(outcome.sum),
        preprocessingSha256: sha256Hex(Buffer.from(canonicalJson(preprocessing), 'utf8')),
      };
      // Each site's rows are hidden in the sum: a site may claim up to the job's limit per site.
      await this.startTraining(preprocessing, outcome.inputs.length, {}, [], { unmasked: outcome.unmasked, statistics: record });
      return;
    }
  }

  /**
   * The categories of the features that declare none (shared/src/secagg/vocabulary.ts):
   * a presence round, then a values round over the buckets held by enough
   * sites; recorded, and kept for the attempts of round 0 that follow. The job
   * as round 0 sees it, with the sites that took part; or the attempt count to
   * go on from.
   */
  private async gatherVocabularies(participants: string[], attempt: number): Promise<{ spec: JobSpec; participants: string[] } | { attempt: number }> {
    const { spec } = this.job;
    if (gatheredFeatures(spec).length === 0) return { spec, participants };
    const presence = await this.vectorRound(-2, participants, spec, { words: presenceWords(spec), width: 1, advertise: { spec } }, attempt);
    if ('attempt' in presence) return presence;
    const decoded = async <T>(read: () => T): Promise<T | { attempt: number }> => {
      try {
        return read();
      } catch (err) {
        if (!(err instanceof FlError)) throw err;
        return { attempt: (await this.retryOrPause(`statistics phase (vocabularies): ${err.code} ${err.message}`, attempt)) };
      }
    };
    const frequent = await decoded(() => frequentBuckets(presence.sum, spec, presence.inputs.length));
    if ('attempt' in frequent) return frequent;
    const holders = presence.inputs.map((i) => i.participant);
    const values = await this.vectorRound(-1, holders, spec, { words: valueWords(spec, frequent), width: 1, advertise: { spec, frequentBuckets: frequent } }, attempt);
    if ('attempt' in values) return values;
    const revealed = await decoded(() => gatheredValues(values.sum, spec, frequent));
    if ('attempt' in revealed) return revealed;
    if (revealed.dropped > 0) this.deps.log('warn', `job ${this.job.id}: ${revealed.dropped} vocabulary buckets held different values and were dropped; more buckets would keep them`);
    const record: AuditData<'vocabulary.secure'> = {
      job: this.job.id,
      presence: { contributors: presence.inputs, sumSha256: ringDigest(presence.sum) },
      values: { contributors: values.inputs, sumSha256: ringDigest(values.sum) },
      frequentBuckets: frequent,
      categories: revealed.categories,
    };
    await this.deps.store.transaction(async () => {
      await this.deps.audit.append('secagg.unmasked', 'coordinator', presence.unmasked);
      await this.deps.audit.append('secagg.unmasked', 'coordinator', values.unmasked);
      await this.deps.audit.append('vocabulary.secure', 'coordinator', record);
    });
    this.gathered = withCategories(spec, revealed.categories);
    const kept = revealed.categories.reduce((n, c) => n + c.length, 0);
    this.deps.log('info', `job ${this.job.id}: gathered ${kept} categories held by at least ${spec.secureAggregation!.vocabulary!.minSites} sites`);
    return { spec: this.gathered, participants: values.inputs.map((i) => i.participant) };
  }

  /** The job with the categories its last vocabulary.secure record holds, gathered by an earlier run; undefined when none is recorded. */
  private async recordedVocabularies(): Promise<JobSpec | undefined> {
    const { spec } = this.job;
    const gathered = gatheredFeatures(spec).length;
    if (gathered === 0) return undefined;
    const last = await this.lastRecord('vocabulary.secure');
    if (!last) return undefined;
    const data = AUDIT_DATA['vocabulary.secure'].safeParse((JSON.parse(last.text) as { data?: unknown }).data);
    if (!data.success || data.data.categories.length !== gathered) {
      throw new Error(`the audit log's vocabulary.secure record ${last.seq} of job ${this.job.id} does not hold the categories of its ${gathered} gathered features`);
    }
    this.deps.log('info', `job ${this.job.id}: took the categories gathered before from audit record ${last.seq}`);
    return withCategories(spec, data.data.categories);
  }

  /** One round of the secure statistics phase: the unmasked sum of the sites' vectors, or the attempt count to go on from. */
  private async vectorRound(
    round: number,
    participants: string[],
    spec: JobSpec,
    vector: NonNullable<SecureRoundHost['vector']>,
    attempt: number,
  ): Promise<Extract<SecureOutcome, { kind: 'sum' }> | { attempt: number }> {
    const outcome = await runSecureRound(await this.secureHost(round, undefined, spec, vector), round, participants);
    if (outcome.kind === 'restart') return { attempt: attempt - 1 };
    if (outcome.kind !== 'sum' || this.control !== 'run') return { attempt: (await this.secureShort(outcome, 'statistics phase', attempt)) };
    return outcome;
  }

  /**
   * The statistics are in: the preprocessing, the sites that reported, those
   * left out, and the initial model are stored in one transaction with their
   * audit records; training may start.
   */
  private async startTraining(
    preprocessing: Preprocessing,
    sites: number,
    reportedRows: Record<string, number>,
    excluded: Exclusion[],
    secure?: { unmasked: AuditData<'secagg.unmasked'>; statistics: AuditData<'statistics.secure'> },
  ): Promise<void> {
    // Those left out during the phase (their privacy budget spent) stay out, beside those its statistics leave out.
    const admission = { reportedRows, excluded: [...this.excluded.values(), ...excluded.map(({ participant, reason, code }) => ({ participant, reason, code }))] };
    this.reportedRows = new Map(Object.entries(reportedRows));
    this.excluded = new Map(admission.excluded.map((e) => [e.participant, e]));
    this.nonces.clear();
    const initial = initialParameters(modelShape(this.job, preprocessing));
    const sha256 = sha256Hex(encodeWeights(initial));
    const model = { job: this.job.id, round: 0, sha256, weights: initial, createdAt: this.deps.clock.now() };
    await this.deps.store.transaction(async () => {
      await this.deps.store.beginTraining(this.job.id, preprocessing, admission, model);
      for (const e of excluded) await this.deps.audit.append('statistics.excluded', 'coordinator', { job: this.job.id, ...e });
      if (secure) {
        await this.deps.audit.append('secagg.unmasked', 'coordinator', secure.unmasked);
        await this.deps.audit.append('statistics.secure', 'coordinator', secure.statistics);
      }
      const data = { job: this.job.id, round: 0 as const, sha256, size: initial.length };
      await this.deps.audit.append('model.initial', 'coordinator', { ...data, signature: this.deps.identity.sign('model', initialModelAttestation(data)) });
    });
    await this.refresh();
    this.model = model;
    this.deps.log('info', `job ${this.job.id}: statistics from ${sites} participants${secure ? ' (a secure sum)' : ''}, ${preprocessing.rows} rows, ${preprocessing.inputDim} inputs`);
    this.notifyStatus();
  }

  private async trainingRound(round: number): Promise<void> {
    const { spec } = this.job;
    // The model committed last, kept since its commit: read from the store only after a restart.
    const global = (this.model ??= (await this.deps.store.getModel(this.job.id))!);
    const bytes = encodeWeights(global.weights);
    const { state, revoked } = await this.startingState(round);
    for (let attempt = 1; ; attempt++) {
      const instructions = this.strategy.configureTrain(round, await this.waitForParticipants(), state);
      const selected = instructions.participants;
      await this.setStatus('training');
      if (this.job.spec.secureAggregation) {
        const done = await this.secureRound(round, attempt, selected, global, bytes, state, revoked, instructions);
        if (done === 'restart') attempt--;
        else if (done === 'committed') return;
        else attempt = done;
        continue;
      }
      const startedAt = this.deps.clock.now();
      const collection = new ReplyCollection<AcceptedUpdate>(new Set(selected), this.deadline(), this.deps.clock);
      // Central DP: the strategy takes the clipped updates' noisy mean as the round's one update; a fresh seed each fold.
      let central: { dp: NonNullable<JobSpec['dp']>; seed: Uint8Array } | undefined;
      const begin = (): RoundAggregation => {
        central = spec.dp && !spec.secureAggregation ? { dp: spec.dp, seed: new Uint8Array(randomBytes(32)) } : undefined;
        const aggregation = this.strategy.aggregateTrain(global.weights, state);
        return central ? centralAggregation(aggregation, global.weights, central) : aggregation;
      };
      // The model sent is the previous round's: its evaluation, when due, travels with this exchange.
      const evaluate = round > 1 && this.evaluationDue(round - 1);
      const header = { ...(await this.modelHeader(round, global.sha256, collection.deadline)), type: 'train' as const, evaluate };
      const evaluations = new Map<string, HeldOutEvaluation>();
      const phase: TrainingPhase = {
        kind: 'training',
        round,
        collection,
        aggregation: begin(),
        size: global.weights.length,
        modelSha256: global.sha256,
        evaluate,
        evaluations,
        ...this.asking('train', this.trainMessages(header, bytes, instructions)),
      };
      if (await this.runPhase(phase)) {
        attempt--;
        continue;
      }
      let result = phase.aggregation.result();
      let refused = false;
      while (result && this.commits(phase)) {
        const previous = this.lastRound;
        // Set before the commit's I/O, so that a repeat arriving meanwhile is already a duplicate.
        this.lastRound = { round, contributors: new Set(collection.replies.keys()) };
        // The engine names the new model and state by their bytes, whatever the strategy.
        const sha256 = sha256Hex(encodeWeights(result.weights));
        const stateBytes = encodeState(result.state);
        const record: RoundRecord = {
          job: this.job.id,
          round,
          startedAt,
          closedAt: this.deps.clock.now(),
          selected,
          contributors: [...collection.replies].map(([participant, { numSamples }]) => ({ participant, numSamples })),
          failures: [...collection.failures].map(([participant, failure]) => ({ participant, ...failure })),
          metrics: result.metrics,
          attempts: attempt,
          modelSha256: sha256,
          evaluation: null,
        };
        // The previous round's evaluation, which came with this round's updates, goes in the same transaction.
        const evaluated = evaluations.size > 0 ? { round: round - 1, evaluation: this.strategy.aggregateEvaluate(evaluations) } : undefined;
        if (!(await this.commit(record, result.weights, { sha256: sha256Hex(stateBytes), bytes: stateBytes }, revoked, global.sha256, collection.replies, evaluated, undefined, central?.seed))) {
          this.lastRound = previous;
          // A contributor was revoked meanwhile, on this replica or another: the others' updates, recorded, count without its.
          refused = !this.withoutRevoked(phase, begin);
          result = refused ? null : phase.aggregation.result();
          continue;
        }
        // Older frames are refused by round from now on; only this round's nonces need remembering.
        this.nonces.clear();
        this.model = { job: this.job.id, round, sha256, weights: result.weights, createdAt: record.closedAt };
        this.strategyState = result.state;
        // What the commit changed, without reading back (and parsing) the whole job.
        this.job = { ...this.job, round, updatedAt: record.closedAt };
        const shown = Object.entries(record.metrics).map(([k, v]) => `${k} ${v.toFixed(4)}`).join(', ');
        this.deps.log('info', `job ${this.job.id} round ${round}/${spec.rounds}: ${collection.replies.size}/${selected.length} updates; ${shown}`, { round });
        if (evaluated) await this.notifyEvaluation(evaluated.round);
        this.deps.notify({ type: 'round', job: this.job.id, round: record });
        return;
      }
      if (refused) {
        this.deps.log('warn', `job ${this.job.id}: starting round ${round} again: an update to fold again without the revoked was not retained`);
        attempt--;
      } else attempt = await this.belowMinimum(`round ${round}`, attempt, collection);
    }
  }

  /**
   * Takes the updates of the participants revoked meanwhile out of a closed
   * round: they move to its failures (REVOKED) and the others are folded again,
   * in the order they came, into a new aggregation. False, changing nothing,
   * when the bytes of one of the others were not retained: the round must then
   * start again.
   */
  private withoutRevoked(phase: TrainingPhase, begin: () => RoundAggregation): boolean {
    const { collection, evaluations } = phase;
    const kept = [...collection.replies].filter(([participant]) => !this.revoked.has(participant));
    if (kept.some(([, update]) => !update.retained)) return false;
    for (const participant of collection.replies.keys()) {
      if (!this.revoked.has(participant)) continue;
      collection.withdraw(participant, 'revoked while its update waited to be recorded', 'REVOKED');
      evaluations.delete(participant);
    }
    const aggregation = begin();
    for (const [participant, { numSamples, metrics, retained }] of kept) aggregation.add({ participant, weights: decodeWeights(retained!)!, numSamples, metrics });
    phase.aggregation = aggregation;
    return true;
  }

  /**
   * A round under secure aggregation (rounds/secagg): its steps run as phases;
   * the unmasked sum moves the global model by the weighted mean update, which
   * the strategy then takes as the round's one update. Returns 'committed',
   * 'restart' (a pause cut it short), or the attempt count after a short round.
   */
  private async secureRound(
    round: number,
    attempt: number,
    selected: string[],
    global: ModelVersion,
    bytes: Uint8Array,
    state: StrategyState,
    revoked: readonly string[],
    instructions: TrainInstructions,
  ): Promise<'committed' | 'restart' | number> {
    const startedAt = this.deps.clock.now();
    const outcome = await runSecureRound(await this.secureHost(round, { global, bytes, instructions }), round, selected);
    if (outcome.kind === 'restart') return 'restart';
    if (outcome.kind === 'short' || this.control !== 'run') return await this.secureShort(outcome, `round ${round}`, attempt);
    const { weights, weight } = secureUpdate(global.weights, outcome.sum, outcome.quantization!);
    const aggregation = this.strategy.aggregateTrain(global.weights, state);
    aggregation.add({ participant: SECURE_SUM, weights, numSamples: weight, metrics: {} });
    const result = aggregation.result()!;
    const previous = this.lastRound;
    this.lastRound = { round, contributors: new Set(outcome.inputs.map((i) => i.participant)) };
    const sha256 = sha256Hex(encodeWeights(result.weights));
    const stateBytes = encodeState(result.state);
    const record: RoundRecord = {
      job: this.job.id,
      round,
      startedAt,
      closedAt: this.deps.clock.now(),
      selected,
      // Each site's sample count is hidden in the sum.
      contributors: outcome.inputs.map(({ participant }) => ({ participant, numSamples: 0 })),
      // Those that failed any step, with their code: a party that refused to share its keys is no less a failure than one that sent no input.
      failures: [...outcome.failures].map(([participant, failure]) => ({ participant, ...failure })),
      metrics: result.metrics,
      attempts: attempt,
      modelSha256: sha256,
      evaluation: null,
    };
    const replies = new Map(outcome.inputs.map(({ participant, sha256: masked }) => [participant, { numSamples: 0, sha256: masked }]));
    if (!(await this.commit(record, result.weights, { sha256: sha256Hex(stateBytes), bytes: stateBytes }, revoked, global.sha256, replies, undefined, { unmasked: outcome.unmasked, weight }))) {
      this.lastRound = previous;
      return 'restart';
    }
    this.nonces.clear();
    this.model = { job: this.job.id, round, sha256, weights: result.weights, createdAt: record.closedAt };
    this.strategyState = result.state;
    this.job = { ...this.job, round, updatedAt: record.closedAt };
    this.deps.log('info', `job ${this.job.id} round ${round}/${this.job.spec.rounds}: secure sum of ${outcome.inputs.length}/${selected.length} masked inputs, weight ${weight}`, { round });
    this.deps.notify({ type: 'round', job: this.job.id, round: record });
    return 'committed';
  }

  /**
   * What a secure round runs its steps with: each step a phase of this job;
   * a training round's masked inputs are asked with its train requests.
   */
  private async secureHost(
    round: number,
    train?: { global: ModelVersion; bytes: Uint8Array; instructions: TrainInstructions },
    spec = this.job.spec,
    vector?: SecureRoundHost['vector'],
  ): Promise<SecureRoundHost> {
    let deadline = this.deadline();
    // The participants' keys, read once: the secure round asks for them while it checks replies.
    const keys = new Map((await this.deps.store.listParticipants()).map((p) => [p.name, p.publicKey]));
    return {
      job: this.job.id,
      spec: spec as JobSpec & { secureAggregation: SecureAggregationSpec },
      size: train?.global.weights.length ?? 0,
      vector,
      runStep: async (step, participants, check, ask) => {
        deadline = this.deadline();
        const collection = new ReplyCollection<SecureReply>(new Set(participants), deadline, this.deps.clock);
        let asking: Asking;
        if (ask.event === 'train') {
          const { global, bytes, instructions } = train!;
          const header = { ...(await this.modelHeader(round, global.sha256, deadline)), type: 'train' as const, evaluate: false };
          const messages = this.trainMessages(header, bytes, instructions);
          asking = this.asking('train', (participant) => {
            const base = messages(participant);
            const signed = { ...base.header, secagg: { shares: ask.shares(participant) } };
            return { ...base, header: signed, signature: this.deps.identity.sign('train', signed) };
          });
        } else {
          asking = this.asking('secagg-request', ask.messageFor);
        }
        return (await this.runPhase({ kind: 'secagg', round, step, collection, check, ...asking })) ? null : collection;
      },
      sign: (header) => this.deps.identity.sign('secagg-request', header),
      identityKey: (participant) => identityKeyOf(keys.get(participant)),
      identityKeyText: (participant) => keys.get(participant),
      now: () => this.deps.clock.now(),
      deadline: () => deadline,
    };
  }

  /** A secure round that gave no sum (a step short of the minimum, a threshold out of reach, or a pause or stop): the attempt count to go on from. */
  private async secureShort(outcome: Exclude<SecureOutcome, { kind: 'restart' }>, what: string, attempt: number): Promise<number> {
    // A reason names the code that failed the round, which a count of replies would hide.
    if (outcome.kind === 'short' && outcome.reason) return await this.retryOrPause(`${outcome.what} failed: ${outcome.reason}`, attempt);
    return await this.belowMinimum(outcome.kind === 'short' ? outcome.what : what, attempt, outcome.collection as ReplyCollection<unknown>);
  }

  /**
   * Commits a round in one transaction: its record, the new global model and
   * strategy state, the records of the updates it is made of (deferred until
   * now), the audit record that attests it (the strategy, its state's digest and
   * the contributors in the order they were folded in, which recomputing the
   * aggregate needs, and the participants whose part of the state it dropped),
   * the retention policy, and the evaluation of an earlier round's model that
   * came with its updates. False when a contributor was
   * revoked meanwhile: nothing of the round is written but the others' update
   * records, and the caller folds it again without the revoked (unlessRevoked).
   */
  private async commit(
    record: RoundRecord,
    weights: Float32Array,
    state: StoredStrategyState,
    revoked: readonly string[],
    previous: string,
    replies: ReadonlyMap<string, Contribution>,
    evaluated?: { round: number; evaluation: RoundEvaluation },
    secure?: { unmasked: AuditData<'secagg.unmasked'>; weight: number },
    noiseSeed?: Uint8Array,
  ): Promise<boolean> {
    const { job, round, modelSha256: sha256 } = record;
    const { store, audit, identity, retention } = this.deps;
    return await this.unlessRevoked(() => store.transaction(async () => {
      await store.commitRound(record, { job, round, sha256, weights, createdAt: record.closedAt }, state);
      if (evaluated) await store.setRoundEvaluation(job, evaluated.round, evaluated.evaluation);
      const contributors = [...replies].map(([participant, { numSamples, sha256 }]) => ({ participant, numSamples, sha256 }));
      if (secure) await audit.append('secagg.unmasked', 'coordinator', secure.unmasked);
      // Central DP's seed stays with the retained updates, which reveal as much; the log commits to it.
      const seedSha256 = noiseSeed && sha256Hex(noiseSeed);
      if (noiseSeed && seedSha256 && retention.rounds !== 0) await store.retainUpdate({ job, round, participant: CENTRAL_NOISE, sha256: seedSha256, weights: noiseSeed });
      const data = {
        job,
        round,
        sha256,
        previous,
        contributors,
        strategy: this.strategy.spec,
        stateSha256: state.sha256,
        ...(revoked.length > 0 && { revoked: [...revoked] }),
        ...(secure && { secure: { weight: secure.weight } }),
        ...(seedSha256 && { centralNoise: { seedSha256 } }),
      };
      await audit.append('model.committed', 'coordinator', { ...data, signature: identity.sign('model', modelAttestation(data)) });
      const throughRound = retention.rounds === undefined ? 0 : round - retention.rounds;
      if (throughRound > 0) {
        await store.pruneUpdates(job, throughRound);
        await audit.append('updates.pruned', 'coordinator', { job, throughRound });
      }
    }));
  }

  /**
   * Runs a write of the run's deferred records; false when some could not be
   * written (ParticipantsRevoked): the revoked take no further part, the
   * others' records are written (their sites hold them as acknowledged), and
   * the caller leaves the revoked's contributions out of the phase.
   */
  private async unlessRevoked(write: () => Promise<void>): Promise<boolean> {
    let refused = false;
    for (;;) {
      try {
        await write();
        return !refused;
      } catch (err) {
        if (!(err instanceof ParticipantsRevoked)) throw err;
        for (const p of err.participants) this.revoked.add(p);
        this.deps.log('warn', `job ${this.job.id}: ${err.code} ${err.message}`);
        refused = true;
        write = () => this.deps.audit.flush();
      }
    }
  }

  /**
   * Opens a phase: asks every selected participant (the unreachable fail at
   * once) and waits until it closes. True when a pause cut it short and the
   * caller must start it again.
   */
  private async runPhase(phase: Phase): Promise<boolean> {
    // Halted, stopped or paused while the phase got ready (its reads are awaited): nothing is asked that cannot be committed.
    if (this.halted || this.control !== 'run') {
      await this.interrupted();
      return true;
    }
    this.phase = phase;
    for (const p of phase.askAll(phase.collection.selected)) phase.collection.fail(p, 'offline');
    await phase.collection.closed;
    this.phase = null;
    // What was accepted is recorded whatever becomes of the phase: committed, started again, or stopped.
    // Not when the coordinator shuts down: like a crash, that drops the round, which starts again.
    // A training round that commits writes them in its commit's transaction (commit()): one, not two.
    const flushed = this.halted || this.commits(phase) || (await this.unlessRevoked(() => this.deps.audit.flush()));
    return (await this.interrupted()) || !flushed;
  }

  /** Whether a closed phase is a training round that commits, as trainingRound() decides. */
  private commits(phase: Phase): boolean {
    return phase.kind === 'training' && this.control === 'run' && !this.phaseCutShort && phase.collection.replies.size >= this.job.spec.minParticipants;
  }

  /**
   * One signed request for a phase, as the phase sends it, or one per
   * participant (a function of it): those given the same message object get it
   * encoded once. Train and evaluate requests name the job's setup: a connection
   * that has not had it yet gets it first (the channel keeps the order).
   */
  private asking<E extends 'statistics-request' | 'train' | 'evaluate' | 'secagg-request'>(
    event: E,
    message: Parameters<CoordinatorToAgentEvents[E]>[0] | ((participant: string) => Parameters<CoordinatorToAgentEvents[E]>[0]),
  ): Asking {
    const messageFor = typeof message === 'function' ? message : () => message;
    const args = (participant: string) => [messageFor(participant)] as Parameters<CoordinatorToAgentEvents[E]>;
    // Before the preprocessing is known (statistics, a secure job's round 0) there is no setup to name.
    const setup = event === 'statistics-request' || !this.job.preprocessing ? undefined : this.jobSetup();
    const { channel } = this.deps;
    // A site no statistics admitted is asked for them first (the channel keeps the order): they bound what it may claim.
    let statistics: StatisticsRequest | undefined;
    const statisticsFirst = (participants: string[]) => {
      const unadmitted = setup ? participants.filter((p) => this.unadmitted(p)) : [];
      if (unadmitted.length === 0) return;
      if (!statistics) {
        const header = { type: 'statistics-request' as const, job: this.job.id, spec: this.job.spec, issuedAt: this.deps.clock.now() };
        statistics = { header, signature: this.deps.identity.sign('statistics-request', header) };
      }
      channel.broadcast(unadmitted, 'statistics-request', statistics);
    };
    return {
      ask: (participant) => {
        if (setup) channel.provide([participant], setup.message, setup.digest);
        statisticsFirst([participant]);
        return channel.send(participant, event, ...args(participant));
      },
      askAll: (participants) => {
        const selected = [...participants];
        if (setup) channel.provide(selected, setup.message, setup.digest);
        statisticsFirst(selected);
        const groups = new Map<unknown, string[]>();
        for (const p of selected) {
          const m = messageFor(p);
          groups.set(m, [...(groups.get(m) ?? []), p]);
        }
        return [...groups.values()].flatMap((group) => channel.broadcast(group, event, ...args(group[0])));
      },
    };
  }

  /**
   * A round's train requests: the strategy's per-round config signed into each
   * header. One message per distinct config, signed once: for every strategy
   * but SCAFFOLD, whose correction is each site's own, one for all.
   */
  private trainMessages(base: TrainHeader, weights: Uint8Array, instructions: TrainInstructions): (participant: string) => TrainMessage {
    const messages = new Map<string, TrainMessage>();
    return (participant) => {
      const { proximalMu, correction } = instructions.config(participant);
      const correctionBytes = correction && encodeWeights(correction);
      const config = { ...(proximalMu !== undefined && { proximalMu }), ...(correctionBytes && { correctionSha256: sha256Hex(correctionBytes) }) };
      const key = canonicalJson(config);
      let message = messages.get(key);
      if (!message) {
        const header: TrainHeader = Object.keys(config).length > 0 ? { ...base, config } : base;
        message = { header, signature: this.deps.identity.sign('train', header), weights, ...(correctionBytes && { correction: correctionBytes }) };
        messages.set(key, message);
      }
      return message;
    };
  }

  /**
   * The state a round starts from: the committed one, without what it keeps of
   * participants revoked before that commit (SCAFFOLD's c_i: a site that no
   * longer takes part, perhaps for being dishonest, no longer steers the
   * others), whom the round's commit names for the audit to do the same. The
   * log alone decides it, so that the round asked again by another process (a
   * restart, a new leader) carries the config its sites trained it with, the
   * only one they accept: a revocation after that commit applies from the next
   * round (docs/adr/0044-scaffold-revocation-by-the-log.md). A revoked name is
   * never enrolled, registered or approved again, so no new key inherits its state.
   */
  private async startingState(round: number): Promise<{ state: StrategyState; revoked: string[] }> {
    const committed = await this.committedState();
    const held = participantsHeld(this.strategy.spec, committed);
    if (held.length === 0) return { state: committed, revoked: [] };
    const revoked = await this.revokedParticipants();
    const dropped = await this.revokedBefore(held.filter((p) => revoked.has(p)), round - 1);
    return { state: withoutParticipants(this.strategy.spec, committed, dropped), revoked: dropped };
  }

  /**
   * Of these participants, those whose revocation the log holds before the
   * commit of `round`, sorted: the log's order is the order in which the store
   * wrote both, which no replica's clock can change.
   */
  private async revokedBefore(participants: readonly string[], round: number): Promise<string[]> {
    if (participants.length === 0) return [];
    const last = await this.lastRecord('model.committed');
    const committed = last && (JSON.parse(last.text) as { data: { round?: unknown } }).data.round;
    if (!last || committed !== round) throw new Error(`the audit log's last commit of job ${this.job.id} is not that of round ${round}, which the store holds as its last`);
    const dropped: string[] = [];
    for (const participant of participants) {
      const { records } = await this.deps.store.auditPage({ kinds: ['participant.revoked'], participant }, { after: 0, before: last.seq, limit: 1 });
      if (records.length > 0) dropped.push(participant);
    }
    return dropped.sort();
  }

  /** The job's last audit record of this kind, whichever process wrote it: the log is the one all replicas share. */
  private async lastRecord(kind: AuditKind): Promise<{ seq: number; text: string } | undefined> {
    const { store } = this.deps;
    // Records an earlier release wrote during a rolling upgrade are not indexed yet, and the filters read the index.
    await store.indexAudit();
    const head = await store.auditHead();
    const [last] = (await store.auditPage({ kinds: [kind], job: this.job.id }, { after: 0, before: (head?.seq ?? 0) + 1, limit: 1 })).records;
    return last;
  }

  /** Every participant revoked so far, by any replica or admin: the store's word, not only this run's. */
  private async revokedParticipants(): Promise<Set<string>> {
    return new Set((await this.deps.store.listParticipants()).filter((p) => p.status === 'revoked').map((p) => p.name));
  }

  /** The state the last committed round left the strategy in: kept since its commit, read from the store after a restart. */
  private async committedState(): Promise<StrategyState> {
    if (!this.strategyState) {
      const stored = await this.deps.store.getStrategyState(this.job.id);
      const state = stored ? decodeState(stored.bytes) : EMPTY_STATE;
      if (!state) throw new Error(`the stored strategy state of round ${stored!.round} cannot be read`);
      this.strategyState = state;
    }
    return this.strategyState;
  }

  private jobSetup(): { message: SetupMessage; digest: string } {
    if (!this.setup) {
      const preprocessing = this.job.preprocessing!;
      const header = { type: 'setup' as const, job: this.job.id, spec: this.job.spec, preprocessing, model: modelShape(this.job, preprocessing) };
      this.setup = { message: { header, signature: this.deps.identity.sign('setup', header) }, digest: setupDigest(header) };
    }
    return this.setup;
  }

  private async modelHeader(round: number, weightsSha256: string, deadline: number) {
    // The log's head goes out signed with every model: each site holds it against a later rewrite of the log.
    const auditHead = (await this.deps.store.auditHead())!;
    return { job: this.job.id, round, setup: this.jobSetup().digest, weightsSha256, deadline, issuedAt: this.deps.clock.now(), auditHead };
  }

  private evaluationDue(round: number): boolean {
    const every = this.job.spec.evaluateEvery;
    return every > 0 && (round % every === 0 || round === this.job.spec.rounds);
  }

  /**
   * The last round's evaluation, which has no next train exchange to travel
   * with: asks the online participants to evaluate the final global model on
   * their held-out rows; whatever comes back by the deadline is recorded with
   * the round, weighted by examples. Never retried, never fails the job.
   */
  private async evaluationPhase(round: number): Promise<void> {
    const model = this.model?.round === round ? this.model : (await this.deps.store.getModel(this.job.id, round))!;
    const bytes = encodeWeights(model.weights);
    // A pause cuts the phase short; after the resume it is asked again.
    for (;;) {
      const selected = this.strategy.configureEvaluate(round, this.eligible());
      if (selected.length === 0) return;
      const collection = new ReplyCollection<HeldOutEvaluation>(new Set(selected), this.deadline(), this.deps.clock);
      const header = { ...(await this.modelHeader(round, model.sha256, collection.deadline)), type: 'evaluate' as const };
      const signature = this.deps.identity.sign('evaluate', header);
      const asking = this.asking('evaluate', { header, signature, weights: bytes });
      if (await this.runPhase({ kind: 'evaluation', round, collection, modelSha256: model.sha256, ...asking })) continue;
      const failures = [...collection.failures].map(([participant, failure]) => ({ participant, ...failure }));
      // Stored when a site evaluated, or reported why it could not: what it said is kept, as a training round keeps it.
      if (collection.replies.size > 0 || failures.some((f) => f.code !== undefined)) {
        await this.deps.store.setRoundEvaluation(this.job.id, round, { ...this.strategy.aggregateEvaluate(collection.replies), ...(failures.length > 0 && { failures }) });
        await this.notifyEvaluation(round);
      }
      return;
    }
  }

  private async notifyEvaluation(round: number): Promise<void> {
    this.deps.notify({ type: 'evaluation', job: this.job.id, round: (await this.deps.store.getRound(this.job.id, round))! });
  }

  /**
   * A phase closed below the minimum: it starts again, and after the allowed
   * attempts the job pauses with the reason (an admin resumes it), never hangs.
   * Returns the attempt count the caller's loop continues from.
   */
  private async belowMinimum(what: string, attempt: number, collection: ReplyCollection<unknown>, admitted = collection.replies.size): Promise<number> {
    const { failures } = collection;
    const listed = failures.size > NAMED_FAILURES;
    // Too many to name in the job's error: each on a line of its own, which a participant's field lets an operator find.
    if (listed) for (const [participant, failure] of failures) this.deps.log('info', `job ${this.job.id} ${what}: ${failureText(participant, failure)}`, { participant });
    const where = listed ? "; each on a line of the coordinator's log" : '';
    return await this.retryOrPause(`${what} closed with ${admitted} replies, below the minimum of ${this.job.spec.minParticipants} (${summarizeFailures(failures)}${where})`, attempt);
  }

  /**
   * A phase that gave nothing to commit starts again; after the allowed attempts the job pauses with the reason.
   * The job stops instead when too few sites are left with privacy budget (stopIfBudgetsSpent).
   */
  private async retryOrPause(message: string, attempt: number): Promise<number> {
    await this.stopIfBudgetsSpent();
    if (attempt < this.deps.maxRoundAttempts) {
      this.deps.log('warn', `job ${this.job.id}: ${message}; starting it again`);
      return attempt;
    }
    this.deps.log('warn', `job ${this.job.id} paused: ${message}, after ${attempt} attempts`);
    this.control = 'pause';
    await this.setStatus('paused', `${message}, after ${attempt} attempts`);
    return 0;
  }

  private deadline(): number {
    return this.deps.clock.now() + this.job.spec.roundDeadlineSeconds * 1000;
  }

  /**
   * The participants a phase selects: once the minimum is online, and after
   * waiting up to `reconnectWaitSeconds` for those the last selection asked that
   * are offline now, e.g. an agent that restarted mid-round and is on its way back.
   */
  private async waitForParticipants(): Promise<string[]> {
    const reconnectBy = this.deps.clock.now() + (this.deps.reconnectWaitSeconds ?? 0) * 1000;
    let told = false;
    /** participants revoked, read once some are away: one revoked will not be back */
    let gone: ReadonlySet<string> | undefined;
    for (;;) {
      await this.interrupted();
      await this.storeAdmission();
      const online = this.eligible();
      if (online.length >= this.job.spec.minParticipants) {
        const here = new Set(online);
        const away = this.lastSelection.filter((p) => !here.has(p) && !this.excluded.has(p) && !this.revoked.has(p) && !gone?.has(p));
        const left = reconnectBy - this.deps.clock.now();
        if (away.length > 0 && left > 0 && !gone) {
          gone = await this.revokedParticipants();
          // Looked at again after the read, before waiting: a participant that connected meanwhile woke no one.
          continue;
        }
        if (away.length === 0 || left <= 0) {
          if (told && away.length > 0) this.deps.log('info', `job ${this.job.id}: going on without ${away.join(', ')}, not back within ${this.deps.reconnectWaitSeconds} s`);
          this.lastSelection = online;
          return online;
        }
        if (!told) this.deps.log('info', `job ${this.job.id}: waiting up to ${this.deps.reconnectWaitSeconds} s for ${away.join(', ')} to connect again`);
        told = true;
        // Woken by a participant connecting, a shutdown, a stop or a pause, or when the time is up.
        const timer = this.deps.clock.setTimeout(() => this.wake(), left);
        await new Promise<void>((resolve) => this.waiters.push(resolve));
        this.deps.clock.clearTimeout(timer);
        continue;
      }
      // Sites left out for their spent privacy budget will not be back: the job stops rather than waits for ever.
      await this.stopIfBudgetsSpent();
      await this.setStatus('waiting');
      // A participant, a shutdown, a stop or a pause that came while the status was written woke no one: looked at again before waiting.
      if (this.halted || this.control !== 'run' || this.eligible().length >= this.job.spec.minParticipants) continue;
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  /** Stores the sites admitted or left out since the statistics phase: from the run, fenced as its other writes; lost to a crash, a site is only asked again. */
  private async storeAdmission(): Promise<void> {
    if (!this.admissionChanged) return;
    this.admissionChanged = false;
    await this.deps.store.updateJob(this.job.id, { admission: { reportedRows: Object.fromEntries(this.reportedRows), excluded: [...this.excluded.values()] } });
  }

  /** The online participants a phase may select: those the statistics phase left out, or revoked meanwhile, take no further part in the job. */
  private eligible(): string[] {
    return this.deps.channel.online().filter((p) => !this.excluded.has(p) && !this.revoked.has(p)).sort();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const resolve of waiters) resolve();
  }

  /**
   * Called whenever the run may block or has just closed a phase. Throws to end
   * the run on shutdown or stop; while paused, waits, then returns true so that
   * the caller starts its phase again.
   */
  private async interrupted(): Promise<boolean> {
    if (this.halted) throw new Halted();
    if (this.control === 'stop') {
      await this.setStatus('stopped');
      this.announceEnd();
      this.deps.log('info', `job ${this.job.id} stopped at round ${this.job.round}`);
      throw new Halted();
    }
    // A phase that pause() cut short starts again, even when resume() came before we got here.
    const restart = this.phaseCutShort;
    this.phaseCutShort = false;
    if (this.control !== 'pause') return restart;
    if (this.job.status !== 'paused') await this.setStatus('paused');
    this.deps.log('info', `job ${this.job.id} paused at round ${this.job.round}`);
    while (this.control === 'pause' && !this.halted) await new Promise<void>((resolve) => (this.resumed = resolve));
    this.resumed = undefined;
    await this.interrupted();
    return true;
  }

  private announceEnd(): void {
    for (const p of this.deps.channel.online()) {
      this.deps.channel.send(p, 'job-finished', { job: this.job.id, status: this.job.status, rounds: this.job.round });
    }
  }

  /**
   * The job's status as it runs: in memory at once (what the run decides next
   * reads it), stored before the status is announced.
   */
  private async setStatus(status: JobStatus, error: string | null = null): Promise<void> {
    if (this.job.status === status && this.job.error === error) return;
    this.job = { ...this.job, status, error, updatedAt: this.deps.clock.now() };
    await this.deps.store.updateJob(this.job.id, { status, error });
    this.notifyStatus();
  }

  private notifyStatus(): void {
    this.deps.notify({ type: 'status', job: this.job.id, status: this.job.status, error: this.job.error });
  }

  private async refresh(): Promise<void> {
    this.job = withDefaults((await this.deps.store.getJob(this.job.id))!);
  }
}

/**
 * A stored job with the fields its spec gained since it was stored filled in
 * (a strategy, FedAvg): what is signed into its setup is then what agents parse.
 */
function withDefaults(job: JobRecord): JobRecord {
  return job.spec.strategy === undefined ? { ...job, spec: { ...job.spec, strategy: DEFAULT_STRATEGY } } : job;
}

/**
 * A round's aggregation under central differential privacy: the updates are
 * kept, then clipped, summed and noised (centralUpdate) into one update the
 * strategy aggregates, as a secure round's unmasked sum is. The round's metrics
 * are the sites' own, which the coordinator sees in this mode.
 */
function centralAggregation(strategy: RoundAggregation, global: Float32Array, central: { dp: { noiseMultiplier: number; clipNorm: number }; seed: Uint8Array }): RoundAggregation {
  const updates: ClientUpdate[] = [];
  return {
    add: (update) => updates.push(update),
    result: () => {
      if (updates.length === 0) return null;
      const { weights, weight } = centralUpdate(global, updates.map((u) => u.weights), central.dp, central.seed);
      strategy.add({ participant: CENTRAL_SUM, weights, numSamples: weight, metrics: {} });
      const result = strategy.result();
      return result && { ...result, metrics: cappedMeans(updates.map((u) => ({ metrics: u.metrics, count: u.numSamples }))) };
    },
  };
}
