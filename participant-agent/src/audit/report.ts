/**
 * `fl-agent report`: what left this site, per job, from its journal: which
 * aggregates its statistics disclosed, each update's size and hash, each
 * evaluation's metrics by name, each secure-aggregation answer's keys, shares
 * and masked input by count and size, and each failure report's code and counts.
 * Written for the site's data-protection officer; it reads only the journal.
 * A message whose answer the journal does not hold (the agent stopped after
 * sending it, before the answer came) is listed as sent, `accepted` null.
 */
import { plural } from '@fl/shared';
import type { JournalLine } from '../client/journal';

/** true or false as the coordinator answered; null when the journal holds no answer */
type Accepted = boolean | null;

export interface JobReport {
  job: string;
  coordinator: string;
  participant: string;
  first: string;
  last: string;
  statistics: { at: string; accepted: Accepted; rows: number; columns: { name: string; role: string; aggregates: string[] }[] }[];
  updates: { at: string; round: number; accepted: Accepted; bytes: number | null; sha256: string; numSamples: number }[];
  evaluations: { at: string; round: number; accepted: Accepted; numExamples: number; metrics: string[] }[];
  failures: { at: string; round: number; accepted: Accepted; phase: string; code: string; counts: Record<string, number> }[];
  secure: { at: string; round: number; step: string; accepted: Accepted; discloses: string[] }[];
}

export interface SiteReport {
  since: string | null;
  messages: number;
  /** messages sent whose answer the journal does not hold */
  unanswered: number;
  jobs: JobReport[];
}

export function buildReport(lines: readonly JournalLine[], since?: Date): SiteReport {
  const jobs = new Map<string, JobReport>();
  let messages = 0;
  let unanswered = 0;
  for (const line of lines) {
    if (since && line.at < since.getTime()) continue;
    messages++;
    if (line.accepted === undefined) unanswered++;
    const at = new Date(line.at).toISOString();
    const key = `${line.coordinator}\0${line.job}`;
    let job = jobs.get(key);
    if (!job) {
      job = { job: line.job, coordinator: line.coordinator, participant: line.participant, first: at, last: at, statistics: [], updates: [], evaluations: [], failures: [], secure: [] };
      jobs.set(key, job);
    }
    job.last = at;
    const { round } = line;
    const accepted = line.accepted ?? null;
    if (line.kind === 'update') {
      job.updates.push({ at, round, accepted, bytes: line.bytes ?? null, sha256: line.sha256, numSamples: line.numSamples });
    } else if (line.kind === 'statistics') job.statistics.push({ at, accepted, rows: line.rows, columns: line.columns });
    else if (line.kind === 'evaluation') job.evaluations.push({ at, round, accepted, numExamples: line.numExamples, metrics: line.metrics });
    else if (line.kind === 'secagg') job.secure.push({ at, round, step: line.step, accepted, discloses: line.discloses });
    // A refused secure-aggregation step is told with its step and the protocol's message: both are in the report, as sent.
    else job.failures.push({ at, round, accepted, phase: line.step ? `${line.phase} ${line.step}` : line.phase, code: line.message ? `${line.code}: ${line.message}` : line.code, counts: line.counts });
  }
  return { since: since?.toISOString() ?? null, messages, unanswered, jobs: [...jobs.values()] };
}

const yes = (accepted: Accepted) => (accepted === null ? 'unknown' : accepted ? 'yes' : 'no');
const counts = (c: Record<string, number>) => Object.entries(c).map(([k, v]) => `${k} ${v}`).join(', ') || '-';

/** The report as Markdown: one section per job, one table per kind of message. */
export function reportMarkdown(report: SiteReport): string {
  const out: string[] = ['# What this site sent', ''];
  out.push(`${plural(report.messages, 'message')}${report.since ? ` since ${report.since}` : ''}, in ${plural(report.jobs.length, 'job')}. No row and no value of the data is ever sent; only what is listed here.`, '');
  if (report.unanswered) {
    out.push(
      `${report.unanswered === 1 ? '1 message was' : `${report.unanswered} messages were`} sent without the coordinator's answer in the journal ` +
        '(accepted: unknown): the agent stopped, by a crash or a kill, before the answer came.',
      '',
    );
  }
  for (const job of report.jobs) {
    out.push(`## Job ${job.job}`, '', `Coordinator ${job.coordinator}, as participant ${job.participant}, from ${job.first} to ${job.last}.`, '');
    if (job.statistics.length) {
      out.push('### Statistics', '', '| sent | accepted | rows | column | role | aggregates |', '| --- | --- | --- | --- | --- | --- |');
      for (const s of job.statistics) for (const c of s.columns) out.push(`| ${s.at} | ${yes(s.accepted)} | ${s.rows} | ${c.name} | ${c.role} | ${c.aggregates.join(', ')} |`);
      out.push('');
    }
    if (job.updates.length) {
      out.push('### Updates', '', '| sent | round | accepted | bytes | samples | SHA-256 |', '| --- | --- | --- | --- | --- | --- |');
      for (const u of job.updates) out.push(`| ${u.at} | ${u.round} | ${yes(u.accepted)} | ${u.bytes ?? '-'} | ${u.numSamples} | \`${u.sha256}\` |`);
      out.push('');
    }
    if (job.evaluations.length) {
      out.push('### Evaluations', '', '| sent | round | accepted | examples | metrics |', '| --- | --- | --- | --- | --- |');
      for (const e of job.evaluations) out.push(`| ${e.at} | ${e.round} | ${yes(e.accepted)} | ${e.numExamples} | ${e.metrics.join(', ')} |`);
      out.push('');
    }
    if (job.secure.length) {
      out.push('### Secure aggregation', '', '| sent | round | step | accepted | carried |', '| --- | --- | --- | --- | --- |');
      for (const a of job.secure) out.push(`| ${a.at} | ${a.round} | ${a.step} | ${yes(a.accepted)} | ${a.discloses.join('; ') || '-'} |`);
      out.push('');
    }
    if (job.failures.length) {
      out.push('### Failure reports and declines', '', '| sent | phase | round | accepted | code | counts |', '| --- | --- | --- | --- | --- | --- |');
      for (const f of job.failures) out.push(`| ${f.at} | ${f.phase} | ${f.round} | ${yes(f.accepted)} | ${f.code} | ${counts(f.counts)} |`);
      out.push('');
    }
  }
  return out.join('\n');
}
