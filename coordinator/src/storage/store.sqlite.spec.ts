import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { JobSpec, Preprocessing } from '@fl/shared';
import { Checkpointer } from './checkpointer';
import { SqliteStore } from './store.sqlite';
import type { RoundRecord } from './store';

describe('the SQLite store', () => {
  let store: SqliteStore;
  const file = () => path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'fl-store-')), 'store.sqlite');
  const preprocessing: Preprocessing = { features: [{ name: 'x', type: 'numeric', mean: 0, std: 1 }], target: { type: 'numeric', mean: 0, std: 1 }, inputDim: 1, rows: 4 };
  const round = (n: number): RoundRecord => ({
    job: 'j1', round: n, startedAt: 1, closedAt: 2, selected: ['a'], contributors: [{ participant: 'a', numSamples: 4 }],
    failures: [], metrics: { trainLoss: 0.5 }, attempts: 1, modelSha256: 'f'.repeat(64), evaluation: null,
  });
  const model = (n: number) => ({ job: 'j1', round: n, sha256: 'f'.repeat(64), weights: new Float32Array([n, n + 0.5]), createdAt: 3 });

  const participant = (name: string, organisation: string, publicKey: string) => ({
    name, organisation, publicKey, country: '', status: 'approved' as const, invitation: null, decidedAt: null, decidedBy: null, createdAt: 1,
  });

  beforeEach(() => {
    store = new SqliteStore(file());
    store.addJob({ id: 'j1', spec: { model: 'linear' } as JobSpec, status: 'waiting', preprocessing: null, round: 0, error: null, createdAt: 1, updatedAt: 1 });
    store.beginTraining('j1', preprocessing, model(0));
  });
  afterEach(() => store.close());

  it('refuses a second participant with the same name or key', () => {
    store.addParticipant(participant('a', 'A', 'k1'));
    expect(() => store.addParticipant(participant('a', 'B', 'k2'))).toThrow(expect.objectContaining({ code: 'CONFLICT' }));
    expect(() => store.addParticipant(participant('b', 'B', 'k1'))).toThrow(expect.objectContaining({ code: 'CONFLICT' }));
  });

  it('answers a participant as stored last, a status change or a rolled-back one included', () => {
    store.addParticipant(participant('a', 'A', 'k1'));
    expect(store.getParticipant('a')?.status).toBe('approved');
    store.setParticipantStatus('a', 'revoked', 'user:admin', 5);
    expect(store.getParticipant('a')).toMatchObject({ status: 'revoked', decidedBy: 'user:admin' });
    expect(() =>
      store.transaction(() => {
        store.setParticipantStatus('a', 'approved', 'user:admin', 6);
        expect(store.getParticipant('a')?.status).toBe('approved');
        throw new Error('rolled back');
      }),
    ).toThrow('rolled back');
    expect(store.getParticipant('a')?.status).toBe('revoked');
  });

  it('commits a round with its model and moves the job on, in one transaction', () => {
    store.commitRound(round(1), model(1));
    expect(store.getJob('j1')).toMatchObject({ status: 'training', round: 1, preprocessing });
    expect(store.listRounds('j1')).toEqual([round(1)]);
    expect(Array.from(store.getModel('j1')!.weights)).toEqual([1, 1.5]);
    expect(Array.from(store.getModel('j1', 0)!.weights)).toEqual([0, 0.5]);
  });

  it('adds the federated evaluation to a committed round', () => {
    store.commitRound(round(1), model(1));
    const evaluation = { metrics: { accuracy: 0.9 }, numExamples: 20, participants: ['a', 'b'] };
    store.setRoundEvaluation('j1', 1, evaluation);
    expect(store.listRounds('j1')[0].evaluation).toEqual(evaluation);
    expect(store.getRound('j1', 1)).toEqual({ ...round(1), evaluation });
    expect(store.getRound('j1', 2)).toBeUndefined();
  });

  it('counts the committed rounds each participant contributed to, over all jobs', () => {
    store.commitRound(round(1), model(1));
    store.commitRound({ ...round(2), contributors: [{ participant: 'a', numSamples: 4 }, { participant: 'b', numSamples: 2 }] }, model(2));
    store.addJob({ ...store.getJob('j1')!, id: 'j2', round: 0 });
    store.commitRound({ ...round(1), job: 'j2', contributors: [{ participant: 'b', numSamples: 1 }] }, { ...model(1), job: 'j2' });
    expect(store.contributionCounts()).toEqual(new Map([['a', 2], ['b', 2]]));
  });

  it('never counts a round twice nor skips one, and leaves nothing behind when refusing', () => {
    store.commitRound(round(1), model(1));
    expect(() => store.commitRound(round(1), model(1))).toThrow(expect.objectContaining({ code: 'CONFLICT' }));
    expect(() => store.commitRound(round(3), model(3))).toThrow(expect.objectContaining({ code: 'CONFLICT' }));
    expect(store.listRounds('j1').map((r) => r.round)).toEqual([1]);
    expect(store.getModel('j1', 3)).toBeUndefined();
  });
});

describe('the store checkpointing in the background', () => {
  const dir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'fl-store-'));
  const preprocessing: Preprocessing = { features: [{ name: 'x', type: 'numeric', mean: 0, std: 1 }], target: { type: 'numeric', mean: 0, std: 1 }, inputDim: 1, rows: 4 };
  /** A job whose initial model is 4 MB: 64 pages of the log, far below SQLite's own threshold of 1,000. */
  const withLargeModel = (store: SqliteStore) => {
    store.addJob({ id: 'j1', spec: { model: 'linear' } as JobSpec, status: 'waiting', preprocessing: null, round: 0, error: null, createdAt: 1, updatedAt: 1 });
    store.beginTraining('j1', preprocessing, { job: 'j1', round: 0, sha256: 'f'.repeat(64), weights: new Float32Array(1_000_000).fill(0.5), createdAt: 3 });
  };

  it('moves committed pages into the database file from its worker, which the committing connection does not', async () => {
    // Prepare: the same commit in a store with the worker and in one without
    const background = path.join(dir(), 'store.sqlite');
    const inline = path.join(dir(), 'store.sqlite');
    const stores = [new SqliteStore(background, { checkpointInBackground: true }), new SqliteStore(inline)];
    try {
      // Execute
      stores.forEach(withLargeModel);
      const grown = () => fs.statSync(background).size > 4_000_000;
      for (let waited = 0; !grown() && waited < 30_000; waited += 100) await new Promise((r) => setTimeout(r, 100));
      // Assert: the model reached the database file only where the worker runs; both read it back
      expect(grown()).toBe(true);
      expect(fs.statSync(inline).size).toBeLessThan(1_000_000);
      for (const store of stores) expect(store.getModel('j1')!.weights[999_999]).toBe(0.5);
    } finally {
      stores.forEach((s) => s.close());
    }
  });

  it('tells when its worker cannot checkpoint, e.g. the file is gone', async () => {
    // Prepare and Execute
    const failure = await new Promise((resolve) => new Checkpointer(path.join(dir(), 'missing.sqlite'), resolve, 10));
    // Assert: SQLite's error, as it crosses from the worker
    expect(failure).toMatchObject({ code: 'SQLITE_CANTOPEN' });
  });
});
