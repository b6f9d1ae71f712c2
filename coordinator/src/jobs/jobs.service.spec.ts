import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Test } from '@nestjs/testing';
import { JobSpecSchema, JobViewSchema, RoundViewSchema } from '@fl/shared';
import { RoundEngine } from '../rounds/round-engine';
import { SqliteStore } from '../storage/store.sqlite';
import { STORE, type JobRecord, type RoundRecord } from '../storage/store';
import { toJobLiveEvent, toRoundView } from './job.views';
import { JobsService } from './jobs.service';

const spec = JobSpecSchema.parse({ model: 'logistic', features: [{ name: 'age', type: 'numeric' }], target: 'outcome' });
const excluded = [{ participant: 'c', reason: 'feature age: a mean or standard deviation beyond 1e15', code: 'IMPLAUSIBLE_STATISTICS' }];
const job: JobRecord = { id: 'job-1', spec, status: 'waiting', preprocessing: null, round: 0, error: null, admission: { reportedRows: { a: 5 }, excluded }, createdAt: 1, updatedAt: 2 };
/** The job as the API shows it: who was left out and why, not the rows each site reported. */
const view = { id: 'job-1', spec, status: 'waiting', preprocessing: null, round: 0, error: null, excluded, createdAt: 1, updatedAt: 2 };
const round: RoundRecord = {
  job: 'job-1',
  round: 1,
  startedAt: 10,
  closedAt: 20,
  selected: ['a', 'b'],
  contributors: [{ participant: 'a', numSamples: 5 }],
  failures: [{ participant: 'b', reason: 'weight 3 is NaN', code: 'NON_FINITE' }],
  metrics: { loss: 0.5 },
  attempts: 1,
  modelSha256: 'a'.repeat(64),
  evaluation: null,
};

async function setup() {
  const store = await SqliteStore.open(path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'fl-jobs-')), 'store.sqlite'));
  // The engine's own behaviour is round-engine.spec's; here it only hands back what it made.
  const engine = { createJob: jest.fn(() => job), control: jest.fn(() => ({ ...job, status: 'paused' as const })) };
  const module = await Test.createTestingModule({
    providers: [{ provide: STORE, useValue: store }, { provide: RoundEngine, useValue: engine }, JobsService],
  }).compile();
  return { store, engine, jobs: module.get(JobsService) };
}

describe('jobs as the API shows them', () => {
  it('answers with the shared views, never the stored records', async () => {
    const { store, engine, jobs } = await setup();
    expect(JobViewSchema.strict().parse(await jobs.create({ model: 'logistic' }, 'user:ada'))).toEqual(view);
    expect(engine.createJob).toHaveBeenCalledWith({ model: 'logistic' }, 'user:ada');
    expect((await jobs.control('job-1', 'pause', 'user:ada')).status).toBe('paused');
    await store.addJob(job);
    expect(await jobs.list()).toEqual([view]);
    expect(await jobs.get('job-1')).toEqual(view);
    expect(await jobs.rounds('job-1')).toEqual([]);
    await store.close();
  });

  it('answers NOT_FOUND for a job or a model that does not exist', async () => {
    const { store, jobs } = await setup();
    await expect(jobs.get('nope')).rejects.toThrow(expect.objectContaining({ code: 'NOT_FOUND' }));
    await expect(jobs.rounds('nope')).rejects.toThrow(expect.objectContaining({ code: 'NOT_FOUND' }));
    await store.addJob(job);
    await expect(jobs.model('job-1', undefined)).rejects.toThrow(expect.objectContaining({ code: 'NOT_FOUND', message: 'job job-1 has no model yet' }));
    await store.close();
  });

  it('maps a round and the live events field by field, so nothing stored rides along', async () => {
    const stored = { ...round, internal: 'not for the API' } as RoundRecord;
    expect(RoundViewSchema.strict().parse(toRoundView(stored))).toEqual(round);
    expect(toJobLiveEvent({ type: 'round', job: 'job-1', round: stored })).toEqual({ type: 'round', job: 'job-1', round });
    expect(toJobLiveEvent({ type: 'status', job: 'job-1', status: 'failed', error: 'no quorum' })).toEqual({ type: 'status', job: 'job-1', status: 'failed', error: 'no quorum' });
  });
});
