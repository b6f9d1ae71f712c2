/**
 * A site's problems never fail the job for the others: one site whose file lacks
 * a column and one whose policy declines the job send signed failure reports,
 * which every round records with their codes and the dashboard shows; one site
 * with a target value that no other site has is left out of the job at the
 * statistics phase, with its code on the job. The job completes with the rest. Then `fl-agent report` lists, from a site's journal,
 * every message it sent.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { chromium } from 'playwright-core';
import type { RunningCoordinator } from '@fl/coordinator';
import { ParticipantAgent, type SitePolicy } from '@fl/participant-agent';
import type { RoundView } from '@fl/shared';
import { AdminApi, DATA_DIR, featuresOf, registerParticipant, splitCsv, tempDir, testCoordinator, writeCsv } from './harness';
import { AGENT_CLI, runToEnd } from './processes';

jest.setTimeout(240_000);

describe('failure reports and policy declines', () => {
  const dir = tempDir('site-failures');
  const file = `${DATA_DIR}/breast_cancer.csv`;
  let coordinator: RunningCoordinator;
  let api: AdminApi;
  let jobId: string;
  const agents: ParticipantAgent[] = [];
  const logs = new Map<string, string[]>();

  const start = async (name: string, dataFile: string, policy?: SitePolicy) => {
    const keys = await registerParticipant(api, name);
    const lines: string[] = [];
    logs.set(name, lines);
    const agent = new ParticipantAgent({
      coordinatorUrl: coordinator.url,
      keys,
      dataFile,
      policy,
      coordinatorKey: coordinator.identity.publicKey,
      journalFile: path.join(dir, name, 'journal.jsonl'),
      log: (m) => lines.push(m),
      reconnectDelayMs: 100,
      reconnectDelayMaxMs: 1000,
    });
    agents.push(agent);
    await agent.start();
  };

  afterAll(async () => {
    for (const agent of agents) agent.stop();
    await coordinator?.close();
  });

  it('records each site code in every round while the job completes with the others', async () => {
    coordinator = await testCoordinator();
    api = AdminApi.of(coordinator);
    const split = splitCsv(file, 3, { seed: 3, holdout: 0, dir });
    // One row of the third site's file has a label that no other site has.
    const bad = path.join(dir, 'bad-target.csv');
    const rows = split.rows.filter((_, i) => i % 3 === 2);
    const target = split.header.indexOf('diagnosis');
    writeCsv(bad, split.header, rows.map((r, i) => (i === 5 ? r.map((v, j) => (j === target ? 'maybe' : v)) : r)));
    // Another site's export lacks a column of the job.
    const short = path.join(dir, 'short.csv');
    const dropped = split.header.indexOf('worst_area');
    writeCsv(short, split.header.filter((_, j) => j !== dropped), split.rows.filter((_, i) => i % 3 === 0).map((r) => r.filter((_, j) => j !== dropped)));
    const features = featuresOf(file, 'diagnosis');
    await start('clinic-a', split.parties[0]);
    await start('clinic-b', split.parties[1]);
    await start('clinic-typo', bad);
    await start('clinic-short', short);
    // This site never trains a model on the radius column: the job uses it as a feature.
    await start('clinic-strict', split.parties[1], { features: { forbidden: [features[0].name] }, requireSecureAggregation: false, requireDifferentialPrivacy: false });

    const job = await api.createJob({ model: 'logistic', features, target: 'diagnosis', rounds: 3, minParticipants: 2, roundDeadlineSeconds: 60, evaluateEvery: 0 });
    jobId = job.id;
    await coordinator.engine.whenFinished(job.id);

    // Assert: the job completed; every round folded in the two good sites and recorded the two others with their codes.
    expect((await api.job(job.id)).status).toBe('completed');
    const rounds = (await api.request<RoundView[]>('GET', `/api/jobs/${job.id}/rounds`)).body;
    expect(rounds).toHaveLength(3);
    for (const round of rounds) {
      expect(round.contributors.map((c) => c.participant).sort()).toEqual(['clinic-a', 'clinic-b']);
      const codes = Object.fromEntries(round.failures.map((f) => [f.participant, f.code]));
      expect(codes).toEqual({ 'clinic-strict': 'POLICY_COLUMN', 'clinic-short': 'DATA_MISSING_COLUMNS' });
      // A count, never the value.
      expect(round.failures.find((f) => f.participant === 'clinic-short')!.reason).toMatch(/columns 1\b/);
    }
    // The stray label left its site out of the job, not the job out of the run, and the value is not repeated.
    const { excluded } = await api.job(job.id);
    expect(excluded).toEqual([{ participant: 'clinic-typo', code: 'UNDECLARED_CLASS', reason: expect.any(String) }]);
    expect(excluded[0].reason).not.toContain('maybe');
    // The sites logged what they decided: the refusal named in full at the site, the acceptance with its terms.
    expect(logs.get('clinic-strict')!.join('\n')).toMatch(/declined under this site's policy: columns not allowed: feature mean_radius/);
    expect(logs.get('clinic-a')!.join('\n')).toMatch(/accepted: logistic model, strategy fedavg, 3 rounds/);
  });

  it("shows each site's code in the dashboard's round table", async () => {
    const context = await chromium.launchPersistentContext(tempDir('chromium-profile'), {
      executablePath: '/usr/bin/chromium',
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
    });
    try {
      const page = context.pages()[0] ?? (await context.newPage());
      await page.goto(`${coordinator.url}/jobs/${jobId}`);
      await page.getByRole('button', { name: 'Sign in with an API token' }).click();
      const field = page.getByLabel('Access token');
      await field.fill(coordinator.adminToken!);
      await field.press('Enter');
      const codes = page.getByTestId('round-table').getByTestId('failure-code');
      await codes.first().waitFor();
      // Three rounds, two coded failures each; the site left out of the job is named on the job.
      expect(await codes.count()).toBe(6);
      const shown = await codes.allTextContents();
      expect(shown).toContain('clinic-short: DATA_MISSING_COLUMNS');
      expect(shown).toContain('clinic-strict: POLICY_COLUMN');
      await expect(page.getByTestId('job-excluded').textContent()).resolves.toMatch(/clinic-typo: UNDECLARED_CLASS/);
    } finally {
      await context.close();
    }
  });

  it('fl-agent report lists what each site sent, per job, without a value of its data', async () => {
    // The site left out of the job sent its statistics (which aggregates, never a value) and nothing after.
    const typo = await runToEnd(AGENT_CLI, ['report', '--journal', path.join(dir, 'clinic-typo', 'journal.jsonl')]);
    expect(typo).toMatch(/^# What this site sent/m);
    expect(typo).toMatch(/### Statistics/);
    expect(typo).toMatch(/\| mean_radius \| feature \| count, sum, sumSquares, missing \|/);
    expect(typo).toMatch(/\| diagnosis \| target \| counts of 3 categories \|/);
    expect(typo).not.toMatch(/### Updates/);
    expect(typo).not.toContain('maybe');
    // The site without a column reported it at every request, as counts.
    const journal = path.join(dir, 'clinic-short', 'journal.jsonl');
    const markdown = await runToEnd(AGENT_CLI, ['report', '--journal', journal]);
    expect(markdown).toMatch(/\| statistics \| 0 \| yes \| DATA_MISSING_COLUMNS \| columns 1 \|/);
    for (const round of [1, 2, 3]) expect(markdown).toMatch(new RegExp(`\\| train \\| ${round} \\| yes \\| DATA_MISSING_COLUMNS \\| columns 1 \\|`));

    const good = JSON.parse(await runToEnd(AGENT_CLI, ['report', '--journal', path.join(dir, 'clinic-a', 'journal.jsonl'), '--format', 'json'])) as {
      jobs: { updates: { round: number; bytes: number; sha256: string; accepted: boolean }[]; statistics: unknown[] }[];
    };
    expect(good.jobs).toHaveLength(1);
    expect(good.jobs[0].statistics).toHaveLength(1);
    expect(good.jobs[0].updates.map((u) => u.round)).toEqual([1, 2, 3]);
    for (const update of good.jobs[0].updates) {
      expect(update.accepted).toBe(true);
      expect(update.bytes).toBeGreaterThan(0);
      expect(update.sha256).toMatch(/^[0-9a-f]{64}$/);
    }
    const future = JSON.parse(await runToEnd(AGENT_CLI, ['report', '--journal', journal, '--format', 'json', '--since', '2999-01-01'])) as { messages: number };
    expect(future.messages).toBe(0);
    expect(fs.existsSync(journal)).toBe(true);
  });
});
