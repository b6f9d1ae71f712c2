/**
 * The audit log as the verifier reads it from the coordinator's own store: the
 * records, the retained updates and the global models, named by where they are
 * stored so that a failure points at the row to look at. verifyStore also holds
 * the store's working tables to the log: a participant key, status or committed
 * round that the log does not account for is an inconsistency too (a log cut
 * short after its last record, or a key swapped in the participants table).
 *
 * Both read the store in one transaction, a snapshot: a store that a running
 * coordinator writes meanwhile (read from the operator's command or from the
 * coordinator's verification thread) is read as of one moment, so its tables
 * cannot hold a round or a participant that came after the last record read.
 */
import * as fs from 'node:fs';
import { anchorProblem, AuditRecordSchema, parseAnchors, plural, verifyAudit, type AuditAnchor, type AuditReport, type AuditSource, type VerifyAuditOptions } from '@fl/shared';
import { auditIndexOf } from '../storage/audit-index';
import type { Store } from '../storage/store';

export function storeAuditSource(store: Store, file = 'the store'): AuditSource {
  return {
    records: () => store.auditRecords(),
    update: (job, round, participant, sha256) => store.getRetainedUpdate(job, round, participant, sha256),
    model: (job, round) => store.getModelBytes(job, round),
    state: (job, round) => store.getStrategyStateBytes(job, round),
    describe: (item) => {
      if ('record' in item) return `audit record ${item.record} (table audit of ${file})`;
      if ('state' in item) {
        const [job, round] = item.state;
        return `strategy state after round ${round} of job ${job} (table strategy_states of ${file})`;
      }
      if ('update' in item) {
        const [job, round, participant] = item.update;
        return `update of ${participant}, round ${round} of job ${job} (table updates of ${file})`;
      }
      const [job, round] = item.model;
      return `global model of round ${round} of job ${job} (table models of ${file})`;
    },
  };
}

export interface VerifyStoreOptions extends Pick<VerifyAuditOptions, 'onLine'> {
  /** the file of anchored heads (audit-anchors.jsonl beside the store), if any; the log must reach the newest */
  anchorsFile?: string;
  /** how failures name the anchors' file */
  anchorsName?: string;
}

/**
 * Verifies the log (verifyAudit), then that it reaches every head anchored
 * outside the store, then that the store's tables say what the log says at its end.
 */
export function verifyStore(store: Store, file = 'the store', options: VerifyStoreOptions = {}): Promise<AuditReport> {
  // Read before the snapshot: every head anchored by then was committed before it.
  const anchors = options.anchorsFile && fs.existsSync(options.anchorsFile) ? parseAnchors(fs.readFileSync(options.anchorsFile, 'utf8')) : undefined;
  return store.transaction(() => verifySnapshot(store, file, options, anchors), { snapshot: true });
}

async function verifySnapshot(
  store: Store,
  file: string,
  options: VerifyStoreOptions,
  anchors: { anchors: AuditAnchor[]; malformed: number[] } | undefined,
): Promise<AuditReport> {
  const report = await verifyAudit(storeAuditSource(store, file), options);
  if (!report.ok) return report;
  const fail = (where: string, reason: string): AuditReport => {
    const line = `FAILED: ${where}: ${reason}`;
    options.onLine?.(line);
    return { ...report, ok: false, lines: [...report.lines, ...anchorLines, line], failure: { where, reason } };
  };
  const anchorsName = options.anchorsName ?? 'the audit anchors';
  const anchorLines: string[] = [];
  if (options.anchorsFile) {
    if (!anchors) anchorLines.push(`${anchorsName}: none; the end of the log is not checked`);
    else {
      if (anchors.malformed.length) return fail(anchorsName, `line ${anchors.malformed[0]} is not an anchor`);
      // anchorProblem asks for the hashes of the anchored records: read before, in the snapshot.
      const hashes = new Map<number, string>();
      for (const { seq } of anchors.anchors) {
        const stored = await firstRecord(store, seq - 1);
        if (stored?.seq === seq) hashes.set(seq, AuditRecordSchema.parse(JSON.parse(stored.text)).hash);
      }
      const problem = anchorProblem(anchors.anchors, (seq) => hashes.get(seq), (await store.auditHead())?.seq ?? 0, report.coordinatorKey ?? '');
      if (problem) return fail(anchorsName, problem);
      const newest = Math.max(0, ...anchors.anchors.map((a) => a.seq));
      anchorLines.push(`${anchorsName}: ${anchors.anchors.length} heads, the newest record ${newest}; the log reaches it`);
    }
    for (const line of anchorLines) options.onLine?.(line);
  }
  for (const p of await store.listParticipants()) {
    const logged = report.participants.get(p.name);
    const where = `participant ${p.name} (table participants of ${file})`;
    if (!logged) return fail(where, 'no audit record registers it');
    if (logged.publicKey !== p.publicKey) return fail(where, 'its public key is not the one the audit log registered');
    if (logged.status !== p.status) return fail(where, `it is ${p.status}, the audit log says ${logged.status}`);
  }
  let rounds = 0;
  const jobs = await store.listJobs();
  for (const job of jobs) {
    if (!report.jobs.has(job.id)) return fail(`job ${job.id} (table jobs of ${file})`, 'no audit record creates it');
    for (const round of await store.listRounds(job.id)) {
      rounds++;
      const sha256 = report.committed.get(`${job.id}/${round.round}`);
      const where = `round ${round.round} of job ${job.id} (table rounds of ${file})`;
      if (sha256 === undefined) return fail(where, 'no audit record commits it');
      if (sha256 !== round.modelSha256) return fail(where, 'its model hash is not the one the audit log committed');
    }
  }
  if (rounds !== report.committed.size) return fail(`table rounds of ${file}`, `it holds ${rounds} rounds, the audit log commits ${report.committed.size}`);
  const index = await auditIndexProblem(store, file);
  if ('reason' in index) return fail(index.where, index.reason);
  const pending = index.pending ? ` (${index.pending} not indexed yet)` : '';
  const line = `store tables: ${plural(report.participants.size, 'participant')}, ${plural(jobs.length, 'job')}, ${plural(rounds, 'round')} and the filters' index of ${plural(index.indexed, 'record')}${pending} agree with the log`;
  options.onLine?.(line);
  return { ...report, lines: [...report.lines, ...anchorLines, line] };
}

/** Records read a time when holding the filters' index to the log. */
const INDEX_PAGE = 1000;

/**
 * Holds the filters' index (audit-index.ts) to the records' texts, which the
 * chain has verified: a filtered page, read on the index, must leave out no
 * record it asks for. A record not indexed yet has no participants' rows.
 */
export async function auditIndexProblem(store: Store, file = 'the store'): Promise<{ where: string; reason: string } | { indexed: number; pending: number }> {
  const none = (value: string | null) => value ?? 'none';
  let after = 0;
  let indexed = 0;
  let pending = 0;
  for (;;) {
    const { records, strays } = await store.auditIndexPage(after, INDEX_PAGE);
    if (strays.length) return { where: `participant ${strays[0].participant} of record ${strays[0].seq} (table audit_participants of ${file})`, reason: 'the log has no such record' };
    for (const record of records) {
      const where = `audit record ${record.seq} (table audit of ${file})`;
      const stored = [...record.participants].sort();
      if (record.kind === null) {
        if (stored.length) return { where, reason: `it is not indexed, yet the filters' index names ${stored.join(', ')} for it` };
        pending++;
        continue;
      }
      const text = auditIndexOf(record.text);
      if (record.kind !== text.kind || record.job !== text.job) {
        return { where, reason: `the filters' index gives it kind ${record.kind} and job ${none(record.job)}, its text kind ${text.kind} and job ${none(text.job)}` };
      }
      const named = [...new Set(text.participants)].sort();
      if (stored.join('\n') !== named.join('\n')) {
        return { where, reason: `the filters' index names the participants [${stored.join(', ')}] for it, its text [${named.join(', ')}]` };
      }
      indexed++;
    }
    if (records.length < INDEX_PAGE) return { indexed, pending };
    after = records[records.length - 1].seq;
  }
}

/** The first stored record after `after`, if any. */
export async function firstRecord(store: Store, after: number): Promise<{ seq: number; text: string } | undefined> {
  for await (const record of store.auditRecords(after, 1)) return record;
  return undefined;
}
