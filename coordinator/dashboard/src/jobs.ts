/** What live events do to the job records and round lists a page holds, and which controls a status allows. */
import type { JobLiveEvent, JobRecord, RoundRecord } from './types';

export function applyJobEvent(job: JobRecord, event: JobLiveEvent): JobRecord {
  if (event.type === 'status') return { ...job, status: event.status, error: event.error };
  return { ...job, round: Math.max(job.round, event.round.round) };
}

/** Adds a round, or replaces it when it comes again (completed by its evaluation); keeps round order. */
export function upsertRound(rounds: readonly RoundRecord[], round: RoundRecord): RoundRecord[] {
  return [...rounds.filter((r) => r.round !== round.round), round].sort((a, b) => a.round - b.round);
}

export function mergeRounds(loaded: readonly RoundRecord[], current: readonly RoundRecord[] | undefined): RoundRecord[] {
  return (current ?? []).reduce(upsertRound, [...loaded]);
}

// Sets of plain strings: the job statuses grow (paused, stopped) as job control lands.
const RUNNING = new Set<string>(['waiting', 'statistics', 'training']);
const PAUSED = new Set<string>(['paused']);

export const canPause = (job: JobRecord) => RUNNING.has(job.status);
export const canResume = (job: JobRecord) => PAUSED.has(job.status);
export const canStop = (job: JobRecord) => RUNNING.has(job.status) || PAUSED.has(job.status);
