/**
 * The data contract end to end: one site exports the credit data in other units
 * and formats (income in USD, the loan term in years, assets in thousands, the
 * birth year instead of the age, dates as DD/MM/YYYY) and converts them with its
 * mapping. The job trains the same model, with the same metrics, as when that
 * site's file is already in the job's units; `fl-agent check` shows the
 * conversions; a site whose mapping names the wrong date format reports
 * DATA_UNCONVERTIBLE with counts and a line, never a value.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RunningCoordinator } from '@fl/coordinator';
import { daysFromCivil, parseCsv, type Mapping, type ParticipantAgent } from '@fl/participant-agent';
import { seededRandom, type JobSpecInput, type RoundView } from '@fl/shared';
import { AdminApi, DATA_DIR, startAgent, tempDir, testCoordinator, writeCsv, type GlobalModel } from './harness';
import { AGENT_CLI, run } from './processes';
import { shuffle } from './sim/partition';

jest.setTimeout(300_000);

const RATE = 0.92;
const ROWS_PER_SITE = 1000;

const SPEC: JobSpecInput = {
  name: 'credit default, units declared',
  model: 'logistic',
  target: 'Status',
  positiveClass: 'bad',
  features: [
    { name: 'Seniority', type: 'numeric' },
    { name: 'Home', type: 'categorical' },
    { name: 'Time', type: 'numeric', unit: 'month' },
    { name: 'Age', type: 'numeric' },
    { name: 'Marital', type: 'categorical' },
    { name: 'Records', type: 'categorical' },
    { name: 'Job', type: 'categorical' },
    { name: 'Expenses', type: 'numeric', unit: 'EUR' },
    { name: 'Income', type: 'numeric', unit: 'EUR' },
    { name: 'Assets', type: 'numeric', unit: 'EUR' },
    { name: 'Debt', type: 'numeric', unit: 'EUR' },
    { name: 'Amount', type: 'numeric', unit: 'EUR' },
    { name: 'Price', type: 'numeric', unit: 'EUR' },
    { name: 'Opened', type: 'numeric', format: 'date' },
  ],
  rounds: 3,
  minParticipants: 2,
  roundDeadlineSeconds: 120,
  localEpochs: 2,
  batchSize: 32,
  learningRate: 0.1,
  seed: 11,
};

const MAPPING: Mapping = {
  columns: { Income_USD: 'Income', Term_years: 'Time', Assets_k: 'Assets', BirthYear: 'Age' },
  conversions: {
    Income: { from: 'USD', to: 'EUR', rate: RATE },
    Time: { from: 'year', to: 'month' },
    Assets: { scale: 1000 },
    Age: { scale: -1, offset: 2026 },
    Opened: { date: 'DD/MM/YYYY' },
  },
};

const iso = (days: number) => new Date(days * 86_400_000).toISOString().slice(0, 10);
const european = (days: number) => iso(days).split('-').reverse().join('/');
const american = (days: number) => {
  const [y, m, d] = iso(days).split('-');
  return `${m}/${d}/${y}`;
};

/** The credit data with a date column derived from each row, shuffled, in the job's units: the first sites' files. */
function creditRows(): { header: string[]; rows: string[][]; days: number[] } {
  const csv = parseCsv(fs.readFileSync(path.join(DATA_DIR, 'credit_data.csv'), 'utf8'));
  const rows = shuffle(
    csv.rows.map((r) => r.fields),
    seededRandom(5),
  ).slice(0, 2 * ROWS_PER_SITE);
  const at = (name: string) => csv.header.indexOf(name);
  // The day the account was opened: some years before mid-2008, spread by the row's own values.
  const days = rows.map((r) => daysFromCivil(2008, 6, 30)! - Number(r[at('Seniority')]) * 365 - (Number(r[at('Age')]) % 30) * 7 - Number(r[at('Time')]));
  return { header: [...csv.header, 'Opened'], rows: rows.map((r, i) => [...r, iso(days[i])]), days };
}

/** The same rows as another country's export: USD, years, thousands, birth years and DD/MM/YYYY dates. */
function foreignExport(header: string[], rows: string[][], days: number[], date: (days: number) => string): { header: string[]; rows: string[][] } {
  const local: Record<string, [string, (v: string) => string]> = {
    Income: ['Income_USD', (v) => String(Number(v) / RATE)],
    Time: ['Term_years', (v) => String(Number(v) / 12)],
    Assets: ['Assets_k', (v) => String(Number(v) / 1000)],
    Age: ['BirthYear', (v) => String(2026 - Number(v))],
  };
  const opened = header.indexOf('Opened');
  return {
    header: header.map((c) => local[c]?.[0] ?? c),
    rows: rows.map((r, i) => r.map((v, c) => (c === opened ? date(days[i]) : v === 'NA' ? v : (local[header[c]]?.[1](v) ?? v)))),
  };
}

interface Run {
  coordinator: RunningCoordinator;
  agents: ParticipantAgent[];
  jobId: string;
}

/** A coordinator and two sites, run to the end of one job; the sites keep the same names, hence the same seeds. */
async function trainWith(siteA: string, siteB: string, mapping: Mapping | undefined): Promise<Run> {
  const coordinator = await testCoordinator();
  const agents = [await startAgent(coordinator, 'site-a', siteA), await startAgent(coordinator, 'site-b', siteB, { mapping })];
  const job = await AdminApi.of(coordinator).createJob(SPEC);
  await coordinator.engine.whenFinished(job.id);
  return { coordinator, agents, jobId: job.id };
}

/** Runs `fl-agent check` to its end: its exit status and what it printed. */
function check(args: string[]): Promise<{ status: number | null; output: string }> {
  const { child, output } = run(AGENT_CLI, ['check', ...args]);
  return new Promise((resolve) => child.on('exit', (status) => resolve({ status, output: output() })));
}

describe('a site that exports in other units and formats, with a mapping that converts', () => {
  const dir = tempDir('data-contract');
  const runs: Run[] = [];
  let converted: Run;
  let foreign: Run;
  let jobFile: string;
  let mappingFile: string;
  let foreignFile: string;
  let incomes: number;

  beforeAll(async () => {
    const { header, rows, days } = creditRows();
    const siteA = writeCsv(path.join(dir, 'site-a.csv'), header, rows.slice(0, ROWS_PER_SITE));
    const siteB = rows.slice(ROWS_PER_SITE);
    const bDays = days.slice(ROWS_PER_SITE);
    const convertedFile = writeCsv(path.join(dir, 'site-b-converted.csv'), header, siteB);
    const exported = foreignExport(header, siteB, bDays, european);
    foreignFile = writeCsv(path.join(dir, 'site-b-export.csv'), exported.header, exported.rows);
    incomes = siteB.filter((r) => r[header.indexOf('Income')] !== 'NA').length;
    jobFile = path.join(dir, 'job.json');
    mappingFile = path.join(dir, 'mapping.json');
    fs.writeFileSync(jobFile, JSON.stringify(SPEC, null, 2));
    fs.writeFileSync(mappingFile, JSON.stringify(MAPPING, null, 2));
    // One after the other: the machine may be shared, and each run is judged on its own.
    converted = await trainWith(siteA, convertedFile, undefined);
    runs.push(converted);
    foreign = await trainWith(siteA, foreignFile, MAPPING);
    runs.push(foreign);
  });

  afterAll(async () => {
    for (const r of runs) {
      r.agents.forEach((a) => a.stop());
      await r.coordinator.close();
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('trains with both sites in every round, both times', async () => {
    for (const r of [converted, foreign]) {
      const api = AdminApi.of(r.coordinator);
      expect(await api.job(r.jobId)).toMatchObject({ status: 'completed', round: 3 });
      for (const round of await api.rounds(r.jobId)) {
        expect(round.failures).toEqual([]);
        expect(round.contributors.map((c) => c.participant).sort()).toEqual(['site-a', 'site-b']);
      }
    }
  });

  it('computes the same preprocessing from the converted values', async () => {
    const [a, b] = await Promise.all([converted, foreign].map((r) => AdminApi.of(r.coordinator).job(r.jobId)));
    expect(b.preprocessing!.rows).toBe(a.preprocessing!.rows);
    expect(b.preprocessing!.target).toEqual(a.preprocessing!.target);
    b.preprocessing!.features.forEach((feature, i) => {
      const expected = a.preprocessing!.features[i];
      if (feature.type === 'categorical') return expect(feature).toEqual(expected);
      if (expected.type !== 'numeric') throw new Error(`${feature.name} changed type`);
      expect(feature.mean).toBeCloseTo(expected.mean, 9);
      expect(feature.std).toBeCloseTo(expected.std, 9);
    });
  });

  it('trains the same model, with the same metrics', async () => {
    const [a, b] = await Promise.all([converted, foreign].map((r) => AdminApi.of(r.coordinator).model(r.jobId))) as [GlobalModel, GlobalModel];
    expect(b.weights).toHaveLength(a.weights.length);
    const largest = Math.max(...a.weights.map((w) => Math.abs(w)));
    const difference = Math.max(...b.weights.map((w, i) => Math.abs(w - a.weights[i])));
    expect(largest).toBeGreaterThan(0.05);
    // Float32 weights: the conversions' last-digit differences do not survive the rounding, while a rate off by 1% would.
    expect(difference).toBeLessThan(1e-6);
    const [ra, rb] = (await Promise.all([converted, foreign].map((r) => AdminApi.of(r.coordinator).rounds(r.jobId)))) as [RoundView[], RoundView[]];
    expect(rb.map((r) => Object.keys(r.metrics).sort())).toEqual(ra.map((r) => Object.keys(r.metrics).sort()));
    expect(Object.keys(ra[2].metrics)).toEqual(expect.arrayContaining(['trainLoss', 'trainAccuracy']));
    rb.forEach((round, i) => {
      for (const [name, value] of Object.entries(round.metrics)) expect(value).toBeCloseTo(ra[i].metrics[name], 5);
    });
  });

  it('shows the conversions in fl-agent check', async () => {
    const { status, output } = await check(['--data', foreignFile, '--job', jobFile, '--map', mappingFile]);
    expect(status).toBe(0);
    expect(output).toContain(`Converted Income: USD -> EUR at 0.92: ${incomes} values`);
    expect(output).toContain('Converted Time: year -> month (x 12): 1000 values');
    expect(output).toMatch(/Converted Assets: x 1000: \d{3} values/);
    expect(output).toContain('Converted Age: x -1 + 2026: 1000 values');
    expect(output).toContain('Converted Opened: date DD/MM/YYYY -> days since 1970-01-01: 1000 values');
    expect(output).toContain('1000 rows ready');
  });

  it('refuses, in fl-agent check, a mapping that converts to a unit the job does not declare', async () => {
    const wrong = path.join(dir, 'mapping-usd.json');
    fs.writeFileSync(wrong, JSON.stringify({ ...MAPPING, conversions: { ...MAPPING.conversions, Income: { from: 'EUR', to: 'USD', rate: 1 / RATE } } }));
    const { status, output } = await check(['--data', foreignFile, '--job', jobFile, '--map', wrong]);
    expect(status).not.toBe(0);
    expect(output).toContain('Not usable: mapping: conversions.Income: converts to USD, but the job declares Income in EUR');
  });
});

describe('a site whose mapping names the wrong date format', () => {
  const dir = tempDir('data-contract-dates');
  let coordinator: RunningCoordinator;
  const agents: ParticipantAgent[] = [];
  const sent: string[] = [];
  let exportFile: string;
  let firstBad: number;
  let bad: number;
  let dates: string[];

  beforeAll(async () => {
    const { header, rows, days } = creditRows();
    const siteA = writeCsv(path.join(dir, 'site-a.csv'), header, rows.slice(0, ROWS_PER_SITE));
    // Exported as MM/DD/YYYY, read as DD/MM/YYYY: a day after the 12th makes a month that does not exist.
    const bDays = days.slice(ROWS_PER_SITE);
    const exported = foreignExport(header, rows.slice(ROWS_PER_SITE), bDays, american);
    exportFile = writeCsv(path.join(dir, 'site-c-export.csv'), exported.header, exported.rows);
    dates = bDays.map(american);
    const unconvertible = bDays.map((d) => Number(iso(d).slice(8)) > 12);
    bad = unconvertible.filter(Boolean).length;
    firstBad = unconvertible.indexOf(true) + 2;
    fs.writeFileSync(path.join(dir, 'job.json'), JSON.stringify(SPEC));
    fs.writeFileSync(path.join(dir, 'mapping.json'), JSON.stringify(MAPPING));
    coordinator = await testCoordinator();
    agents.push(await startAgent(coordinator, 'site-a', siteA));
    agents.push(await startAgent(coordinator, 'site-c', exportFile, { mapping: MAPPING }));
    agents[1].socket.onAnyOutgoing((event, message) => sent.push(JSON.stringify({ event, header: (message as { header: unknown }).header })));
  });

  afterAll(async () => {
    agents.forEach((a) => a.stop());
    await coordinator?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('reports DATA_UNCONVERTIBLE with counts and the first line, and the job goes on without it', async () => {
    const api = AdminApi.of(coordinator);
    const job = await api.createJob({ ...SPEC, rounds: 1, minParticipants: 1 });
    await coordinator.engine.whenFinished(job.id);
    expect(await api.job(job.id)).toMatchObject({ status: 'completed', round: 1 });
    const [round] = await api.rounds(job.id);
    expect(round.contributors.map((c) => c.participant)).toEqual(['site-a']);
    expect(round.failures).toEqual([expect.objectContaining({ participant: 'site-c', code: 'DATA_UNCONVERTIBLE' })]);
    const { reason } = round.failures[0];
    expect(reason).toMatch(new RegExp(`\\bvalues ${bad}\\b`));
    expect(reason).toMatch(/\bcolumns 1\b/);
    expect(reason).toMatch(new RegExp(`\\bfirstLine ${firstBad}\\b`));
    expect(bad).toBeGreaterThan(100);
  });

  it('sends no date of its file', () => {
    const frames = sent.join('\n');
    expect(frames).toContain('DATA_UNCONVERTIBLE');
    for (const date of dates) expect(frames).not.toContain(date);
  });

  it('lists the values fl-agent check cannot convert by line and column, never by value', async () => {
    const { status, output } = await check(['--data', exportFile, '--job', path.join(dir, 'job.json'), '--map', path.join(dir, 'mapping.json')]);
    expect(status).not.toBe(0);
    expect(output).toContain(`line ${firstBad}, column Opened: not a date in the format DD/MM/YYYY`);
    expect(output).toContain(`Not usable: ${bad} values cannot be converted (listed above by line and column): the site would report DATA_UNCONVERTIBLE`);
    for (const date of dates.filter((d) => Number(d.slice(3, 5)) > 12)) expect(output).not.toContain(date);
  });
});
