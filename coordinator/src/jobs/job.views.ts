/** Jobs, rounds and the engine's events as the API shows them. */
import { epsilonAfter, type Failure, type JobLiveEvent, type JobSpec, type JobView, type RoundView } from '@fl/shared';
import type { JobEvent } from '../rounds/job-run';
import type { JobRecord, RoundFailure, RoundRecord } from '../storage/store';

const failureView = ({ participant, reason, code }: RoundFailure): Failure => ({ participant, reason, ...(code !== undefined && { code }) });

export const toJobView = (j: JobRecord): JobView => ({
  id: j.id,
  spec: j.spec,
  status: j.status,
  preprocessing: j.preprocessing,
  round: j.round,
  error: j.error,
  ...(j.spec.dp && { privacy: { epsilon: epsilonAfter(j.spec.dp, j.round), delta: j.spec.dp.delta, ...(j.spec.dp.epsilonBudget !== undefined && { epsilonBudget: j.spec.dp.epsilonBudget }) } }),
  excluded: j.admission.excluded.map(failureView),
  createdAt: j.createdAt,
  updatedAt: j.updatedAt,
});

export const toRoundView = (r: RoundRecord, spec?: JobSpec): RoundView => ({
  job: r.job,
  round: r.round,
  startedAt: r.startedAt,
  closedAt: r.closedAt,
  selected: r.selected,
  contributors: r.contributors.map(({ participant, numSamples }) => ({ participant, numSamples })),
  failures: r.failures.map(failureView),
  metrics: r.metrics,
  attempts: r.attempts,
  modelSha256: r.modelSha256,
  ...(spec?.dp && { privacy: { epsilon: epsilonAfter(spec.dp, r.round), delta: spec.dp.delta } }),
  evaluation: r.evaluation && { metrics: r.evaluation.metrics, numExamples: r.evaluation.numExamples, participants: r.evaluation.participants, failures: r.evaluation.failures ?? [] },
});

export const toJobLiveEvent = (e: JobEvent, spec?: JobSpec): JobLiveEvent =>
  e.type === 'status' ? { type: 'status', job: e.job, status: e.status, error: e.error } : { type: e.type, job: e.job, round: toRoundView(e.round, spec) };
