/**
 * The fl-sim command: --help documents every flag; a bad flag, a bad value, a
 * missing column or an unreadable file ends with one `fl-sim:` line and a
 * non-zero status (64 for usage, 1 for failures); a short real run writes a JSON
 * report that passes the schema and an SVG chart.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DATA_DIR, REPO_ROOT, tempDir } from '../harness';
import { FLAGS, parseCommandLine, progressLine, runCli } from './command';
import { epsilonAfter } from '@fl/shared';
import { SimReportSchema } from './report';

jest.setTimeout(60_000);

/** Runs the command in-process, capturing both streams. */
async function cli(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(argv, { stdout: { write: (t: string) => (stdout += t) }, stderr: { write: (t: string) => (stderr += t) } });
  return { code, stdout, stderr };
}

const wine = path.join(DATA_DIR, 'wine.csv');
const credit = path.join(DATA_DIR, 'credit_data.csv');

describe('fl-sim --help', () => {
  it('documents every flag', async () => {
    // Execute
    const { code, stdout, stderr } = await cli('--help');
    // Assert
    expect(code).toBe(0);
    expect(stderr).toBe('');
    for (const [name, flag] of Object.entries(FLAGS)) expect(stdout).toContain(`--${name}${flag.value ? ` ${flag.value}` : ''}`);
    for (const form of ['iid', 'dirichlet:ALPHA', 'column:NAME', 'quantity:ALPHA']) expect(stdout).toContain(form);
    expect(Object.keys(FLAGS)).toEqual(
      expect.arrayContaining(['data', 'target', 'model', 'numeric', 'categorical', 'parties', 'partition', 'rounds', 'local-epochs']),
    );
    expect(Object.keys(FLAGS)).toEqual(expect.arrayContaining(['batch-size', 'lr', 'l2', 'test-fraction', 'seed', 'json', 'plot']));
    // A flag whose value is long still has its description apart from it.
    for (const line of stdout.split('\n').filter((l) => l.startsWith('  --'))) expect(line).toMatch(/^ {2}--\S+( \S+)?( {2,}\S.*)?$/);
  });

  it.each([
    [['--bogus', '--help']],
    [['--data', wine, '--rounds', 'x', '-h']],
    [['-h', '--lr', '1', '--lr', '2']],
    [['--secure-agg', '--help']],
  ])('is printed whatever else is wrong when --help or -h is a flag: %j', async (argv) => {
    // Execute
    const { code, stdout, stderr } = await cli(...argv);
    // Assert
    expect([code, stderr]).toEqual([0, '']);
    expect(stdout).toMatch(/^Usage: fl-sim --data FILE/);
  });

  it('is not printed for -h given as a flag\'s value', async () => {
    // Execute
    const { code, stdout, stderr } = await cli('--data', '-h', '--target', 'cultivar');
    // Assert
    expect([code, stdout, stderr]).toEqual([64, '', 'fl-sim: --data needs a value; one that starts with a dash is written --data=-VALUE\n']);
  });
});

describe('fl-sim progress', () => {
  it('counts the parties of a round in words that agree: 1 party, 2 parties', () => {
    // Prepare: a round of a run with dropouts, which one party alone may make
    const round = { round: 5, participants: 1, trainLoss: 0.25, test: { accuracy: 0.9, macroF1: 0.9, logLoss: 0.3 }, seconds: 0.02, attempts: 2, dropped: ['p1', 'p2'] };
    // Execute
    const one = progressLine(round, 10, 'softmax');
    const two = progressLine({ ...round, participants: 2 }, 10, 'softmax');
    // Assert
    expect(one).toBe('round  5/10 [##########..........]  train loss 0.2500  test accuracy 0.9000  1 party  0.02s  dropped p1 p2');
    expect(two).toContain('  2 parties  ');
  });
});

describe('fl-sim numbers', () => {
  it('takes plain decimal numbers, with an exponent where a fraction is allowed', () => {
    // Execute
    const command = parseCommandLine(['--data', wine, '--target', 'cultivar', '--lr', '1e-2', '--l2', '.5', '--drop-rate', '0.25', '--rounds', '010', '--partition', 'dirichlet:5e-1']);
    // Assert
    expect(command).toMatchObject({ options: { learningRate: 0.01, l2: 0.5, dropRate: 0.25, rounds: 10, partition: { kind: 'dirichlet', alpha: 0.5 } } });
  });
});

describe('fl-sim refuses what it cannot do in one line', () => {
  const dir = tempDir('sim-cli');
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it.each([
    [['--data', wine, '--target', 'cultivar', '--bogus'], 'unknown flag --bogus (fl-sim --help lists them)'],
    [['--data', wine, '--target'], '--target needs a value'],
    [['--data', wine], '--target is required but for --model kmeans (fl-sim --help)'],
    [['--data', wine, '--target', 'cultivar', 'extra'], 'unexpected argument extra; every value follows its flag'],
    [['--data', wine, '--target', 'cultivar', '--rounds', '0'], '--rounds must be an integer from 1 to 100000, not "0"'],
    [['--data', wine, '--target', 'cultivar', '--lr', '-1'], '--lr needs a value; one that starts with a dash is written --lr=-VALUE'],
    [['--data', wine, '--target', 'cultivar', '--lr=-1'], '--lr must be a number above 0 and at most 100, not "-1"'],
    [['--data', wine, '--target', 'cultivar', '--lr', '0x10'], '--lr must be a number above 0 and at most 100, not "0x10"'],
    [['--data', wine, '--target', 'cultivar', '--l2', '0b1'], '--l2 must be a number from 0 to 100, not "0b1"'],
    [['--data', wine, '--target', 'cultivar', '--drop-rate', 'Infinity'], '--drop-rate must be a number from 0 to below 1, not "Infinity"'],
    [['--data', wine, '--target', 'cultivar', '--rounds', '1e1'], '--rounds must be an integer from 1 to 100000, not "1e1"'],
    [['--data', wine, '--target', 'cultivar', '--seed', '0x10'], '--seed must be an integer from 0 to 2147483647, not "0x10"'],
    [['--data', wine, '--target', 'cultivar', '--partition', 'quantity:0x1'], '--partition: the quantity concentration must be a positive number, at least 1e-300, not "0x1"'],
    [['--data', wine, '--target', 'cultivar', '--attack', 'scale:0o7'], '--attack: scale:S needs a finite number, not "0o7"'],
    [['--data', wine, '--target', 'cultivar', '--strategy', 'fedprox:mu=0x1'], '--strategy: fedprox: mu: Invalid input: expected number, received string'],
    [['--data', wine, '--target', 'cultivar', '--lr', '1', '--lr', '2'], '--lr is given twice; give it once'],
    [['--data', wine, '--target', 'cultivar', '--verbose', '--verbose'], '--verbose is given twice; give it once'],
    [['--data', wine, '--data', credit, '--target', 'cultivar'], '--data is given twice; give it once'],
    [['--data', wine, '--target', 'cultivar', '--test-fraction', '1'], '--test-fraction must be a number between 0 and 1, not "1"'],
    [['--data', wine, '--target', 'cultivar', '--strategy', 'fedsgd'], '--strategy: unknown strategy "fedsgd"; use one of fedavg, fedavgm, fedprox, fedadam, fedyogi, fedadagrad, scaffold, median, trimmed-mean, krum'],
    [['--data', wine, '--target', 'cultivar', '--strategy', 'fedprox:mu=-1'], '--strategy: fedprox: mu: Too small: expected number to be >=0'],
    [['--data', wine, '--target', 'cultivar', '--model', 'tree'], '--model must be one of logistic, softmax, linear, svm, kmeans, not "tree"'],
    [['--data', wine, '--model', 'kmeans'], '--model kmeans needs --k'],
    [['--data', wine, '--target', 'cultivar', '--k', '3'], '--k applies to --model kmeans only'],
    [['--data', wine, '--model', 'kmeans', '--k', '1'], '--k must be an integer from 2 to 1000, not "1"'],
    [['--data', wine, '--target', 'cultivar', '--strategy', 'kmeans'], '--strategy: k-means aggregates kmeans models only, and --model kmeans --k K chooses it'],
    [['--data', wine, '--target', 'cultivar', '--partition', 'dirichlet:x'], '--partition: the dirichlet concentration must be a positive number, at least 1e-300, not "x"'],
    [['--data', wine, '--target', 'cultivar', '--model', 'logistic'], '--model logistic needs a target with 2 classes; cultivar has 3 (use --model softmax)'],
    [
      ['--data', wine, '--target', 'cultivar', '--plot', 'chart.png'],
      '--plot writes SVG only: PNG would need a rasteriser, which fl-sim does not ship; give a .svg file and convert it if need be',
    ],
    [['--data', wine, '--target', 'cultivar', '--json', 'no/such/dir/r.json'], '--json: the directory no/such/dir does not exist'],
    [['--data', credit, '--target', 'Status', '--partition', 'column:Home', '--parties', '3'], '--parties 3: Home has 7 values in the training rows, one party each'],
    [['--data', wine, '--target', 'cultivar', '--attack', 'bribe'], '--attack: unknown attack "bribe"; one of sign-flip, scale, gaussian, inflate-samples, label-flip, nan, huge-weights, huge-sums, extra-class, shift-means'],
    [['--data', wine, '--target', 'cultivar', '--attack', 'nan:3'], '--attack: nan takes no parameter'],
    [['--data', wine, '--target', 'cultivar', '--attack', 'scale:x'], '--attack: scale:S needs a finite number, not "x"'],
    [['--data', wine, '--target', 'cultivar', '--attackers', '1'], '--attackers needs --attack'],
    [['--data', wine, '--target', 'cultivar', '--attack', 'nan', '--attackers', '3'], '--attackers must be from 1 to 2: at least one of the 3 parties is honest'],
    [['--data', wine, '--target', 'cultivar', '--secure-agg', 'neighbours=3'], '--secure-agg: neighbours: Invalid number: must be a multiple of 2'],
    [['--data', wine, '--target', 'cultivar', '--secure-agg', 'k=4'], '--secure-agg: k: Unrecognized key: "k"'],
    [['--data', wine, '--target', 'cultivar', '--secure-agg', 'neighbours'], '--secure-agg: "neighbours" is not key=value'],
    [['--data', wine, '--target', 'cultivar', '--secure-agg', '--strategy', 'median'], expect.stringContaining('the job refuses these settings: strategy.name: the strategy median needs the individual updates')],
    [['--data', wine, '--target', 'cultivar', '--secure-agg', '--parties', '2'], expect.stringContaining('the job refuses these settings: minParticipants: secure aggregation needs at least 3 participants')],
    [['--data', wine, '--target', 'cultivar', '--secure-agg', '--attack', 'nan'], '--attack rewrites plain updates and statistics: it cannot be combined with --secure-agg'],
    [['--data', wine, '--target', 'cultivar', '--drop-rate', '1'], '--drop-rate must be a number from 0 to below 1, not "1"'],
    [['--data', wine, '--target', 'cultivar', '--dp-noise', '1', '--dp-clip', '1'], 'differential privacy needs --dp-noise, --dp-clip and --dp-delta together'],
    [['--data', wine, '--target', 'cultivar', '--secure-agg', '--dp-noise', '1', '--dp-clip', '1', '--dp-delta', '0.5'], '--dp-delta must be a number above 0 and at most 0.01, not "0.5"'],
    [['--data', wine, '--target', 'cultivar', '--secure-agg', '--dp-noise', '1', '--dp-clip', '1', '--dp-delta', '1e-5', '--dp-budget', '1'], expect.stringMatching(/^fl-sim: --dp-budget 1 is below ε after one round \(\d+\.\d{3} at this noise and δ\): no round could run\n$/)],
    [['--data', wine, '--target', 'cultivar', '--secure-agg', '--dp-noise', '1', '--dp-clip', '1', '--dp-delta', '1e-5', '--strategy', 'fedavg'], expect.stringContaining("strategy.weighting: differential privacy needs weighting 'uniform'")],
    [['--data', wine, '--target', 'cultivar', '--data-dir', wine], `--data-dir: ${wine} is not an empty directory; the simulation's store needs a new one`],
  ])('usage error: %j', async (argv, message) => {
    // Execute
    const { code, stdout, stderr } = await cli(...argv);
    // Assert: status 64, nothing on standard output, exactly one line
    expect(code).toBe(64);
    expect(stdout).toBe('');
    expect(stderr).toEqual(typeof message === 'string' ? `fl-sim: ${message}\n` : message);
  });

  it('names the missing column and the columns there are', async () => {
    // Execute
    const { code, stderr } = await cli('--data', wine, '--target', 'variety');
    // Assert
    expect(code).toBe(64);
    expect(stderr).toBe(`fl-sim: --target: ${wine} has no column "variety" (columns: alcohol, malic_acid, ash, alcalinity_of_ash, magnesium, total_phenols, flavanoids, nonflavanoid_phenols, proanthocyanins, color_intensity, hue, od280_od315, …)\n`);
  });

  it('ends with status 1 and one line for a file it cannot read', async () => {
    // Execute
    const { code, stderr } = await cli('--data', path.join(dir, 'absent.csv'), '--target', 'y');
    // Assert
    expect(code).toBe(1);
    expect(stderr).toBe(`fl-sim: cannot read ${path.join(dir, 'absent.csv')}: no such file\n`);
  });

  it('says why, in one readable line, when every party holds a single row', async () => {
    // Execute: 88 training rows, 88 parties; each party's statistics have no spread, and the coordinator's plausibility checks leave every party out
    const { code, stderr } = await cli('--data', wine, '--target', 'cultivar', '--test-fraction', '0.5', '--parties', '88', '--rounds', '1');
    // Assert: the coordinator's count of the failures by cause, and the cause a user can change; the party named first is
    // whichever's statistics arrived first, as the parties answer at once
    expect(code).toBe(1);
    const last = stderr.trimEnd().split('\n').pop()!;
    expect(last).toMatch(
      /^fl-sim: the federated job paused: statistics phase closed with 0 replies, below the minimum of 88 \(88 failed: 88 IMPLAUSIBLE_STATISTICS; first of each: p\d+: IMPLAUSIBLE_STATISTICS [^;]*; each on a line of the coordinator's log\), after 3 attempts; 88 of the 88 parties hold a single training row, whose statistics have no spread to check: fewer parties would each hold more$/,
    );
    expect(last.length).toBeLessThan(500);
  });

  it('the installed command prints no stack trace either', () => {
    // Execute: the bin wrapper over the built command, as a user runs it
    const bin = path.join(REPO_ROOT, 'test', 'bin', 'fl-sim.js');
    const bad = spawnSync(process.execPath, [bin, '--bogus'], { encoding: 'utf8' });
    const unreadable = spawnSync(process.execPath, [bin, '--data', path.join(dir, 'absent.csv'), '--target', 'y'], { encoding: 'utf8' });
    // Assert
    expect([bad.status, bad.stderr]).toEqual([64, 'fl-sim: unknown flag --bogus (fl-sim --help lists them)\n']);
    expect(unreadable.status).toBe(1);
    expect(unreadable.stderr).toMatch(/^fl-sim: cannot read .*absent\.csv: no such file\n$/);
  });

  it('the installed command exits once a run fails, though an agent still awaits an answer', () => {
    // Execute: at lr 100 every update diverges and the coordinator refuses it, which ends the run with the agents mid-round
    const bin = path.join(REPO_ROOT, 'test', 'bin', 'fl-sim.js');
    const diabetes = path.join(DATA_DIR, 'diabetes.csv');
    const run = spawnSync(process.execPath, [bin, '--data', diabetes, '--target', 'progression', '--lr', '100', '--rounds', '2'], { encoding: 'utf8', timeout: 40_000 });
    // Assert: not held open by the timer of an answer that will never come
    expect(run.signal).toBeNull();
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/\nfl-sim: party p\d: the coordinator refused it: IMPLAUSIBLE_WEIGHTS .*\n$/);
  });
});

describe('a short fl-sim run', () => {
  const dir = tempDir('sim-run');
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('writes a JSON report that passes the schema, an SVG chart, a progress line per round and a summary', async () => {
    // Prepare
    const json = path.join(dir, 'report.json');
    const plot = path.join(dir, 'chart.svg');
    // Execute
    const { code, stdout, stderr } = await cli('--data', wine, '--target', 'cultivar', '--parties', '3', '--rounds', '3', '--json', json, '--plot', plot);
    // Assert
    expect([code, stderr]).toEqual([0, expect.any(String)]);
    const report = JSON.parse(fs.readFileSync(json, 'utf8'));
    expect(SimReportSchema.safeParse(report).error).toBeUndefined();
    expect(Object.keys(report)).toEqual(expect.arrayContaining(['config', 'partition', 'rounds', 'final', 'centralized']));
    expect(Object.keys(report.final.test).sort()).toEqual(['accuracy', 'logLoss', 'macroF1']);
    expect(report.partition.map((p: { party: string }) => p.party)).toEqual(['p1', 'p2', 'p3']);
    expect(report.rounds).toHaveLength(3);
    expect(stderr.split('\n').filter((l) => l.startsWith('round '))).toEqual([
      expect.stringMatching(/^round 1\/3 \[#{7}\.{13}\] {2}train loss \d\.\d{4} {2}test accuracy \d\.\d{4} {2}3 parties {2}\d+\.\d\ds$/),
      expect.stringMatching(/^round 2\/3 \[#{13}\.{7}\]/),
      expect.stringMatching(/^round 3\/3 \[#{20}\]/),
    ]);
    expect(stdout).toMatch(/^ +accuracy +macroF1 +logLoss\nfederated +\d\.\d{4} .*\ncentralized +\d\.\d{4} /);
    const svg = fs.readFileSync(plot, 'utf8');
    expect(svg).toMatch(/^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    expect(svg).toContain('wine.csv: cultivar, federated vs centralized');
    expect(svg).toContain('federated (FedAvg)');
    expect(svg).toContain('centralized (pooled data)');
  });

  it('with --json - writes only the JSON to standard output, the summary to standard error', async () => {
    // Execute
    const { code, stdout, stderr } = await cli('--data', wine, '--target', 'cultivar', '--rounds', '2', '--json', '-');
    // Assert
    expect(code).toBe(0);
    const report = JSON.parse(stdout);
    expect(SimReportSchema.safeParse(report).error).toBeUndefined();
    expect(report.config.strategy).toEqual({ name: 'fedavg', weighting: 'samples' });
    expect(stderr).toMatch(/\nfederated +\d\.\d{4}/);
  });

  it('runs the strategy --strategy names, and records it with its parameters', async () => {
    // Execute
    const { code, stdout, stderr } = await cli('--data', wine, '--target', 'cultivar', '--rounds', '2', '--strategy', 'fedprox:mu=0.05', '--json', '-');
    // Assert
    expect([code, stderr]).toEqual([0, expect.stringContaining('strategy fedprox:weighting=samples,mu=0.05')]);
    expect(JSON.parse(stdout).config.strategy).toEqual({ name: 'fedprox', weighting: 'samples', mu: 0.05 });
  });

  it('with --secure-agg and --dp-*, runs a secure job with differential privacy and reports ε per round and for the job', async () => {
    // Execute: --secure-agg alone takes the default options; DP makes the default strategy uniformly weighted
    const { code, stdout, stderr } = await cli(
      '--data', wine, '--target', 'cultivar', '--rounds', '2', '--secure-agg', '--dp-noise', '2', '--dp-clip', '1', '--dp-delta', '1e-5', '--json', '-',
    );
    // Assert
    expect([code, stderr]).toEqual([0, expect.stringContaining('secure aggregation, 8 neighbours; differential privacy z = 2, C = 1, δ = 0.00001')]);
    const report = JSON.parse(stdout);
    expect(SimReportSchema.safeParse(report).error).toBeUndefined();
    expect(report.config).toMatchObject({
      secureAggregation: { neighbours: 8, range: 1, maxWeight: 1000 },
      dp: { noiseMultiplier: 2, clipNorm: 1, delta: 1e-5 },
      strategy: { name: 'fedavg', weighting: 'uniform' },
    });
    // ε grows with each round and is the accountant's figure for two rounds of σ = 2 at δ = 10^−5
    const [first, second] = report.rounds.map((r: { privacy: { epsilon: number } }) => r.privacy.epsilon);
    expect(first).toBeGreaterThan(0);
    expect(second).toBeGreaterThan(first);
    expect(report.final.privacy).toEqual({ epsilon: second, delta: 1e-5 });
    expect(second).toBeCloseTo(epsilonAfter({ noiseMultiplier: 2, clipNorm: 1, delta: 1e-5 }, 2), 10);
    expect(stderr).toMatch(/round 2\/2 .* ε \d+\.\d{3}\n/);
    expect(stderr).toContain(`privacy: ε ${second.toFixed(3)} at δ 0.00001 after 2 rounds`);
  });

  it('stops a job at its --dp-budget and reports the rounds that fit', async () => {
    // Prepare: a budget between ε after one round and after two
    const dp = { noiseMultiplier: 2, clipNorm: 1, delta: 1e-5 };
    const budget = (epsilonAfter(dp, 1) + epsilonAfter(dp, 2)) / 2;
    // Execute
    const { code, stdout, stderr } = await cli(
      '--data', wine, '--target', 'cultivar', '--rounds', '4', '--secure-agg', '--dp-noise', '2', '--dp-clip', '1', '--dp-delta', '1e-5', '--dp-budget', String(budget), '--json', '-',
    );
    // Assert
    expect(code).toBe(0);
    const report = JSON.parse(stdout);
    expect(report.rounds).toHaveLength(1);
    expect(report.final.privacy.epsilon).toBeLessThanOrEqual(budget);
    // The baseline is compared after as many epochs as the federated model had, not the four rounds asked for.
    expect(report.centralized.epochs).toBe(1);
    expect(report.centralized.rounds).toHaveLength(1);
    expect(stderr).toContain('centralized, 1 epoch on the pooled rows');
    expect(stderr).toContain(' after 1 round\n');
  });
});
