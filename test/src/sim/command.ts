/**
 * The `fl-sim` command: flags in, a simulation run, a progress line per round on
 * standard error, a summary, and the JSON report and chart where asked. Kept
 * apart from the entry point so that tests run it in-process with their own streams.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { epsilonAfter, EXIT, formatStrategy, MODEL_KINDS, withinBudget, type ModelKind } from '@fl/shared';
import { parseNumber } from '@fl/participant-agent';
import { UsageError } from './dataset';
import { headline, headlineName } from './evaluate';
import { ATTACK_KINDS, parseAttack } from './attack';
import { parsePartition } from './partition';
import { renderChart, reportChart } from './plot';
import { parseSecureAggregation, parseStrategy } from './strategy';
import type { RoundResult, SimReport, TestMetrics } from './report';
import { DEFAULTS, planSimulation, runSimulation, type FinalModel, type SimOptions } from './simulate';
import { toOnnx, toTfjs } from '@fl/coordinator';

export interface Output {
  write(text: string): unknown;
}

interface Flag {
  value?: string;
  help: string;
}

/** Every flag, in the order --help shows them; the parser's options are built from this table. */
export const FLAGS: Record<string, Flag> = {
  data: { value: 'FILE', help: 'the CSV file (required); every column but the target is a feature' },
  target: { value: 'COLUMN', help: 'the column to predict (required but for kmeans, where it is left out of the features)' },
  model: {
    value: 'KIND',
    help: 'logistic, softmax, linear or svm (default: from the target: 2 values logistic,\nmore numbers linear, more text softmax; svm: linear SVM, one-vs-rest above 2 classes;\nkmeans: federated k-means, with --k)',
  },
  k: { value: 'K', help: 'kmeans: the number of clusters (required with --model kmeans)' },
  positive: { value: 'CLASS', help: 'logistic: the class predicted as 1 (default: the second in sorted order)' },
  numeric: { value: 'A,B', help: 'columns to read as numbers (default: inferred from the values)' },
  categorical: { value: 'A,B', help: 'columns to read as categories, e.g. numeric codes (default: inferred)' },
  parties: { value: 'K', help: `number of parties (default ${DEFAULTS.parties}; with column:NAME, one per value)` },
  partition: {
    value: 'SPEC',
    help:
      'how training rows are divided (default iid):\n' +
      'iid             shuffled, equal shares\n' +
      'dirichlet:ALPHA label skew: per class, shares drawn from Dirichlet(ALPHA); small ALPHA, strong skew\n' +
      '                (a numeric target is skewed by its deciles)\n' +
      'column:NAME     one party per value of NAME (e.g. a country); rows missing NAME form one more party\n' +
      'quantity:ALPHA  size skew: party sizes drawn from Dirichlet(ALPHA)',
  },
  strategy: {
    value: 'NAME[:K=V,...]',
    help:
      'how updates are aggregated (default fedavg), with parameters, e.g.\n' +
      'fedprox:mu=0.01  fedavgm:momentum=0.9  fedadam  scaffold  median\n' +
      'trimmed-mean:beta=0.2  krum:f=1,m=3  fedavg:clipNorm=5 (docs/strategies.md)',
  },
  rounds: { value: 'R', help: `federated rounds (default ${DEFAULTS.rounds})` },
  'local-epochs': { value: 'E', help: `epochs each party trains per round (default ${DEFAULTS.localEpochs})` },
  'batch-size': { value: 'B', help: `mini-batch size (default ${DEFAULTS.batchSize})` },
  lr: { value: 'LR', help: `learning rate (default ${DEFAULTS.learningRate})` },
  l2: { value: 'L', help: `L2 penalty on the weights (default ${DEFAULTS.l2})` },
  'test-fraction': { value: 'F', help: `share held out for testing, stratified by the target, before partitioning (default ${DEFAULTS.testFraction})` },
  seed: { value: 'S', help: `seeds the split, the partition and training; the same seed, the same result (default ${DEFAULTS.seed})` },
  attack: {
    value: 'KIND[:PARAM]',
    help:
      'the first --attackers parties attack in every round, through the real protocol:\n' +
      Object.entries(ATTACK_KINDS)
        .map(([kind, k]) => `${`${kind}${k.param ? `:${k.param}` : ''}`.padEnd(18)}${k.help}${k.default !== undefined ? ` (default ${k.default})` : ''}`)
        .join('\n'),
  },
  attackers: { value: 'K', help: 'how many parties attack, the first K (default 1 with --attack)' },
  'secure-agg': {
    value: '[K=V,...]',
    help:
      'SecAgg+: the coordinator learns only the sum of the updates (docs/privacy.md); options\n' +
      'neighbours=K (default 8), threshold=T (default K/2 + 1), range=R (default 1), maxWeight=W (default 1000)',
  },
  'drop-rate': {
    value: 'P',
    help: 'in each attempt at a round each party drops out with probability P, at a random step of it\n(a real disconnect; it is back for the next attempt, drawn from --seed) (default 0)',
  },
  'dp-noise': { value: 'Z', help: 'differential privacy: the noise multiplier (with --dp-clip and --dp-delta)' },
  'dp-clip': { value: 'C', help: 'differential privacy: each update is clipped to L2 norm C' },
  'dp-delta': { value: 'D', help: 'differential privacy: the δ of the (ε, δ) reported' },
  'dp-budget': { value: 'EPS', help: 'differential privacy: the job stops before a round would take ε above EPS' },
  'data-dir': { value: 'DIR', help: 'keep the coordinator\'s store in DIR (new or empty), for fl-coordinator audit verify --data-dir DIR' },
  json: { value: 'FILE', help: 'write the report as JSON to FILE, or to standard output with -' },
  plot: { value: 'FILE', help: 'write the chart (test metric per round, federated and centralized) as SVG; FILE ends in .svg' },
  export: {
    value: 'DIR',
    help: 'write the final global model to DIR: model.onnx (preprocessing and model, raw columns in),\nmodel.json and weights.bin (TF.js LayersModel), model.fl.json (for fl-agent predict)',
  },
  verbose: { help: 'also show what the coordinator and each agent log' },
  help: { help: 'this text (also -h)' },
};

export function helpText(): string {
  const rows = Object.entries(FLAGS).map(([name, { value, help }]) => {
    const flag = `  --${name}${value ? ` ${value}` : ''}`;
    const [first, ...rest] = help.split('\n');
    // A flag too long for its column has its description start on the next line, rather than run into it.
    const head = flag.length <= 22 ? [flag.padEnd(24) + first] : [flag, ' '.repeat(24) + first];
    return [...head, ...rest.map((line) => ' '.repeat(26) + line)].join('\n');
  });
  return `Usage: fl-sim --data FILE --target COLUMN [options]

Runs a real coordinator and K real agents over Socket.IO on this machine on one
CSV file: holds out a test split, partitions the rest among the parties, trains
a federated model, scores every round's global model on the held-out rows, and
trains the same model on the pooled rows as the centralized baseline.

Options:
${rows.join('\n')}

Progress goes to standard error, one line per round; the summary to standard
output (to standard error when the JSON goes to standard output).
Exit status: 0 done, 1 the run failed (e.g. an unreadable file), 64 a usage error.
fl-sim --version prints the version.

Example:
  fl-sim --data data/breast_cancer.csv --target diagnosis --parties 5 \\
         --partition dirichlet:0.5 --rounds 30 --json report.json --plot chart.svg
  fl-sim --data data/breast_cancer.csv --target diagnosis --parties 5 --secure-agg \\
         --drop-rate 0.1 --dp-noise 1 --dp-clip 1 --dp-delta 1e-5 --data-dir store
`;
}

/** parseArgs's own messages suggest `--` tricks; these say what to change. */
function usageMessage(err: Error & { code?: string }): string {
  const flag = /'(-[^' ]+)/.exec(err.message)?.[1];
  switch (err.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown flag ${flag ?? ''} (fl-sim --help lists them)`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return err.message.includes('ambiguous')
        ? `${flag} needs a value; one that starts with a dash is written ${flag}=-VALUE`
        : `${flag ?? 'a flag'} needs a value`;
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return `unexpected argument ${/'([^']*)'/.exec(err.message)?.[1] ?? ''}; every value follows its flag`;
    default:
      return err.message.split('\n')[0];
  }
}

function integer(values: Record<string, string | undefined>, name: string, min: number, max: number): number | undefined {
  const text = values[name];
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!/^\d+$/.test(text.trim()) || value < min || value > max) throw new UsageError(`--${name} must be an integer from ${min} to ${max}, not "${text}"`);
  return value;
}

/** A plain decimal number, exponent allowed (1e-3); not the other forms Number() reads (0x10, 0b1, Infinity). */
function decimal(values: Record<string, string | undefined>, name: string, accept: (v: number) => boolean, what: string): number | undefined {
  const text = values[name];
  if (text === undefined) return undefined;
  const value = parseNumber(text);
  if (value === undefined || !accept(value)) throw new UsageError(`--${name} must be ${what}, not "${text}"`);
  return value;
}

const list = (text: string | undefined) => (text === undefined ? undefined : text.split(',').map((s) => s.trim()).filter(Boolean));

/** An output file must have a directory to go to: better said now than after the run. */
function checkOutput(flag: string, file: string | undefined): void {
  if (file === undefined || file === '-') return;
  const dir = path.dirname(path.resolve(file));
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new UsageError(`--${flag}: the directory ${path.dirname(file)} does not exist`);
}

export function parseCommandLine(
  argv: string[],
): { help: true } | { help: false; options: SimOptions; json?: string; plot?: string; export?: string; verbose: boolean } {
  const options = {
    ...Object.fromEntries(Object.entries(FLAGS).map(([name, flag]) => [name, { type: flag.value ? ('string' as const) : ('boolean' as const) }])),
    help: { type: 'boolean' as const, short: 'h' },
  };
  let values: Record<string, string | boolean | undefined>;
  let tokens: ReturnType<typeof parseArgs>['tokens'];
  // --secure-agg may stand alone: then it takes the default options.
  const args = argv.map((arg, i) => (arg === '--secure-agg' && (i + 1 === argv.length || argv[i + 1].startsWith('--')) ? '--secure-agg=' : arg));
  // Help as a flag anywhere, whatever else is wrong; not a flag's value (--data -h names a file).
  const loose = parseArgs({ args, options, strict: false, allowPositionals: true, tokens: true });
  if (loose.tokens.some((token) => token.kind === 'option' && token.name === 'help')) return { help: true };
  try {
    ({ values, tokens } = parseArgs({ args, options, strict: true, allowPositionals: false, tokens: true }));
  } catch (err) {
    throw new UsageError(usageMessage(err as Error));
  }
  const seen = new Set<string>();
  for (const token of tokens) {
    if (token.kind !== 'option') continue;
    if (seen.has(token.name)) throw new UsageError(`--${token.name} is given twice; give it once`);
    seen.add(token.name);
  }
  const verbose = values.verbose === true;
  const text = values as Record<string, string | undefined>;
  if (!text.data) throw new UsageError('--data is required (fl-sim --help)');
  if (!text.target && text.model !== 'kmeans') throw new UsageError('--target is required but for --model kmeans (fl-sim --help)');
  if ((text.model === 'kmeans') !== (text.k !== undefined)) throw new UsageError(text.k === undefined ? '--model kmeans needs --k' : '--k applies to --model kmeans only');
  if (text.model !== undefined && !MODEL_KINDS.includes(text.model as ModelKind)) {
    throw new UsageError(`--model must be one of ${MODEL_KINDS.join(', ')}, not "${text.model}"`);
  }
  let partition: SimOptions['partition'];
  if (text.partition !== undefined) {
    try {
      partition = parsePartition(text.partition);
    } catch (err) {
      throw new UsageError(`--partition: ${(err as Error).message}`);
    }
  }
  let attack: SimOptions['attack'];
  if (text.attack !== undefined) {
    try {
      attack = parseAttack(text.attack);
    } catch (err) {
      throw new UsageError(`--attack: ${(err as Error).message}`);
    }
  }
  let strategy: SimOptions['strategy'];
  if (text.strategy !== undefined) {
    try {
      strategy = parseStrategy(text.strategy);
    } catch (err) {
      throw new UsageError(`--strategy: ${(err as Error).message}`);
    }
  }
  if (text.plot !== undefined) {
    const extension = path.extname(text.plot).toLowerCase();
    if (extension === '.png') {
      throw new UsageError('--plot writes SVG only: PNG would need a rasteriser, which fl-sim does not ship; give a .svg file and convert it if need be');
    }
    if (extension !== '.svg') throw new UsageError(`--plot: the file must end in .svg, not "${path.basename(text.plot)}"`);
  }
  let secureAggregation: SimOptions['secureAggregation'];
  if (text['secure-agg'] !== undefined) {
    try {
      secureAggregation = parseSecureAggregation(text['secure-agg']);
    } catch (err) {
      throw new UsageError(`--secure-agg: ${(err as Error).message}`);
    }
  }
  const dpFlags = ['dp-noise', 'dp-clip', 'dp-delta'].filter((name) => text[name] !== undefined);
  if ((dpFlags.length > 0 || text['dp-budget'] !== undefined) && dpFlags.length < 3) {
    throw new UsageError('differential privacy needs --dp-noise, --dp-clip and --dp-delta together');
  }
  const dp: SimOptions['dp'] =
    dpFlags.length === 3
      ? {
          noiseMultiplier: decimal(text, 'dp-noise', (v) => v > 0 && v <= 100, 'a number above 0 and at most 100')!,
          clipNorm: decimal(text, 'dp-clip', (v) => v > 0 && v <= 1e6, 'a number above 0 and at most 1000000')!,
          delta: decimal(text, 'dp-delta', (v) => v > 0 && v <= 0.01, 'a number above 0 and at most 0.01')!,
          ...(text['dp-budget'] !== undefined && { epsilonBudget: decimal(text, 'dp-budget', (v) => v > 0, 'a number above 0') }),
        }
      : undefined;
  // The coordinator refuses such a job: said here, before any party starts.
  if (dp && !withinBudget(dp, 1)) throw new UsageError(`--dp-budget ${dp.epsilonBudget} is below ε after one round (${epsilonAfter(dp, 1).toFixed(3)} at this noise and δ): no round could run`);
  checkOutput('json', text.json);
  checkOutput('plot', text.plot);
  if (text.export !== undefined && fs.existsSync(text.export) && !fs.statSync(text.export).isDirectory()) throw new UsageError(`--export: ${text.export} is a file, not a directory`);
  return {
    help: false,
    verbose,
    json: text.json,
    plot: text.plot,
    export: text.export,
    options: {
      data: text.data!,
      target: text.target,
      model: text.model as ModelKind | undefined,
      k: integer(text, 'k', 2, 1000),
      positiveClass: text.positive,
      numeric: list(text.numeric),
      categorical: list(text.categorical),
      parties: integer(text, 'parties', 1, 10_000),
      partition,
      strategy,
      rounds: integer(text, 'rounds', 1, 100_000),
      localEpochs: integer(text, 'local-epochs', 1, 1000),
      batchSize: integer(text, 'batch-size', 1, 1_000_000),
      learningRate: decimal(text, 'lr', (v) => v > 0 && v <= 100, 'a number above 0 and at most 100'),
      l2: decimal(text, 'l2', (v) => v >= 0 && v <= 100, 'a number from 0 to 100'),
      testFraction: decimal(text, 'test-fraction', (v) => v > 0 && v < 1, 'a number between 0 and 1'),
      seed: integer(text, 'seed', 0, 2 ** 31 - 1),
      attack,
      attackers: integer(text, 'attackers', 1, 10_000),
      secureAggregation,
      dropRate: decimal(text, 'drop-rate', (v) => v >= 0 && v < 1, 'a number from 0 to below 1'),
      dp,
      dataDir: text['data-dir'],
    },
  };
}

const BAR = 20;

const show = (value: number | null) => (value === null ? '–' : value.toFixed(4));

export function progressLine(round: RoundResult, rounds: number, model: ModelKind): string {
  const filled = Math.round((round.round / rounds) * BAR);
  const bar = `[${'#'.repeat(filled)}${'.'.repeat(BAR - filled)}]`;
  const width = String(rounds).length;
  return (
    `round ${String(round.round).padStart(width)}/${rounds} ${bar}  train loss ${show(round.trainLoss)}  ` +
    `test ${headlineName(model)} ${show(headline(round.test))}  ${round.participants} part${round.participants === 1 ? 'y' : 'ies'}  ${round.seconds.toFixed(2)}s` +
    (round.dropped?.length ? `  dropped ${round.dropped.join(' ')}` : '') +
    (round.privacy ? `  ε ${round.privacy.epsilon.toFixed(3)}` : '')
  );
}

/** Federated and centralized metrics side by side, one column per metric. */
export function summaryTable(report: SimReport): string {
  const names = Object.keys(report.final.test) as (keyof TestMetrics)[];
  const cell = (text: string) => text.padStart(10);
  // k-means cluster sizes are a list: shown after the figures, as they are.
  const value = (v: unknown) => (Array.isArray(v) ? `  ${v.join(' ')}` : cell(show(v as number | null)));
  const row = (label: string, test: TestMetrics) => label.padEnd(13) + names.map((name) => value((test as Record<string, unknown>)[name])).join('');
  return [
    ' '.repeat(13) + names.map((n) => (n === 'clusterSizes' ? '  cluster sizes' : cell(n))).join(''),
    row('federated', report.final.test),
    row('centralized', report.centralized.test),
  ].join('\n');
}

function describePlan(plan: ReturnType<typeof planSimulation>): string {
  const { config, data } = plan;
  const target = config.positiveClass ? `${config.target} (${config.positiveClass} = 1)` : config.target;
  const what = config.model === 'kmeans' ? `kmeans model, k = ${config.k}${target ? `, ${target} left out of the features,` : ''}` : `${config.model} model of ${target}`;
  const lines = [
    `${what} on ${config.data}: ${data.train} training rows, ${data.test} held out` +
      (data.droppedMissingTarget ? `, ${data.droppedMissingTarget} without a target left out` : ''),
    `${config.parties} parties, ${config.partition}; strategy ${formatStrategy(config.strategy)}:` +
      (config.attack ? ` the first ${config.attack.attackers} attack${config.attack.attackers === 1 ? 's' : ''} with ${config.attack.kind}` : ''),
    ...(config.secureAggregation || config.dp || config.dropRate
      ? [
          [
            config.secureAggregation && `secure aggregation, ${config.secureAggregation.neighbours} neighbours`,
            config.dropRate && `each party drops out of an attempt at a round with probability ${config.dropRate}`,
            config.dp && `${config.secureAggregation ? '' : 'central '}differential privacy z = ${config.dp.noiseMultiplier}, C = ${config.dp.clipNorm}, δ = ${config.dp.delta}`,
          ]
            .filter(Boolean)
            .join('; '),
        ]
      : []),
    ...plan.partition.map((p) => {
      const counts =
        p.targetMean === undefined
          ? Object.entries(p.labelCounts).map(([label, n]) => `${label} ${n}`).join(', ')
          : `mean ${config.target} ${p.targetMean.toPrecision(4)}`;
      const value = p.value === undefined ? '' : `  ${config.partition.slice('column:'.length)} ${p.value ?? '(missing)'}`;
      return `  ${p.party.padEnd(5)} ${String(p.rows).padStart(6)} rows${value}${counts ? `  ${counts}` : ''}`;
    }),
  ];
  return lines.join('\n');
}

/** Runs fl-sim with the given arguments; resolves to the exit status. Never throws. */
export async function runCli(argv: string[], io: { stdout: Output; stderr: Output }): Promise<number> {
  const fail = (err: unknown) => {
    const message = err instanceof Error ? err.message : String(err);
    io.stderr.write(`fl-sim: ${message.split('\n')[0]}\n`);
    return err instanceof UsageError ? EXIT.USAGE : EXIT.FAILED;
  };
  if (argv[0] === '--version' || argv[0] === '-v') {
    const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string };
    io.stdout.write(`fl-sim ${pkg.version}\n`);
    return EXIT.DONE;
  }
  try {
    const command = parseCommandLine(argv);
    if (command.help) {
      io.stdout.write(helpText());
      return 0;
    }
    const plan = planSimulation(command.options);
    io.stderr.write(describePlan(plan) + '\n');
    const started = Date.now();
    let final: FinalModel | undefined;
    const report = await runSimulation(plan, {
      onModel: (model) => (final = model),
      log: command.verbose ? (line) => io.stderr.write(`  ${line}\n`) : undefined,
      onRound: (round, rounds) => io.stderr.write(progressLine(round, rounds, plan.config.model) + '\n'),
      onCentralized: (test, epochs) =>
        io.stderr.write(
          `centralized, ${epochs} epoch${epochs === 1 ? '' : 's'} on the pooled rows: ` +
            `test ${headlineName(plan.config.model)} ${show(headline(test))}\n`,
        ),
    });
    const summary = command.json === '-' ? io.stderr : io.stdout;
    summary.write(`${summaryTable(report)}\n`);
    if (report.attack) summary.write(`${attackSummary(report.attack)}\n`);
    if (report.final.privacy) summary.write(`privacy: ε ${report.final.privacy.epsilon.toFixed(3)} at δ ${report.final.privacy.delta} after ${report.rounds.length} round${report.rounds.length === 1 ? '' : 's'}\n`);
    if (report.config.dataDir) io.stderr.write(`the coordinator's store is in ${report.config.dataDir}: fl-coordinator audit verify --data-dir ${report.config.dataDir}\n`);
    io.stderr.write(`done in ${((Date.now() - started) / 1000).toFixed(1)}s\n`);
    const json = JSON.stringify(report, null, 2) + '\n';
    if (command.json === '-') io.stdout.write(json);
    else if (command.json) writeFile(command.json, json);
    if (command.plot) writeFile(command.plot, renderChart(reportChart(report)));
    if (command.export && final) {
      const written = exportModel(command.export, final);
      io.stderr.write(`model written to ${command.export}: ${written.join(', ')}\n`);
    }
    return 0;
  } catch (err) {
    return fail(err);
  }
}

/** What the coordinator did about the attack, in one line. */
export function attackSummary(attack: NonNullable<SimReport['attack']>): string {
  const rounds = Object.entries(attack.updatesLeftOut).map(([code, n]) => `${n} ${code}`);
  return (
    `attack: left out of the job: ${attack.excludedFromJob.join(', ') || 'none'}; ` +
    `updates left out of rounds: ${rounds.join(', ') || 'none'}`
  );
}

/** The final global model in the export formats, and as the API's JSON for fl-agent predict; returns the file names. */
export function exportModel(dir: string, model: FinalModel): string[] {
  fs.mkdirSync(dir, { recursive: true });
  const { shape, weights, preprocessing } = model;
  const tfjs = toTfjs(shape, weights, preprocessing);
  const files: [string, string | Uint8Array][] = [
    ['model.onnx', toOnnx(shape, weights, preprocessing, `fl-sim round ${model.round}`)],
    ['model.json', JSON.stringify(tfjs.modelJson)],
    ['weights.bin', tfjs.weights],
    ['model.fl.json', JSON.stringify(model.view, null, 2) + '\n'],
  ];
  for (const [name, content] of files) writeFile(path.join(dir, name), content);
  return files.map(([name]) => name);
}

function writeFile(file: string, text: string | Uint8Array): void {
  try {
    fs.writeFileSync(file, text);
  } catch (err) {
    throw new Error(`cannot write ${file}: ${(err as Error).message}`);
  }
}
