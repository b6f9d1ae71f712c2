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
  EvaluationMessageSchema,
  FailureMessageSchema,
  SecAggReplySchema,
  FlError,
  JobSpecSchema,
  StatisticsMessageSchema,
  toBytes,
  UpdateMessageSchema,
  verifyHeader,
  type Ack,
  type SignatureDomain,
} from '@fl/shared';
import type { z } from 'zod';
import type { Clock } from '../core/clock';
import type { CoordinatorIdentity } from '../identity/identity';
import type { JobRecord, ParticipantRecord, Store } from '../storage/store';
import type { AgentChannel } from './agent-channel';
import type { AuditLog } from '../audit/audit-log';
import { JobRun, type JobEvent, type UpdateRetention } from './job-run';
import { statusRefusal } from '../participants/handshake';
import { describeZodError, zodRefusal } from '../validation';

export interface RoundEngineOptions {
  store: Store;
  channel: AgentChannel;
  identity: CoordinatorIdentity;
  audit: AuditLog;
  retention: UpdateRetention;
  maxRoundAttempts: number;
  /** applied to jobs that leave them out */
  jobDefaults: { minParticipants: number; roundDeadlineSeconds: number };
  log: (level: 'info' | 'warn' | 'error', message: string) => void;
  clock: Clock;
}

const ACTIVE: JobRecord['status'][] = ['waiting', 'statistics', 'training', 'paused'];

export class RoundEngine {
  /** 'job' events: JobEvent */
  readonly events = new EventEmitter();
  private readonly runs = new Map<string, JobRun>();
  private readonly finished = new Map<string, Promise<void>>();

  constructor(private readonly options: RoundEngineOptions) {}

  /** Resumes the jobs that were running when the coordinator stopped. */
  async resume(): Promise<void> {
    for (const job of await this.options.store.listJobs()) if (ACTIVE.includes(job.status)) this.start(job);
  }

  /** Creates a job and starts it; `actor` is who asked, for the audit log. */
  async createJob(body: unknown, actor: string): Promise<JobRecord> {
    const withDefaults = body && typeof body === 'object' && !Array.isArray(body) ? { ...this.options.jobDefaults, ...body } : body;
    const parsed = JobSpecSchema.safeParse(withDefaults);
    if (!parsed.success) throw zodRefusal(parsed.error);
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
    this.start(job);
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
    return this.receive(participant, body, StatisticsMessageSchema, (run, { header }) => run.submitStatistics(participant, header));
  }

  async submitEvaluation(participant: string, body: unknown): Promise<Ack> {
    return this.receive(participant, body, EvaluationMessageSchema, (run, { header }) => run.submitEvaluation(participant, header));
  }

  async submitFailure(participant: string, body: unknown): Promise<Ack> {
    return this.receive(participant, body, FailureMessageSchema, (run, { header }) => run.submitFailure(participant, header));
  }

  /** A secure-aggregation step's answer or masked input (coordinator/src/rounds/secagg). */
  async submitSecAgg(participant: string, body: unknown): Promise<Ack> {
    return this.receive(participant, body, SecAggReplySchema, (run, message) =>
      run.submitSecAgg(participant, message.header, message.signature, message.masked === undefined ? undefined : toBytes(message.masked)),
    );
  }

  async submitUpdate(participant: string, body: unknown): Promise<Ack> {
    return this.receive(
      participant,
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

  /**
   * The checks every agent message passes, in the protocol's order: schema,
   * signature under the connection's key, the participant it names, the job;
   * then the job run checks what depends on its state.
   */
  private async receive<M extends { header: { type: SignatureDomain; participant: string; job: string; nonce: string }; signature: string }>(
    participant: string,
    body: unknown,
    schema: z.ZodType<M>,
    handle: (run: JobRun, message: M) => Ack,
  ): Promise<Ack> {
    try {
      const parsed = schema.safeParse(body);
      if (!parsed.success) return ackError('INVALID_FRAME', describeZodError(parsed.error));
      const { header, signature } = parsed.data;
      const refused = await this.checkSender(participant, header.type, header, signature);
      if (refused) return refused;
      const run = this.runs.get(header.job);
      if (!run) return ackError('UNKNOWN_JOB', `no running job ${header.job}`);
      if (!run.claimNonce(participant, header.nonce)) return ackError('REPLAYED_NONCE', `this ${header.type} was received already`);
      return handle(run, parsed.data);
    } catch (err) {
      this.options.log('error', `refused a message after an unexpected error: ${(err as Error).stack}`);
      return ackError('INTERNAL', 'unexpected error; the coordinator logged it');
    }
  }

  /** Admin control of a running job: pause, resume, or stop it for good. */
  async control(id: string, action: 'pause' | 'resume' | 'stop', actor: string): Promise<JobRecord> {
    const job = await this.options.store.getJob(id);
    if (!job) throw new FlError('NOT_FOUND', `no job ${id}`);
    const run = this.runs.get(id);
    if (!run) throw new FlError('CONFLICT', `job ${id} is ${job.status}: it cannot ${action}`);
    await this.options.audit.append('job.control', actor, { job: id, action });
    await run[action]();
    return (await this.options.store.getJob(id))!;
  }

  /** The coordinator is shutting down: running jobs stay as stored and resume at the next start. */
  async shutdown(): Promise<void> {
    for (const run of this.runs.values()) run.halt();
    // A run in the middle of a commit finishes it: the store closes after.
    await Promise.all(this.finished.values());
  }

  /** Signature under the connection's key, then the header's participant against the connection. */
  private async checkSender(
    participant: string,
    domain: SignatureDomain,
    header: { participant: string },
    signature: string,
  ): Promise<Ack | null> {
    const record: ParticipantRecord | undefined = await this.options.store.getParticipant(participant);
    if (!record) return ackError('UNKNOWN_PARTICIPANT', `participant ${participant} is not registered`);
    // Looked up per message, so a revocation refuses the very next one.
    const refused = statusRefusal(record);
    if (refused) return { ok: false, error: refused };
    if (!verifyHeader(domain, header, signature, decodePublicKey(record.publicKey)!)) {
      return ackError('BAD_SIGNATURE', `the ${domain} signature does not verify against ${participant}'s key`);
    }
    if (header.participant !== participant) {
      return ackError('WRONG_PARTICIPANT', `connected as ${participant}, header names ${header.participant}`);
    }
    return null;
  }

  private start(job: JobRecord): void {
    const run = new JobRun(job, { ...this.options, notify: (event: JobEvent) => this.events.emit('job', event) });
    this.runs.set(job.id, run);
    this.finished.set(
      job.id,
      run.run().finally(() => this.runs.delete(job.id)),
    );
  }
}
