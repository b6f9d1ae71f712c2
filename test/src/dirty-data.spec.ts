/**
 * A partner's messy export: rows with the wrong number of fields, numbers that do
 * not parse. The agent neither crashes nor sends anything about those rows; it
 * reports them locally, by line number.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RunningCoordinator } from '@fl/coordinator';
import type { ParticipantAgent } from '@fl/participant-agent';
import { AdminApi, startAgent, tempDir, testCoordinator } from './harness';

jest.setTimeout(120_000);

describe('an agent on dirty data', () => {
  let coordinator: RunningCoordinator;
  const agents: ParticipantAgent[] = [];
  const log: string[] = [];
  const sent: string[] = [];
  let jobId: string;

  beforeAll(async () => {
    coordinator = await testCoordinator();
    const dir = tempDir('dirty');
    const clean = ['income,region,default'];
    const dirty = ['income,region,default'];
    for (let i = 0; i < 60; i++) {
      clean.push(`${20 + i},${i % 2 ? 'north' : 'south'},${i % 3 ? 'no' : 'yes'}`);
      dirty.push(`${25 + i},${i % 2 ? 'north' : 'south'},${i % 3 ? 'yes' : 'no'}`);
    }
    dirty[5] = '12abc,north,no'; // line 6: not a number
    dirty[9] = '31,south'; // line 10: a field short
    dirty[12] = '44,south,no,extra'; // line 13: a field too many
    fs.writeFileSync(path.join(dir, 'clean.csv'), clean.join('\n') + '\n');
    fs.writeFileSync(path.join(dir, 'dirty.csv'), dirty.join('\n') + '\n');
    agents.push(await startAgent(coordinator, 'clean', path.join(dir, 'clean.csv')));
    agents.push(await startAgent(coordinator, 'dirty', path.join(dir, 'dirty.csv'), { log: (m) => log.push(m) }));
    agents[1].socket.onAnyOutgoing((event, message) => sent.push(JSON.stringify({ event, header: (message as { header: unknown }).header })));
    const job = await AdminApi.of(coordinator).createJob({
      model: 'logistic',
      features: [
        { name: 'income', type: 'numeric' },
        { name: 'region', type: 'categorical' },
      ],
      target: 'default',
      rounds: 3,
      minParticipants: 2,
    });
    jobId = job.id;
    await coordinator.engine.whenFinished(jobId);
  });

  afterAll(async () => {
    agents.forEach((a) => a.stop());
    await coordinator?.close();
  });

  it('takes part in every round', async () => {
    expect(await AdminApi.of(coordinator).job(jobId)).toMatchObject({ status: 'completed', round: 3 });
    for (const round of await AdminApi.of(coordinator).rounds(jobId)) {
      expect(round.contributors.find((c) => c.participant === 'dirty')?.numSamples).toBeGreaterThan(40);
    }
  });

  it('reports the bad rows locally, by line and column', () => {
    const report = log.find((l) => l.startsWith('data problems'))!;
    expect(report).toContain('rows skipped for a wrong number of fields: 2');
    expect(report).toContain('values that are not numbers (treated as missing): 1');
    expect(report).toMatch(/line 6, column income: not a number/);
    expect(report).toMatch(/line 10: /);
    expect(report).toMatch(/line 13: /);
    expect(report).not.toContain('12abc');
  });

  it('sends nothing of those rows: no bad value, and the statistics count only what parsed', () => {
    const frames = sent.join('\n');
    expect(frames).not.toContain('12abc');
    expect(frames).not.toContain('extra');
    const statistics = JSON.parse(sent.find((f) => f.includes('"statistics"'))!).header.statistics;
    expect(statistics.rows).toBe(58);
    expect(statistics.features[0]).toMatchObject({ name: 'income', count: 57, missing: 1 });
  });
});
