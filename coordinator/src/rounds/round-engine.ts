/**
 * The round engine: creates jobs, runs each one, and receives what agents send.
 * Every inbound message starts as `unknown` and passes the checks in the
 * protocol's order; a refusal is an ack with a code, never an exception, so one
 * participant's bad frame cannot disturb the round or anyone else.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import {
  ackError,
  decodePublicKey,
  decodeWeights,
  describeZodError,
  epsilonAfter,
  EvaluationMessageSchema,
  FailureMessageSchema,
  SecAggReplySchema,
  FlError,
  JobSpecSchema,
  StatisticsMessageSchema,
  toBytes,
  UpdateMessageSchema,
  verifyHeader,
  withinBudget,
  type Ack,
} from '@fl/shared';
import type { z } from 'zod';
import type { Clock } from '../core/clock';
import type { LogFields } from '../logger';
import type { CoordinatorIdentity } from '../identity/identity';
import type { Fence, JobRecord, Store } from '../storage/store';
import type { AgentChannel } from './agent-channel';
import type { AuditLog } from '../audit/audit-log';
import { JobRun, type AgentHeader, type JobEvent, type UpdateRetention } from './job-run';
import { statusRefusal } from '../participants/handshake';
import { InProcessLeaderElection, LeadershipLost, type LeaderElection, type Leadership } from '../cluster/leader-election';
import type { AgentEvent } from '../cluster/agent-relay';
import type { JobControl } from '../cluster/shared-state';
import { zodRefusal } from '../validation';

export interface RoundEngineOptions {
  store: Store;
  channel: AgentChannel;
  identity: CoordinatorIdentity;
  audit: AuditLog;
  retention: UpdateRetention;
  maxRoundAttempts: number;
  /** how long a round's selection waits for the participants the previous one asked that are offline now; default 0, none */
  reconnectWaitSeconds?: number;
  /** applied to jobs that leave them out */
  jobDefaults: { minParticipants: number; roundDeadlineSeconds: number };
  log: (level: 'info' | 'warn' | 'error', message: string, fields?: LogFields) => void;
  clock: Clock;
  /** who runs each job; default: this process, always */
  leadership?: LeaderElection;
  /** with replicas: a message for a job this replica does not run goes to the one that does, whose answer is the ack */
  relay?: (participant: string, event: AgentEvent, body: unknown) => Promise<Ack>;
  /** with replicas: an admin's control of an active job this replica does not run, for the replica that runs it */
  controlElsewhere?: (job: string, action: JobControl, actor: string) => void;
}


const ACTIVE: JobRecord['status'][] = ['waiting', 'statistics', 'training', 'paused'];

export class RoundEngine {
  /** 'job' events: JobEvent */
  readonly events = new EventEmitter();
  private readonly runs = new Map<string, JobRun>();
  /** the epoch each run's writes are checked against, where the store checks them (store.fenced) */
  private readonly fences = new Map<string, Fence>();
  private readonly finished = new Map<string, Promise<void>>();
  /** each job's last control asked, which the next one waits for */
  private readonly controls = new Map<string, Promise<unknown>>();
  private readonly leadership: LeaderElection;
  /** jobs whose leadership is being asked for */
  private readonly contending = new Set<string>();
  private stopped = false;

  constructor(private readonly options: RoundEngineOptions) {
    this.leadership = options.leadership ?? new InProcessLeaderElection();
  }

  /**
   * Runs the active jobs this replica can lead and does not run yet: at start,
   * the jobs that were running when it stopped; called again from time to time
   * with replicas, to take over the jobs of a leader that went away.
   */
  async resume(): Promise<void> {
    for (const job of await this.options.store.listJobs()) if (ACTIVE.includes(job.status)) this.lead(job);
  }

  /** Jobs this replica runs now. */
  get led(): number {
    return this.runs.size;
  }

  /** Creates a job and starts it; `actor` is who asked, for the audit log. */
  async createJob(body: unknown, actor: string): Promise<JobRecord> {
    const withDefaults = body && typeof body === 'object' && !Array.isArray(body) ? { ...this.options.jobDefaults, ...body } : body;
    const parsed = JobSpecSchema.safeParse(withDefaults);
    if (!parsed.success) throw zodRefusal(parsed.error);
    const { dp } = parsed.data;
    // Such a job would stop before its first round, after its statistics phase had asked every site: refused now.
    if (dp && !withinBudget(dp, 1)) {
      throw new FlError(
        'VALIDATION_FAILED',
        `dp.epsilonBudget: ${dp.epsilonBudget} is below the ε of one round, ${epsilonAfter(dp, 1).toFixed(3)} at noiseMultiplier ${dp.noiseMultiplier} and δ ${dp.delta}: the job could never train (raise the budget or the noise)`,
      );
    }
    const now = this.options.clock.now();
    const job: JobRecord = {
      id: randomUUID(),
      spec: parsed.data,
      status: 'waiting',
      preprocessing: null,
      round: 0,
      error: null,
      admission: { reportedRows: {}, excluded: [] },
      createdAt: now,
      updatedAt: now,
    };
    await this.options.store.transaction(async () => {
      await this.options.store.addJob(job);
      await this.options.audit.append('job.created', actor, { job: job.id, spec: job.spec as unknown as Record<string, unknown> });
    });
    this.lead(job);
    return job;
  }

  /** Resolves when the job has ended (completed, failed, or the engine stopped). */
  whenFinished(job: string): Promise<void> {
    return this.finished.get(job) ?? Promise.resolve();
  }

  participantOnline(participant: string): void {
    for (const run of this.runs.values()) run.participantOnline(participant);
  }

  participantOffline(participant: string): void {
    for (const run of this.runs.values()) run.participantOffline(participant);
  }

  async submitStatistics(participant: string, body: unknown): Promise<Ack> {
    return this.receive(participant, 'statistics', body, StatisticsMessageSchema, (run, { header }) => run.submitStatistics(participant, header));
  }

  async submitEvaluation(participant: string, body: unknown): Promise<Ack> {
    return this.receive(participant, 'evaluation', body, EvaluationMessageSchema, (run, { header }) => run.submitEvaluation(participant, header));
  }

  async submitFailure(participant: string, body: unknown): Promise<Ack> {
    return this.receive(participant, 'failure', body, FailureMessageSchema, (run, { header }) => run.submitFailure(participant, header));
  }

  /** A secure-aggregation step's answer or masked input (coordinator/src/rounds/secagg). */
  async submitSecAgg(participant: string, body: unknown): Promise<Ack> {
    return this.receive(participant, 'secagg', body, SecAggReplySchema, (run, message) =>
      run.submitSecAgg(participant, message.header, message.signature, message.masked === undefined ? undefined : toBytes(message.masked)),
    );
  }

  async submitUpdate(participant: string, body: unknown): Promise<Ack> {
    return this.receive(
      participant,
      'update',
      body,
      UpdateMessageSchema,
      (run, message) => {
        const bytes = toBytes(message.weights);
        const weights = decodeWeights(bytes);
        if (!weights) return ackError('WRONG_SHAPE', 'the weights are not a whole number of float32 values');
        return run.submitUpdate(participant, message.header, message.signature, bytes, weights);
      },
    );
  }

  /** Whether this replica runs the job now: a message relayed for another job is not this replica's to read. */
  leads(job: string): boolean {
    return this.runs.has(job);
  }

  /** A message an agent connected to another replica sent, for a job this one runs (the relay asked leads() first). */
  async relayed(participant: string, event: AgentEvent, body: unknown): Promise<Ack> {
    const submit = { statistics: this.submitStatistics, update: this.submitUpdate, evaluation: this.submitEvaluation, failure: this.submitFailure, secagg: this.submitSecAgg }[event];
    return submit.call(this, participant, body);
  }

  /**
   * The checks every agent message passes, in the protocol's order: schema,
   * the connection's participant (registered, not revoked, the one the header
   * names), the job, the nonce; then what the job awaits from this participant,
   * from the header alone; only then the signature under the connection's key,
   * which costs in proportion to the header, and the job run's checks of the
   * content. A message nobody awaits is refused without its signature checked,
   * so an enrolled site cannot make the coordinator canonicalize megabytes of
   * junk at will.
   */
  private async receive<M extends { header: AgentHeader; signature: string }>(
    participant: string,
    event: AgentEvent,
    body: unknown,
    schema: z.ZodType<M>,
    handle: (run: JobRun, message: M) => Ack,
  ): Promise<Ack> {
    try {
      const parsed = schema.safeParse(body);
      if (!parsed.success) return ackError('INVALID_FRAME', describeZodError(parsed.error));
      const { header, signature } = parsed.data;
      const record = await this.options.store.getParticipant(participant);
      if (!record) return ackError('UNKNOWN_PARTICIPANT', `participant ${participant} is not registered`);
      // Looked up per message, so a revocation refuses the very next one.
      const revoked = statusRefusal(record);
      if (revoked) return { ok: false, error: revoked };
      if (header.participant !== participant) return ackError('WRONG_PARTICIPANT', `connected as ${participant}, header names ${header.participant}`);
      const run = this.runs.get(header.job);
      if (!run) return this.options.relay ? this.options.relay(participant, event, body) : ackError('UNKNOWN_JOB', `no running job ${header.job}`);
      const refused =
        run.claimNonce(participant, header.nonce, header.type) ??
        run.refusal(participant, header) ??
        (verifyHeader(header.type, header, signature, decodePublicKey(record.publicKey)!) ? null : ackError('BAD_SIGNATURE', `the ${header.type} signature does not verify against ${participant}'s key`));
      return refused ?? handle(run, parsed.data);
    } catch (err) {
      this.options.log('error', `refused a message after an unexpected error: ${(err as Error).stack}`);
      return ackError('INTERNAL', 'unexpected error; the coordinator logged it');
    }
  }

  /**
   * Admin control of a running job: pause, resume, or stop it for good. A job's
   * controls apply one after another in the order asked, as another replica
   * relays them: run together, the store's reads could let a stop overtake the
   * pause asked before it.
   */
  control(id: string, action: JobControl, actor: string): Promise<JobRecord> {
    const turn = (this.controls.get(id) ?? Promise.resolve()).catch(() => undefined).then(() => this.applyControl(id, action, actor));
    this.controls.set(id, turn);
    void turn
      .catch(() => undefined)
      .finally(() => {
        if (this.controls.get(id) === turn) this.controls.delete(id);
      });
    return turn;
  }

  private async applyControl(id: string, action: JobControl, actor: string): Promise<JobRecord> {
    const job = await this.options.store.getJob(id);
    if (!job) throw new FlError('NOT_FOUND', `no job ${id}`);
    const run = this.runs.get(id);
    if (!run && ACTIVE.includes(job.status) && this.options.controlElsewhere) {
      // Its leader applies it and records it; the answer is the job as stored now.
      this.options.controlElsewhere(id, action, actor);
      return job;
    }
    if (!run) throw new FlError('CONFLICT', `job ${id} is ${job.status}: it cannot ${action}`);
    try {
      // Written as the job's leader: refused, with nothing of it kept, if another replica has taken the job meanwhile.
      await this.asLeader(id, () => run[action](() => this.options.audit.append('job.control', actor, { job: id, action })));
    } catch (err) {
      if (err instanceof LeadershipLost) throw new FlError('CONFLICT', `job ${id} has passed to another replica: ask again`);
      throw err;
    }
    return (await this.options.store.getJob(id))!;
  }

  /** A control asked of another replica: applied if this one runs the job. */
  controlledElsewhere(id: string, action: JobControl, actor: string): void {
    if (!this.runs.has(id)) return;
    this.control(id, action, actor).catch((err: Error) =>
      this.options.log('warn', `${action} of job ${id}, asked of another replica: ${err.message}`, { job: id }),
    );
  }

  /** The coordinator is shutting down: running jobs stay as stored and resume at the next start. */
  async shutdown(): Promise<void> {
    this.stopped = true;
    for (const run of this.runs.values()) run.halt();
    // A run in the middle of a commit finishes it: the store closes after.
    await Promise.all(this.finished.values());
  }

  /**
   * Runs the job if this replica leads it. Leadership taken after a wait (on
   * PostgreSQL) runs the job as stored then: from its last committed round.
   */
  private lead(job: JobRecord): void {
    if (this.stopped || this.runs.has(job.id) || this.contending.has(job.id)) return;
    const taken = this.leadership.tryLead(job.id);
    if (!(taken instanceof Promise)) {
      if (taken) this.start(job, taken);
      return;
    }
    this.contending.add(job.id);
    taken
      .then(async (leadership) => {
        if (!leadership) return;
        const stored = await this.options.store.getJob(job.id);
        if (this.stopped || !stored || !ACTIVE.includes(stored.status)) return void leadership.release();
        this.options.log('info', `leading job ${job.id} from round ${stored.round} (epoch ${leadership.epoch})`, { job: job.id, round: stored.round });
        this.start(stored, leadership);
      })
      .catch((err: Error) => this.options.log('error', `leadership of job ${job.id}: ${err.message}`, { job: job.id }))
      .finally(() => this.contending.delete(job.id));
  }

  /** Runs fn, for a job this replica runs, as its leader: the store checks its writes against the epoch if its replicas share it. */
  private asLeader<T>(job: string, fn: () => Promise<T>): Promise<T> {
    return this.options.store.fenced(this.fences.get(job)!, fn);
  }

  private start(job: JobRecord, leadership: Leadership): void {
    const log = this.options.log;
    const fence = { job: job.id, epoch: leadership.epoch };
    this.fences.set(job.id, fence);
    const audit = this.options.audit.forRun(job.id, fence);
    const run = new JobRun(job, {
      ...this.options,
      audit,
      notify: (event: JobEvent) => this.events.emit('job', event),
      // Every line of a job names it, and the round under way, as fields of their own.
      log: (level, message, fields) => log(level, message, { job: job.id, ...(run.round !== undefined && { round: run.round }), ...fields }),
    });
    this.runs.set(job.id, run);
    this.options.channel.leading?.(job.id);
    leadership.onLost(() => {
      log('warn', `lost the leadership of job ${job.id}: another replica takes it from its last committed round`, { job: job.id });
      run.halt(true);
    });
    this.finished.set(
      job.id,
      this.asLeader(job.id, () => run.run()).finally(() => {
        this.runs.delete(job.id);
        this.fences.delete(job.id);
        // What the run still defers is of a round it did not commit (a shutdown, a deposed leader): the next run asks for it again.
        audit.close();
        return leadership.release().catch((err: Error) => log('warn', `releasing the leadership of job ${job.id}: ${err.message}`, { job: job.id }));
      }),
    );
  }
}
