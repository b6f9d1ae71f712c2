/**
 * The audit log's pages on a SQLite store of 100,000 records: a consortium of
 * 60 sites whose jobs each take 30 of them for 100 rounds (3,100 records a
 * job, as docs/audit.md counts them), read newest first as the dashboard does,
 * unfiltered and by each filter; the time the store takes to index such a
 * log at its start, as after the migration that made the index; and the time
 * verification takes to hold that index to the records.
 */
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { auditIndexProblem, SqliteStore } from '@fl/coordinator';
import { AuditRecordSchema, AUDIT_GENESIS, auditText, generateKeyPair, randomNonce, sealAuditRecord, type AuditKind } from '@fl/shared';
import { medianOf, now } from './measure';

const RECORDS = 100_000;
const SITES = 60;
const SITES_A_JOB = 30;
const ROUNDS = 100;
const PAGE = 50;
/** One update in this many is left out of its round (update.excluded): a rare kind among many. */
const EXCLUDED_EVERY = 500;

type Act = { kind: AuditKind; actor: string; data: Record<string, unknown> };

const site = (i: number) => `site-${String(i).padStart(2, '0')}`;
const sha = () => randomUUID().replace(/-/g, '').repeat(2);

/** The acts of the consortium, in order, until there are `count`; answers them and the jobs' ids. */
function consortium(count: number): { acts: Act[]; jobs: string[] } {
  const acts: Act[] = [];
  const jobs: string[] = [];
  for (let i = 0; i < SITES; i++) acts.push({ kind: 'participant.registered', actor: 'user:ada', data: { name: site(i), organisation: `Org ${i}`, country: 'CH', publicKey: sha() } });
  for (let j = 0; acts.length < count; j++) {
    const job = randomUUID();
    jobs.push(job);
    const sites = Array.from({ length: SITES_A_JOB }, (_, k) => site((j * 7 + k) % SITES));
    acts.push({ kind: 'job.created', actor: 'user:ada', data: { job, spec: { name: `job ${j}`, model: 'logistic', rounds: ROUNDS } } });
    acts.push({ kind: 'model.initial', actor: 'coordinator', data: { job, round: 0, sha256: sha(), size: 404, signature: sha() } });
    for (let round = 1; round <= ROUNDS && acts.length < count; round++) {
      const contributors = [];
      for (const participant of sites) {
        const header = { type: 'update', job, round, participant, nonce: randomNonce(), numSamples: 1000, metrics: { trainLoss: 0.5 }, weightsSha256: sha() };
        if (acts.length % EXCLUDED_EVERY === 0) {
          acts.push({ kind: 'update.excluded', actor: `participant:${participant}`, data: { job, round, participant, code: 'IMPLAUSIBLE_WEIGHTS', reason: 'norm', header, signature: sha() } });
        } else {
          acts.push({ kind: 'update.accepted', actor: `participant:${participant}`, data: { job, round, participant, sha256: header.weightsSha256, numSamples: 1000, header, signature: sha(), retained: true } });
          contributors.push({ participant, numSamples: 1000, sha256: header.weightsSha256 });
        }
      }
      acts.push({ kind: 'model.committed', actor: 'coordinator', data: { job, round, sha256: sha(), previous: sha(), contributors, signature: sha() } });
    }
  }
  acts.push({ kind: 'participant.revoked', actor: 'user:ada', data: { name: site(3), reason: 'left the consortium' } });
  return { acts, jobs };
}

export async function auditBench(): Promise<Record<string, number>> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fl-bench-audit-'));
  const store = await SqliteStore.open(path.join(dir, 'coordinator.sqlite'));
  try {
    const { acts, jobs } = consortium(RECORDS);
    const { secretKey } = generateKeyPair();
    let prev = AUDIT_GENESIS;
    for (let start = 0; start < acts.length; start += 1000) {
      const rows = acts.slice(start, start + 1000).map((act, i) => {
        const record = sealAuditRecord({ seq: start + i + 1, at: 1_700_000_000_000 + start + i, ...act, prev }, secretKey);
        prev = record.hash;
        return { seq: record.seq, text: auditText(record) };
      });
      await store.appendAuditRecords(rows);
    }
    const head = acts.length;
    const middle = jobs[jobs.length >> 1];
    /** The newest page that matches, parsed as the API does: ms. */
    const page = (filter: Parameters<SqliteStore['auditPage']>[0]) =>
      medianOf(5, async () => {
        const started = now();
        const { records } = await store.auditPage(filter, { after: 0, before: head + 1, limit: PAGE });
        for (const { text } of records) AuditRecordSchema.parse(JSON.parse(text));
        return now() - started;
      });
    const filters = {
      participant: { participant: site(7) },
      job: { job: middle },
      committed: { kinds: ['model.committed'] },
      excluded: { kinds: ['update.excluded'] },
      revoked: { kinds: ['participant.revoked'] },
      updates: { kinds: ['update.accepted', 'update.excluded'] },
      jobCommitted: { job: middle, kinds: ['model.committed'] },
      jobParticipant: { job: middle, participant: site(((jobs.length >> 1) * 7) % SITES) },
      participantExcluded: { participant: site(7), kinds: ['update.excluded'] },
    };
    const times: Record<string, number> = {};
    for (const [name, filter] of Object.entries(filters)) times[name] = await page(filter);
    process.stderr.write(`audit pages (ms): unfiltered ${(await page({})).toFixed(2)}, ${Object.entries(times).map(([n, ms]) => `${n} ${ms.toFixed(2)}`).join(', ')}\n`);
    const unfiltered = await page({});

    // The first start's work after the migration: the same log, not indexed yet.
    store.connection.exec('UPDATE audit SET kind = NULL, job = NULL; DELETE FROM audit_participants');
    const started = now();
    await store.indexAudit();
    const indexSeconds = (now() - started) / 1000;
    // What verification adds to hold the index to the records, in its snapshot.
    const checked = now();
    const problem = await store.transaction(() => auditIndexProblem(store), { snapshot: true });
    if ('reason' in problem) throw new Error(`the index does not verify: ${problem.where}: ${problem.reason}`);
    const indexCheckSeconds = (now() - checked) / 1000;
    return {
      'audit.log_100k.pageMs': unfiltered,
      'audit.log_100k.filteredMs': Math.max(...Object.values(times)),
      'audit.log_100k.indexSeconds': indexSeconds,
      'audit.log_100k.indexCheckSeconds': indexCheckSeconds,
    };
  } finally {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
