/**
 * Ingestion: a 1,000,000-row x 30-column CSV (29 numeric features, a 0/1 label;
 * about 227 MB) prepared through the agent's own path (read, type, statistics,
 * global preprocessing, training and held-out matrices), in a fresh process so that its
 * peak memory is the preparation's alone; and pandas.read_csv on the same file,
 * when a python3 with pandas is found, as the yardstick. Then the same file read as
 * if exported in pounds, with a mapping converting every feature to kilograms: what
 * a site's conversions cost on the typed-column path.
 *
 *   node bench/dist/ingest.js --write FILE ROWS              writes the synthetic CSV
 *   node bench/dist/ingest.js --prepare FILE [--convert]     prepares it and prints the figures
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { JobSpecSchema, seededRandom } from '@fl/shared';
// The data layer alone, as with the coordinator below: TF.js is not part of preparing data.
import { computeStatistics, loadLocalData, prepareSplit } from '@fl/participant-agent/dist/data';
import { combineStatistics } from '@fl/coordinator/dist/strategy/statistics';
import { featureNames } from './synthetic';

const ROWS = 1_000_000;
const FEATURES = 29;

/**
 * Writes n rows of d features in [-0.5, 0.5) with 4 decimals and a 0/1 label from a
 * fixed linear rule, block by block, so that a file of any size can be made.
 */
export function writeIngestCsv(file: string, n: number, d = FEATURES, seed = 7): void {
  const random = seededRandom(seed);
  const rule = Float64Array.from({ length: d }, (_, j) => ((j * 37) % 11) / 11 - 0.5);
  const fd = fs.openSync(file, 'w');
  try {
    fs.writeSync(fd, [...featureNames(d), 'label'].join(',') + '\n');
    const block: string[] = [];
    for (let i = 0; i < n; i++) {
      const row: string[] = [];
      let z = 0;
      for (let j = 0; j < d; j++) {
        const v = random() - 0.5;
        z += v * rule[j];
        row.push(v.toFixed(4));
      }
      row.push(z > 0 ? '1' : '0');
      block.push(row.join(','));
      if (block.length === 10_000 || i === n - 1) {
        fs.writeSync(fd, block.join('\n') + '\n');
        block.length = 0;
      }
    }
  } finally {
    fs.closeSync(fd);
  }
}

const SPEC = (d: number, unit?: string) =>
  JobSpecSchema.parse({ model: 'logistic', features: featureNames(d).map((name) => ({ name, type: 'numeric', unit })), target: 'label' });

/** The agent's preparation of a file for a job, timed; peak RSS is the whole process's. */
async function prepareFile(file: string, d: number, convert = false): Promise<{ seconds: number; peakRssMb: number; rows: number }> {
  const spec = SPEC(d, convert ? 'kg' : undefined);
  const mapping = convert ? { conversions: Object.fromEntries(featureNames(d).map((name) => [name, { from: 'lb', to: 'kg' }])) } : undefined;
  const started = performance.now();
  const { table } = await loadLocalData(file, spec, mapping);
  const preprocessing = combineStatistics(spec, [computeStatistics(table, spec)]);
  const split = prepareSplit(table, preprocessing, spec.evaluationFraction, spec.seed);
  const seconds = (performance.now() - started) / 1000;
  return { seconds, peakRssMb: process.resourceUsage().maxRSS / 1024, rows: split.train.n + split.holdout.n };
}

const PANDAS = `
import json, resource, sys, time
import pandas
started = time.perf_counter()
frame = pandas.read_csv(sys.argv[1])
seconds = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "peakRssMb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "rows": len(frame)}))
`;

/** The first python3 that can import pandas: a Debian package goes to /usr/bin's, not to one on PATH from a version manager. */
function pythonWithPandas(): string | undefined {
  for (const python of ['python3', '/usr/bin/python3']) {
    if (spawnSync(python, ['-c', 'import pandas'], { stdio: 'ignore' }).status === 0) return python;
  }
  return undefined;
}

type Run = { seconds: number; peakRssMb: number; rows: number };

function runFresh(command: string, args: string[]): Run {
  const output = execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 20 });
  return JSON.parse(output.trim().split('\n').pop()!) as Run;
}

export async function ingestBench(): Promise<Record<string, number>> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fl-bench-ingest-'));
  try {
    const file = path.join(dir, 'csv_1m_x30.csv');
    writeIngestCsv(file, ROWS);
    const ours = runFresh(process.execPath, [__filename, '--prepare', file]);
    if (ours.rows !== ROWS) throw new Error(`prepared ${ours.rows} rows of ${ROWS}`);
    const figures: Record<string, number> = { 'ingest.csv_1m_x30.seconds': ours.seconds, 'ingest.csv_1m_x30.peakRssMb': ours.peakRssMb };
    const converted = runFresh(process.execPath, [__filename, '--prepare', file, '--convert']);
    if (converted.rows !== ROWS) throw new Error(`prepared ${converted.rows} converted rows of ${ROWS}`);
    figures['ingest.csv_1m_x30_converted.seconds'] = converted.seconds;
    const python = pythonWithPandas();
    if (python) {
      const pandas = runFresh(python, ['-c', PANDAS, file]);
      figures['ingest.pandas_1m_x30.seconds'] = pandas.seconds;
      figures['ingest.pandas_1m_x30.peakRssMb'] = pandas.peakRssMb;
    } else process.stderr.write('bench ingest: no python3 with pandas found; pandas figures left out\n');
    return figures;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  const [mode, file, option] = process.argv.slice(2);
  if (mode === '--write') writeIngestCsv(file, Number(option));
  else if (mode === '--prepare') {
    void prepareFile(file, FEATURES, option === '--convert').then((run) => process.stdout.write(JSON.stringify(run) + '\n'));
  } else {
    process.stderr.write('usage: node bench/dist/ingest.js --write FILE ROWS | --prepare FILE [--convert]\n');
    process.exitCode = 64;
  }
}
