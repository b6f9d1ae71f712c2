/**
 * Models sent ahead of their requests, end to end: a coordinator that sends
 * every new model while its round commits (the default does so from 1 MiB) and
 * one that never does train the same job on the same data. The agents of the
 * first get each model once, ahead, and requests without it; both jobs make
 * the same models, bit for bit. An agent that does not say it takes models
 * ahead (one older than them) gets them with its requests.
 */
import type { RunningCoordinator } from '@fl/coordinator';
import type { ParticipantAgent } from '@fl/participant-agent';
import { AdminApi, DATA_DIR, featuresOf, splitCsv, startAgent, tempDir, testCoordinator } from './harness';

jest.setTimeout(120_000);

const ROUNDS = 4;
const file = `${DATA_DIR}/breast_cancer.csv`;

interface Run {
  coordinator: RunningCoordinator;
  agents: ParticipantAgent[];
  jobId: string;
  /** per agent, what the coordinator sent it in order: the event, whether it carried weights, and the round */
  received: Map<string, string[]>;
}

/**
 * Two parties (so that FedAvg's sum is the same whatever order their updates come in), a job of ROUNDS rounds.
 * `older`: agents whose handshake does not name 'model-ahead', as before agents took it.
 */
async function train(modelAheadMinBytes: number, older: string[] = []): Promise<Run> {
  const coordinator = await testCoordinator({ modelAheadMinBytes });
  const split = splitCsv(file, 2, { seed: 11, holdout: 0.2, dir: tempDir('ahead') });
  const received = new Map<string, string[]>();
  const agents: ParticipantAgent[] = [];
  for (const [i, part] of split.parties.entries()) {
    const name = `clinic-${i + 1}`;
    const withoutAhead = ({ accepts: _, ...auth }: Record<string, unknown>) => auth;
    const agent = await startAgent(coordinator, name, part, older.includes(name) ? { handshake: withoutAhead } : {});
    received.set(name, []);
    agent.socket.onAny((event: string, message: { header?: { round?: number }; weights?: unknown }) => {
      if (event === 'model-ahead') received.get(name)!.push('model-ahead');
      if (event === 'train' || event === 'evaluate') received.get(name)!.push(`${event} ${message.header?.round}${message.weights ? ' + weights' : ''}`);
    });
    agents.push(agent);
  }
  const job = await AdminApi.of(coordinator).createJob({
    model: 'logistic',
    features: featuresOf(file, 'diagnosis'),
    target: 'diagnosis',
    positiveClass: 'malignant',
    rounds: ROUNDS,
    minParticipants: 2,
    localEpochs: 1,
    batchSize: 16,
    learningRate: 0.1,
  });
  await coordinator.engine.whenFinished(job.id);
  return { coordinator, agents, jobId: job.id, received };
}

describe('new global models sent ahead of their requests', () => {
  let ahead: Run;
  let carried: Run;
  let mixed: Run;

  beforeAll(async () => {
    ahead = await train(0);
    carried = await train(Number.MAX_SAFE_INTEGER);
    mixed = await train(0, ['clinic-2']);
  });

  afterAll(async () => {
    for (const run of [ahead, carried, mixed]) {
      run?.agents.forEach((a) => a.stop());
      await run?.coordinator.close();
    }
  });

  it('reach each agent once, before the request that then comes without them', () => {
    // The initial model comes with round 1's request; every later one, including the last (evaluated), ahead.
    const expected = ['train 1 + weights'];
    for (let round = 2; round <= ROUNDS; round++) expected.push('model-ahead', `train ${round}`);
    expected.push('model-ahead', `evaluate ${ROUNDS}`);
    for (const [agent, events] of ahead.received) expect([agent, events]).toEqual([agent, expected]);
  });

  it('make the same rounds, evaluations and models, bit for bit, as models carried by their requests', async () => {
    for (const run of [ahead, carried, mixed]) expect(await AdminApi.of(run.coordinator).job(run.jobId)).toMatchObject({ status: 'completed', round: ROUNDS });
    const rounds = (run: Run) => run.coordinator.store.listRounds(run.jobId).map((r) => ({ model: r.modelSha256, metrics: r.metrics, evaluation: r.evaluation?.metrics }));
    expect(rounds(ahead)).toEqual(rounds(carried));
    expect(rounds(mixed)).toEqual(rounds(carried));
    expect(rounds(ahead).every((r) => r.evaluation !== undefined)).toBe(true);
    for (const events of carried.received.values()) expect(events.every((e) => e.endsWith('+ weights'))).toBe(true);
  });

  it('go only to agents that say they take them: an older agent gets every model with its request', () => {
    expect(mixed.received.get('clinic-1')).toEqual(ahead.received.get('clinic-1'));
    const older = mixed.received.get('clinic-2')!;
    expect(older).toHaveLength(ROUNDS + 1);
    expect(older.every((e) => e.endsWith('+ weights'))).toBe(true);
  });
});
