import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import type { JobSpec, Preprocessing } from '@fl/shared';
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
    store.addJob({ id: 'j1', spec: { model: 'linear' } as JobSpec, status: 'waiting', preprocessing: null, round: 0, error: null, admission: { reportedRows: {}, excluded: [] }, createdAt: 1, updatedAt: 1 });
    store.beginTraining('j1', preprocessing, { reportedRows: { a: 3 }, excluded: [{ participant: 'b', reason: 'feature 0: implausible', code: 'IMPLAUSIBLE_STATISTICS' }] }, model(0));
  });
  afterEach(() => store.close());

  it('keeps who the statistics phase admitted and left out, and each round failure\'s code', () => {
    expect(store.getJob('j1')!.admission).toEqual({
      reportedRows: { a: 3 },
      excluded: [{ participant: 'b', reason: 'feature 0: implausible', code: 'IMPLAUSIBLE_STATISTICS' }],
    });
    const failures = [{ participant: 'b', reason: 'weight 3 is NaN', code: 'NON_FINITE' }, { participant: 'c', reason: 'disconnected' }];
    store.commitRound({ ...round(1), failures }, model(1));
    expect(store.getRound('j1', 1)!.failures).toEqual(failures);
  });

  it('gives a job stored before admissions were recorded an empty one', () => {
    // Prepare: a store whose jobs table predates the admission column
    const old = file();
    new SqliteStore(old).close();
    const db = new Database(old);
    db.exec('ALTER TABLE jobs DROP COLUMN admission');
    db.prepare("INSERT INTO jobs (id, spec, status, preprocessing, round, error, created_at, updated_at) VALUES ('j0', '{}', 'waiting', NULL, 0, NULL, 1, 1)").run();
    db.close();
    // Execute
    const reopened = new SqliteStore(old);
    // Assert
    expect(reopened.getJob('j0')!.admission).toEqual({ reportedRows: {}, excluded: [] });
    reopened.close();
  });

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
