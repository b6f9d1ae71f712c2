/**
 * A site's data from where it lives: `fl-agent check` before joining, a Parquet
 * file, a query on a real PostgreSQL, and a corrected file picked up by the next
 * job without restarting the agent.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Client } from 'pg';
import type { RunningCoordinator } from '@fl/coordinator';
import { JobSpecSchema, type JobSpecInput } from '@fl/shared';
import { readLocalData, rowsOf, type ParticipantAgent } from '@fl/participant-agent';
import { AdminApi, REPO_ROOT, startAgent, tempDir, testCoordinator } from './harness';
import { AGENT_CLI } from './processes';

jest.setTimeout(180_000);

const DATABASE = 'postgres://postgres@127.0.0.1:5432/test';

/** Runs a command to its end, whatever its exit status. */
function exitOf(args: string[], cli = AGENT_CLI): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'], cwd: REPO_ROOT });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, output })));
}

const JOB: JobSpecInput = {
  name: 'loans',
  model: 'logistic',
  features: [
    { name: 'income', type: 'numeric' },
    { name: 'region', type: 'categorical' },
  ],
  target: 'default',
  rounds: 2,
  minParticipants: 2,
};

describe('fl-agent check', () => {
  let dir: string;
  let job: string;
  beforeAll(() => {
    dir = tempDir('check');
    job = path.join(dir, 'job.json');
    fs.writeFileSync(job, JSON.stringify(JOB));
  });

  it('counts the rows ready, names the problems by line and column, and says what the check cost', async () => {
    // Prepare: line 3 has a bad number, line 5 two fields too few, line 6 no target
    const file = path.join(dir, 'site.csv');
    fs.writeFileSync(file, 'income,region,default,note\n30,north,no,a\n12abc,south,yes,b\n41,south,no,c\n50,north\n22,north,,e\n');

    // Execute
    const { code, output } = await exitOf(['check', '--data', file, '--job', job]);

    // Assert
    expect(code).toBe(0);
    expect(output).toContain('line 3, column income: not a number');
    expect(output).toContain('line 5: expected 4 fields, found 2');
    expect(output).toContain('Rows without a default value, left out: 1');
    expect(output).toMatch(/^3 rows ready$/m);
    expect(output).toMatch(/^checked in \d+\.\d s; peak memory \d+ MiB$/m);
  });

  it('exits 1 when a job column is missing, naming it', async () => {
    const file = path.join(dir, 'short.csv');
    fs.writeFileSync(file, 'income,default\n30,no\n');

    const { code, output } = await exitOf(['check', '--data', file, '--job', job]);

    expect(code).toBe(1);
    expect(output).toContain('The data is missing required columns: region');
    expect(output).toMatch(/^0 rows ready$/m);
  });

  it('exits 1 when the target cannot serve the job', async () => {
    const file = path.join(dir, 'three.csv');
    fs.writeFileSync(file, 'income,region,default\n1,a,no\n2,b,yes\n3,c,maybe\n');

    const { code, output } = await exitOf(['check', '--data', file, '--job', job]);

    expect(code).toBe(1);
    expect(output).toContain('a logistic job needs a target with 2 classes; default has 3 here');
  });

  it('applies the mapping, as the agent would', async () => {
    const file = path.join(dir, 'local.csv');
    fs.writeFileSync(file, 'Einkommen,Region,default\n30,Nord,no\n40,Sued,yes\n');
    const map = path.join(dir, 'map.json');
    fs.writeFileSync(map, JSON.stringify({ columns: { Einkommen: 'income', Region: 'region' } }));

    const { code, output } = await exitOf(['check', '--data', file, '--job', job, '--map', map]);

    expect(code).toBe(0);
    expect(output).toMatch(/^2 rows ready$/m);
  });

  it('exits 1 on an unreadable file or job, and 64 on a usage error', async () => {
    const absent = await exitOf(['check', '--data', path.join(dir, 'absent.csv'), '--job', job]);
    const badJob = path.join(dir, 'bad-job.json');
    fs.writeFileSync(badJob, JSON.stringify({ ...JOB, model: 'forest' }));
    const invalid = await exitOf(['check', '--data', path.join(dir, 'site.csv'), '--job', badJob]);
    const usage = await exitOf(['check', '--data', path.join(dir, 'site.csv')]);
    const queryWithoutDatabase = await exitOf(['check', '--data', path.join(dir, 'site.csv'), '--job', job, '--query', 'select 1']);

    expect(absent.code).toBe(1);
    expect(absent.output).toContain('cannot read the data file');
    expect(invalid.code).toBe(1);
    expect(invalid.output).toMatch(/is not a valid job: model:/);
    expect(usage.code).toBe(64);
    expect(usage.output).toContain('--job is required');
    expect(queryWithoutDatabase.code).toBe(64);
  });
});

describe('a Parquet file', () => {
  let dir: string;
  let job: string;
  let file: string;

  beforeAll(async () => {
    dir = tempDir('parquet');
    job = path.join(dir, 'job.json');
    fs.writeFileSync(job, JSON.stringify(JOB));
    file = path.join(dir, 'site.parquet');
    // Written by hyparquet-writer in a child process: it is an ES module, which the test runner cannot load.
    const writer = `
      const { parquetWriteFile } = require('hyparquet-writer');
      parquetWriteFile({
        filename: process.argv[1],
        rowGroupSize: 2,
        columnData: [
          { name: 'income', data: [30.5, null, 41, 12, 55], type: 'DOUBLE' },
          { name: 'accounts', data: [1n, 2n, 3n, 4n, 5n], type: 'INT64' },
          { name: 'region', data: ['north', 'south', null, 'south', 'north'], type: 'STRING' },
          { name: 'default', data: ['no', 'yes', 'no', null, 'yes'], type: 'STRING' },
          { name: 'opened', data: [new Date(0), new Date(86400000), null, new Date(Date.UTC(2026, 11, 31, 12)), new Date(-86400000)], type: 'TIMESTAMP' },
        ],
      });`;
    const child = spawn(process.execPath, ['-e', writer, file], { cwd: path.join(REPO_ROOT, 'participant-agent'), stdio: 'inherit' });
    expect(await new Promise((resolve) => child.on('exit', resolve))).toBe(0);
  });

  it('is read by its columns, row group by row group, with nulls as missing values', async () => {
    const { code, output } = await exitOf(['check', '--data', file, '--job', job]);

    expect(code).toBe(0);
    expect(output).toContain('Rows read: 5; rows skipped for a wrong number of fields: 0; values that are not numbers (treated as missing): 0');
    expect(output).toContain('Rows without a default value, left out: 1');
    expect(output).toMatch(/^4 rows ready$/m);
  });

  it('names a missing column, counting the rows all the same, exit 1', async () => {
    const withAbsent = path.join(dir, 'absent-column.json');
    fs.writeFileSync(withAbsent, JSON.stringify({ ...JOB, features: [...JOB.features, { name: 'absent', type: 'numeric' }] }));

    const { code, output } = await exitOf(['check', '--data', file, '--job', withAbsent]);

    expect(code).toBe(1);
    expect(output).toContain('The data is missing required columns: absent');
    expect(output).toContain('Rows read: 5;');
  });

  it('reads a timestamp column as dates, without a format to give', async () => {
    const withDate = path.join(dir, 'date.json');
    fs.writeFileSync(withDate, JSON.stringify({ ...JOB, features: [...JOB.features, { name: 'opened', type: 'numeric', format: 'date' }] }));

    const { code, output } = await exitOf(['check', '--data', file, '--job', withDate]);

    expect(code).toBe(0);
    expect(output).toContain('Converted opened: date YYYY-MM-DD -> days since 1970-01-01: 4 values');
    expect(output).not.toContain('Problems');
  });

  it('reports problems by row, and reads 64-bit integers as numbers', async () => {
    const regionAsNumber = path.join(dir, 'numeric-region.json');
    fs.writeFileSync(regionAsNumber, JSON.stringify({ ...JOB, features: [{ name: 'accounts', type: 'numeric' }, { name: 'region', type: 'numeric' }] }));

    const { code, output } = await exitOf(['check', '--data', file, '--job', regionAsNumber]);

    expect(code).toBe(0);
    expect(output).toContain('row 1, column region: not a number');
    expect(output).toContain('values that are not numbers (treated as missing): 4');
  });
});

describe('a PostgreSQL query', () => {
  const table = `fl_ingest_${randomBytes(4).toString('hex')}`;
  let client: Client;
  const spec = JobSpecSchema.parse(JOB);

  beforeAll(async () => {
    client = new Client({ connectionString: DATABASE });
    await client.connect();
    await client.query(`create table ${table} (id serial, income numeric, accounts bigint, score float8, region text, "default" text)`);
    // 25,000 rows: more than one cursor batch.
    await client.query(
      `insert into ${table} (income, accounts, score, region, "default")
       select case when i % 10 = 0 then null else i / 4.0 end, i, case when i % 7 = 0 then 'NaN'::float8 else i * 0.5 end,
              case when i % 3 = 0 then 'south' else 'north' end, case when i % 2 = 0 then 'yes' else 'no' end
       from generate_series(1, 25000) as i`,
    );
  });

  afterAll(async () => {
    await client.query(`drop table if exists ${table}`);
    await client.end();
  });

  it('is streamed through a cursor into typed columns: numeric, bigint and float8 as numbers, NULL and NaN as missing', async () => {
    const { table: local, report } = await readLocalData(
      { location: DATABASE, query: `select income, accounts, score, region, "default" from ${table} order by id` },
      JobSpecSchema.parse({ ...JOB, features: [...JOB.features, { name: 'accounts', type: 'numeric' }, { name: 'score', type: 'numeric' }] }),
    );

    expect(report).toEqual({ ok: true, missingColumns: [], problems: [], counts: { rows: 25_000, unparsable: 0, badRows: 0 }, unit: 'row' });
    const rows = rowsOf(local);
    expect(rows[0]).toEqual([0.25, 'north', 1, 0.5, 'no']);
    expect(rows[6]).toEqual([1.75, 'north', 7, null, 'no']);
    expect(rows[9]).toEqual([null, 'north', 10, 5, 'yes']);
    expect(rows[24_998]).toEqual([6249.75, 'south', 24_999, 12_499.5, 'no']);
  });

  it('reads date and timestamp columns as the days they say, whatever the agent\'s time zone, and converts numeric ones', async () => {
    // Prepare: an agent 14 hours east of UTC, where a date read as local midnight falls on the day before in UTC
    const query = `select d::date as opened, t::timestamp as seen, w::numeric as weight_lb, 'no' as "default"
                   from (values ('2026-12-31', '2026-12-31 23:30:00', 150), ('1969-12-31', '1970-01-01 00:00:00', null), (null, 'infinity', 2)) as v(d, t, w)`;
    const job = {
      ...JOB,
      features: [
        { name: 'opened', type: 'numeric', format: 'date' },
        { name: 'seen', type: 'numeric', format: 'date' },
        { name: 'weight', type: 'numeric', unit: 'kg' },
      ],
    };
    const mapping = { columns: { weight_lb: 'weight' }, conversions: { weight: { from: 'lb', to: 'kg' } } };
    // A child process: the time zone is read from its environment, which a test cannot change for itself.
    const script = `
      const { JobSpecSchema } = require('@fl/shared');
      const { readLocalData, rowsOf } = require('@fl/participant-agent/dist/data');
      const [location, query, job, mapping] = process.argv.slice(1);
      readLocalData({ location, query }, JobSpecSchema.parse(JSON.parse(job)), JSON.parse(mapping)).then(({ table, report }) =>
        process.stdout.write(JSON.stringify({ offset: new Date(2026, 11, 31).getTimezoneOffset(), rows: rowsOf(table), problems: report.problems })));`;
    const child = spawn(process.execPath, ['-e', script, DATABASE, query, JSON.stringify(job), JSON.stringify(mapping)], {
      cwd: REPO_ROOT,
      env: { ...process.env, TZ: 'Pacific/Kiritimati' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk));

    // Execute
    expect(await new Promise((resolve) => child.on('exit', resolve))).toBe(0);
    const { offset, rows, problems } = JSON.parse(output) as { offset: number; rows: (number | null)[][]; problems: unknown[] };

    // Assert
    expect(offset).toBe(-14 * 60);
    expect(rows.map((r) => r.slice(0, 2))).toEqual([
      [20_818, 20_818],
      [-1, 0],
      [null, null],
    ]);
    expect(rows.map((r) => r[2])).toEqual([150 * 0.45359237, null, 2 * 0.45359237]);
    expect(problems).toEqual([{ line: 3, column: 'seen', reason: 'not a date in the format YYYY-MM-DD' }]);
  });

  it('is checked with fl-agent check --query', async () => {
    const { code, output } = await exitOf(['check', '--data', DATABASE, '--query', `select * from ${table} where id <= 1000`, '--job', await jobFile()]);

    expect(code).toBe(0);
    expect(output).toMatch(/^1000 rows ready$/m);
    expect(output).toContain('Checking postgres://postgres@127.0.0.1:5432/test against job "loans"');
  });

  it('names the database and the error of a failing query, exit 1', async () => {
    const { code, output } = await exitOf(['check', '--data', DATABASE, '--query', `select * from ${table}_absent`, '--job', await jobFile()]);

    expect(code).toBe(1);
    expect(output).toMatch(/the query on postgres:\/\/postgres@127\.0\.0\.1:5432\/test failed: relation ".*_absent" does not exist/);
  });

  it('needs a query', async () => {
    const { code, output } = await exitOf(['check', '--data', DATABASE, '--job', await jobFile()]);

    expect(code).toBe(64);
    expect(output).toContain('needs --query');
  });

  async function jobFile(): Promise<string> {
    const file = path.join(tempDir('pg-job'), 'job.json');
    await fs.promises.writeFile(file, JSON.stringify(spec));
    return file;
  }
});

describe('agents on a query and on a file that is corrected between jobs', () => {
  const table = `fl_ingest_${randomBytes(4).toString('hex')}`;
  let client: Client;
  let coordinator: RunningCoordinator;
  const agents: ParticipantAgent[] = [];
  let file: string;

  const rows = (n: number, offset: number) =>
    Array.from({ length: n }, (_, i) => `${20 + ((i + offset) % 50)},${i % 2 ? 'north' : 'south'},${(i + offset) % 3 ? 'no' : 'yes'}`);

  beforeAll(async () => {
    client = new Client({ connectionString: DATABASE });
    await client.connect();
    await client.query(`create table ${table} (income int, region text, "default" text)`);
    await client.query(
      `insert into ${table} select 20 + i % 50, case when i % 2 = 1 then 'north' else 'south' end, case when i % 3 = 0 then 'yes' else 'no' end from generate_series(0, 79) as i`,
    );
    coordinator = await testCoordinator();
    file = path.join(tempDir('fresh'), 'site.csv');
    fs.writeFileSync(file, ['income,region,default', ...rows(40, 0)].join('\n') + '\n');
    agents.push(await startAgent(coordinator, 'from-file', file));
    agents.push(await startAgent(coordinator, 'from-query', DATABASE, { query: `select * from ${table}` }));
  });

  afterAll(async () => {
    agents.forEach((a) => a.stop());
    await coordinator?.close();
    await client.query(`drop table if exists ${table}`);
    await client.end();
  });

  const samples = async (job: string) => {
    const rounds = await AdminApi.of(coordinator).rounds(job);
    return Object.fromEntries(rounds[0].contributors.map((c) => [c.participant, c.numSamples]));
  };

  it('trains on the rows the query returns, and on the corrected file in the next job without a restart', async () => {
    // Execute: a first job, then the file gains 40 rows, then a second job
    const api = AdminApi.of(coordinator);
    const first = await api.createJob({ ...JOB, evaluateEvery: 0 });
    await coordinator.engine.whenFinished(first.id);
    fs.writeFileSync(file, ['income,region,default', ...rows(80, 0)].join('\n') + '\n');
    const second = await api.createJob({ ...JOB, evaluateEvery: 0 });
    await coordinator.engine.whenFinished(second.id);

    // Assert
    expect(await api.job(first.id)).toMatchObject({ status: 'completed' });
    expect(await api.job(second.id)).toMatchObject({ status: 'completed' });
    expect(await samples(first.id)).toEqual({ 'from-file': 40, 'from-query': 80 });
    expect(await samples(second.id)).toEqual({ 'from-file': 80, 'from-query': 80 });
  });
});
