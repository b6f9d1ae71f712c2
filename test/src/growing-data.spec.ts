/**
 * A site's data file that grows while a job runs (a nightly export appending
 * the day's rows): the coordinator holds each update to the rows the site's
 * statistics reported, so the agent trains on the rows the job began with, says
 * so, and stays in every round; the rows appended join the next job. In a
 * secure job, every attempt of the statistics phase, and training, use the rows
 * the first attempt read, also after the agent restarts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { combineStatistics, type RunningCoordinator } from '@fl/coordinator';
import { computeStatistics, loadLocalData, type ParticipantAgent } from '@fl/participant-agent';
import { canonicalJson, type JobSpec, type JobSpecInput, type Preprocessing } from '@fl/shared';
import { AdminApi, breastCancerJob, registerParticipant, splitCsv, startAgent, tempDir, testCoordinator } from './harness';

jest.setTimeout(240_000);

const grownLine = (job: string, rows: number) => `job ${job}: the data has 40 rows more than when the job began: it uses the first ${rows}, the others join the next job`;

describe('a data file that grows during a job', () => {
  let coordinator: RunningCoordinator;
  const agents: ParticipantAgent[] = [];

  afterAll(async () => {
    agents.forEach((a) => a.stop());
    await coordinator?.close();
  });

  beforeAll(async () => {
    coordinator = await testCoordinator();
  });

  it('trains on the rows the job began with, in every round, and says so', async () => {
    // Arrange: two sites; site-2's file gains 40 rows once its statistics are in
    const api = AdminApi.of(coordinator);
    const { file, spec } = breastCancerJob();
    const split = splitCsv(file, 2, { seed: 9, holdout: 0, dir: tempDir('growing-data') });
    const grown = split.parties[1];
    const logged: string[] = [];
    agents.push(await startAgent(coordinator, 'site-1', split.parties[0]));
    const growing = await startAgent(coordinator, 'site-2', grown, { log: (line) => logged.push(line) });
    agents.push(growing);
    const before = fs.readFileSync(grown, 'utf8').trim().split('\n');
    growing.once('statistics', () => fs.appendFileSync(grown, before.slice(1, 41).join('\n') + '\n'));

    // Execute
    const job = await api.createJob({ ...spec, rounds: 3, minParticipants: 1, roundDeadlineSeconds: 60 } as JobSpecInput);
    await coordinator.engine.whenFinished(job.id);

    // Assert: site-2 in every round, with the rows it began with, and no round refused it
    expect((await api.job(job.id)).status).toBe('completed');
    const rounds = await api.rounds(job.id);
    expect(rounds).toHaveLength(3);
    for (const round of rounds) {
      expect(round.failures).toEqual([]);
      expect(round.contributors.find((c) => c.participant === 'site-2')?.numSamples).toBe(before.length - 1);
    }
    expect(logged).toContainEqual(grownLine(job.id, before.length - 1));
  });

  /**
   * Two sites, the second journaling what it sends; its file gains 40 rows once its statistics are in, and its agent
   * is restarted (with the same key and journal) once it has trained, `meanwhile` run on the journal in between.
   */
  async function restartedOnGrownFile(names: [string, string], seed: number, meanwhile: (journalFile: string) => void = () => undefined) {
    agents.splice(0).forEach((a) => a.stop());
    const api = AdminApi.of(coordinator);
    const dir = tempDir(`growing-data-${names[1]}`);
    const split = splitCsv(breastCancerJob().file, 2, { seed, holdout: 0, dir });
    const grown = split.parties[1];
    const journalFile = path.join(dir, 'journal.jsonl');
    const keys = await registerParticipant(api, names[1]);
    const logged: string[] = [];
    agents.push(await startAgent(coordinator, names[0], split.parties[0]));
    const first = await startAgent(coordinator, names[1], grown, { keys, journalFile });
    agents.push(first);
    const before = fs.readFileSync(grown, 'utf8').trim().split('\n');
    first.once('statistics', () => fs.appendFileSync(grown, before.slice(1, 41).join('\n') + '\n'));
    const restarted = new Promise<ParticipantAgent>((resolve) =>
      first.once('trained', () => {
        first.stop();
        meanwhile(journalFile);
        void startAgent(coordinator, names[1], grown, { keys, journalFile, log: (line) => logged.push(line) }).then((second) => {
          agents.push(second);
          resolve(second);
        });
      }),
    );
    return { api, rows: before.length - 1, restarted, logged };
  }

  it('still trains on them after its agent restarts during the job: the journal kept them', async () => {
    // Arrange
    const { api, rows, restarted, logged } = await restartedOnGrownFile(['site-3', 'site-4'], 11);

    // Execute
    const job = await api.createJob({ ...breastCancerJob().spec, rounds: 4, minParticipants: 2, roundDeadlineSeconds: 60 } as JobSpecInput);
    await restarted;
    await coordinator.engine.whenFinished(job.id);

    // Assert: the restarted agent trained on the rows the job began with, and no round refused site-4 (the restart itself may cost it a round)
    expect((await api.job(job.id)).status).toBe('completed');
    const rounds = await api.rounds(job.id);
    expect(rounds).toHaveLength(4);
    expect(rounds.flatMap((r) => r.failures).filter((f) => f.reason !== 'disconnected')).toEqual([]);
    for (const round of [rounds[0], rounds[3]]) expect(round.contributors.find((c) => c.participant === 'site-4')?.numSamples).toBe(rows);
    expect(logged).toContainEqual(grownLine(job.id, rows));
  });

  it('still trains on them after a restart when the journal has its statistics without their answer (killed before the ack came)', async () => {
    // Arrange: the journal left as a kill before the statistics' ack leaves it: their line, no answer line
    const { api, rows, restarted, logged } = await restartedOnGrownFile(['site-5', 'site-6'], 13, (journalFile) => {
      const lines = fs.readFileSync(journalFile, 'utf8').trimEnd().split('\n');
      const { nonce } = JSON.parse(lines.find((l) => l.includes('"kind":"statistics"'))!) as { nonce: string };
      fs.writeFileSync(journalFile, lines.filter((l) => !l.includes(`"kind":"answer","nonce":"${nonce}"`)).join('\n') + '\n');
    });
    const trainedAgain = restarted.then((second) => new Promise<{ ok: boolean }>((resolve) => second.once('trained', ({ ack }: { ack: { ok: boolean } }) => resolve(ack))));

    // Execute
    const job = await api.createJob({ ...breastCancerJob().spec, rounds: 20, minParticipants: 2, roundDeadlineSeconds: 60 } as JobSpecInput);
    const ack = await trainedAgain;
    await coordinator.engine.control(job.id, 'stop', 'user:test');
    await coordinator.engine.whenFinished(job.id);

    // Assert: the restarted agent's update was accepted, trained on the rows the job began with
    expect(ack).toMatchObject({ ok: true });
    expect(logged).toContainEqual(grownLine(job.id, rows));
  });
});

describe("a data file that grows between two attempts of a secure job's statistics phase", () => {
  let coordinator: RunningCoordinator;
  const agents: ParticipantAgent[] = [];

  afterAll(async () => {
    agents.forEach((a) => a.stop());
    await coordinator?.close();
  });

  beforeAll(async () => {
    coordinator = await testCoordinator();
  });

  /**
   * Four sites, each journaling what it sends, in a secure job whose statistics phase is attempted twice: site
   * `dropping` goes away once it has shared its keys in round 0, so the first attempt closes below the minimum, and
   * comes back with its key and journal; the last site's file gains 40 rows in between.
   */
  async function attemptedTwice(prefix: string, seed: number, dropping: number) {
    agents.splice(0).forEach((a) => a.stop());
    const api = AdminApi.of(coordinator);
    const { file, spec, secure } = breastCancerJob();
    const dir = tempDir(`growing-secure-${prefix}`);
    const split = splitCsv(file, 4, { seed, holdout: 0, dir });
    const grown = split.parties[3];
    // The tables as the first attempt read them.
    const originals = split.parties.map((party, i) => {
      const copy = path.join(dir, `original-${i}.csv`);
      fs.copyFileSync(party, copy);
      return copy;
    });
    const before = fs.readFileSync(grown, 'utf8').trim().split('\n');
    const names = split.parties.map((_, i) => `${prefix}-${i}`);
    const keys = await Promise.all(names.map((name) => registerParticipant(api, name)));
    const logged: string[] = [];
    /** the growing site's answers to round 0's advertise step, one per attempt of the phase it took part in */
    let advertised = 0;
    let dropped = false;
    const start = (i: number) =>
      startAgent(coordinator, names[i], split.parties[i], { keys: keys[i], journalFile: path.join(dir, `${names[i]}.jsonl`), log: i === 3 ? (line) => logged.push(line) : undefined });
    const watch = (agent: ParticipantAgent, i: number) => {
      agents.push(agent);
      agent.on('secagg', ({ round, step, ack }: { round: number; step: string; ack: { ok: boolean } }) => {
        if (round !== 0 || !ack.ok) return;
        if (i === 3 && step === 'advertise') advertised++;
        if (i !== dropping || step !== 'share' || dropped) return;
        dropped = true;
        agent.stop();
        fs.appendFileSync(grown, before.slice(1, 41).join('\n') + '\n');
        void start(i).then((again) => watch(again, i));
      });
    };
    (await Promise.all(names.map((_, i) => start(i)))).forEach(watch);

    const job = await api.createJob({ ...spec, rounds: 2, roundDeadlineSeconds: 60, secureAggregation: secure } as JobSpecInput);
    await coordinator.engine.whenFinished(job.id);

    const view = await api.job(job.id);
    const statistics = await Promise.all(originals.map(async (original) => computeStatistics((await loadLocalData(original, view.spec)).table, view.spec)));
    const weights = (await api.audit()).records.filter((r) => r.kind === 'model.committed' && r.data.job === job.id).map((r) => (r.data.secure as { weight: number }).weight);
    return { view, expected: combineStatistics(view.spec, statistics), rows: before.length - 1, weights, logged, advertised };
  }

  /** The numeric features whose mean or std differs from the expected one by more than the fixed-point step of the secure sum, and the others that differ at all. */
  function differing(actual: Preprocessing, expected: Preprocessing, spec: JobSpec): string[] {
    return actual.features.flatMap((f, i) => {
      const e = expected.features[i];
      if (f.type !== 'numeric' || e.type !== 'numeric') return canonicalJson(f) === canonicalJson(e) ? [] : [f.name];
      const [lo, hi] = (spec.features[i] as { bounds: [number, number] }).bounds;
      const step = (hi - lo) / 2 ** 20;
      return Math.abs(f.mean - e.mean) <= step && Math.abs(f.std - e.std) <= step ? [] : [f.name];
    });
  }

  it.each([
    ['another site drops and comes back', 'grow-a', 21, 2],
    ['the growing site itself is restarted', 'grow-b', 23, 3],
  ])('computes the statistics, and trains, on the rows the first attempt read (%s)', async (_, prefix, seed, dropping) => {
    // Arrange + Execute
    const { view, expected, rows, weights, logged, advertised } = await attemptedTwice(prefix, seed, dropping);

    // Assert: the phase was attempted twice; the statistics are of the tables the first attempt read
    expect(view.status).toBe('completed');
    expect(advertised).toBe(2);
    const preprocessing = view.preprocessing!;
    expect(preprocessing.rows).toBe(expected.rows);
    expect(preprocessing.target).toEqual(expected.target);
    expect(differing(preprocessing, expected, view.spec)).toEqual([]);
    // and every round trained on them: the sum's weight is the rows, and the growing site says it trained on its first ones
    expect(weights).toEqual([expected.rows, expected.rows]);
    for (const round of [1, 2]) expect(logged).toContainEqual(expect.stringMatching(new RegExp(`^job ${view.id} round ${round}: trained on ${rows} rows in `)));
    expect(logged).toContainEqual(grownLine(view.id, rows));
  });
});
