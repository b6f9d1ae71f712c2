/**
 * The coordinator's store, as interfaces: services depend on these, never on a
 * database. SQLite (store.sqlite.ts) is the embedded default.
 */
import type { JobSpec, Preprocessing } from '@fl/shared';

export interface ParticipantRecord {
  name: string;
  organisation: string;
  /** base64 Ed25519 public key */
  publicKey: string;
  createdAt: number;
}

export const JOB_STATUSES = ['waiting', 'statistics', 'training', 'paused', 'completed', 'failed', 'stopped'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

export interface JobRecord {
  id: string;
  spec: JobSpec;
  status: JobStatus;
  /** set once the statistics phase has combined everyone's statistics */
  preprocessing: Preprocessing | null;
  /** the last committed round; 0 before the first */
  round: number;
  error: string | null;
  createdAt: number;
  updatedAt: number;
}

export interface RoundFailure {
  participant: string;
  reason: string;
}

export interface RoundRecord {
  job: string;
  round: number;
  startedAt: number;
  closedAt: number;
  /** participants asked to train */
  selected: string[];
  /** participants whose update was folded in, with their sample counts */
  contributors: { participant: string; numSamples: number }[];
  failures: RoundFailure[];
  /** sample-weighted means of the metrics the contributors reported */
  metrics: Record<string, number>;
  /** how many times the round was started before it closed */
  attempts: number;
  modelSha256: string;
  /** federated evaluation of this round's global model, when the job asked for one */
  evaluation: RoundEvaluation | null;
}

export interface RoundEvaluation {
  /** example-weighted means of the metrics participants measured on their held-out rows */
  metrics: Record<string, number>;
  numExamples: number;
  participants: string[];
}

export interface ModelVersion {
  job: string;
  /** the round that produced it; 0 is the initial model */
  round: number;
  sha256: string;
  weights: Float32Array;
  createdAt: number;
}

export interface ParticipantRepository {
  addParticipant(participant: ParticipantRecord): void;
  getParticipant(name: string): ParticipantRecord | undefined;
  getParticipantByKey(publicKey: string): ParticipantRecord | undefined;
  listParticipants(): ParticipantRecord[];
}

export interface JobRepository {
  addJob(job: JobRecord): void;
  getJob(id: string): JobRecord | undefined;
  listJobs(): JobRecord[];
  updateJob(id: string, change: Partial<Pick<JobRecord, 'status' | 'error'>>): void;
  /** Ends the statistics phase: stores the preprocessing and the initial model (round 0), in one transaction. */
  beginTraining(id: string, preprocessing: Preprocessing, initialModel: ModelVersion): void;
  /** Commits a closed round: its record, the new global model and the job's round counter, in one transaction. */
  commitRound(round: RoundRecord, model: ModelVersion): void;
  /** Records the federated evaluation of a committed round. */
  setRoundEvaluation(job: string, round: number, evaluation: RoundEvaluation): void;
  listRounds(job: string): RoundRecord[];
  getRound(job: string, round: number): RoundRecord | undefined;
  /** How many committed rounds, over all jobs, folded in each participant's update. */
  contributionCounts(): Map<string, number>;
  getModel(job: string, round?: number): ModelVersion | undefined;
}

export interface Store extends ParticipantRepository, JobRepository {
  close(): void;
}

export const STORE = Symbol('Store');
